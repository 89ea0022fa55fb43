"""Run the emulator: ``python -m bot.emulator --port 8081 [--no-limits]``."""

from __future__ import annotations

import argparse
import logging

from bot.emulator.server import serve


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m bot.emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081, help="0 picks a free port")
    parser.add_argument("--no-limits", action="store_true", help="lift all rate limits")
    parser.add_argument("--global-per-second", type=float, default=30)
    parser.add_argument("--chat-per-second", type=float, default=1)
    parser.add_argument("--group-per-minute", type=float, default=20)
    parser.add_argument("--chat-burst", type=int, default=5, help="messages a private chat takes at once")
    parser.add_argument("--bot-username", default="newsbot_demo_bot")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    lifted = args.no_limits
    serve(
        host=args.host,
        port=args.port,
        global_per_second=None if lifted else args.global_per_second,
        chat_per_second=None if lifted else args.chat_per_second,
        group_per_minute=None if lifted else args.group_per_minute,
        chat_burst=args.chat_burst,
        bot_username=args.bot_username,
    )


if __name__ == "__main__":
    main()
