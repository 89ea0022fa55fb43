"""The ``newsbot`` command: run the bot, the demo, or the Bot API emulator."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from bot import __version__
from bot.errors import ConfigError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsbot",
        description="A Telegram bot that takes a news site's ticker to its readers.",
    )
    parser.add_argument("--version", action="version", version=f"newsbot {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the bot with long polling")
    run.add_argument("--config", metavar="FILE", help="TOML config file (default: $NEWSBOT_CONFIG)")

    demo = commands.add_parser("demo", help="run a self-contained demo against the local emulator")
    demo.add_argument("--keep-running", action="store_true", help="keep running after the scripted part")
    demo.add_argument("--seconds", type=float, default=45.0, help="how long the scripted part lasts")

    emulator = commands.add_parser("emulator", help="serve the local Telegram Bot API emulator")
    emulator.add_argument("--port", type=int, default=8081)
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--no-limits", action="store_true", help="lift Telegram's rate limits")

    from bot.reading.commands import add_parsers

    add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    # PTB 22 reports durations as timedelta only when asked; without it every RetryAfter warns.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args.config)
        if args.command == "demo":
            from bot.demo import run_demo

            return asyncio.run(run_demo(seconds=args.seconds, keep_running=args.keep_running))
        if args.command == "emulator":
            from bot.emulator import serve

            limits = {"global_per_second": None, "chat_per_second": None, "group_per_minute": None}
            serve(host=args.host, port=args.port, **(limits if args.no_limits else {}))
            return 0
        if args.command in {"summarize", "extract", "import", "related", "search"}:
            from bot.reading.commands import run

            return run(args)
    except ConfigError as exc:
        print(f"newsbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 2


def _run(config: str | None) -> int:
    from bot.app import run_polling
    from bot.config import load_settings
    from bot.logs import setup_logging

    settings = load_settings(config)
    settings.require_token()
    setup_logging(settings.bot.log_level, secrets=(settings.bot.token.get(),))
    run_polling(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
