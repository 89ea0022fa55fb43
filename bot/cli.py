"""The ``newsbot`` command: run the bot, the demo, or the Bot API emulator."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from secrets import token_urlsafe
from typing import TYPE_CHECKING

from bot import __version__
from bot.errors import ConfigError, NewsbotError

if TYPE_CHECKING:
    from bot.config import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsbot",
        description="A Telegram bot that takes a news site's ticker to its readers.",
    )
    parser.add_argument("--version", action="version", version=f"newsbot {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the bot (long polling, or a webhook with --webhook)")
    run.add_argument("--config", metavar="FILE", help="TOML config file (default: $NEWSBOT_CONFIG)")
    run.add_argument(
        "--webhook",
        metavar="URL",
        help="receive updates at this public https:// URL instead of polling (default: [webhook] url)",
    )
    run.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="where the webhook server listens, behind the TLS proxy (default: 127.0.0.1:8443)",
    )
    run.add_argument(
        "--secret",
        metavar="TOKEN",
        help="the webhook's secret token (default: [webhook] secret, else a random one per start)",
    )
    run.add_argument(
        "--metrics", metavar="HOST:PORT", help="serve /metrics and /healthz there (overrides bot.metrics)"
    )
    run.add_argument(
        "--role",
        choices=("all", "updates", "ingest", "dispatch"),
        help="what this process does (default: [workers] role, else all); roles other than all"
        " share a PostgreSQL database with workers of the other roles",
    )

    demo = commands.add_parser("demo", help="run a self-contained demo against the local emulator")
    demo.add_argument("--keep-running", action="store_true", help="keep running after the scripted part")
    demo.add_argument("--seconds", type=float, default=45.0, help="how long the scripted part lasts")

    emulator = commands.add_parser("emulator", help="serve the local Telegram Bot API emulator")
    emulator.add_argument("--port", type=int, default=8081)
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--no-limits", action="store_true", help="lift Telegram's rate limits")

    from bot import dataio
    from bot.reading.commands import add_parsers

    add_parsers(commands)
    dataio.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    # PTB 22 reports durations as timedelta only when asked; without it every RetryAfter warns.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(
                args.config,
                webhook=args.webhook,
                listen=args.listen,
                secret=args.secret,
                metrics=args.metrics,
                role=args.role,
            )
        if args.command == "demo":
            from bot.demo import run_demo

            return asyncio.run(run_demo(seconds=args.seconds, keep_running=args.keep_running))
        if args.command == "emulator":
            from bot.emulator import serve

            limits = {"global_per_second": None, "chat_per_second": None, "group_per_minute": None}
            try:
                serve(host=args.host, port=args.port, **(limits if args.no_limits else {}))
            except OSError as exc:  # the port is taken, or the address is not ours
                print(
                    f"newsbot: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
                    file=sys.stderr,
                )
                return 1
            return 0
        if args.command in {"opml", "backup", "restore", "migrate-db"}:
            from bot import dataio

            return dataio.run(args)
        if args.command in {"summarize", "extract", "import", "related", "search"}:
            from bot.reading.commands import run

            return run(args)
    except ConfigError as exc:
        print(f"newsbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`newsbot opml export | head`): no traceback, and
        # stdout pointed at /dev/null so the interpreter's own final flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 2


def _run(
    config: str | None,
    *,
    webhook: str | None = None,
    listen: str | None = None,
    secret: str | None = None,
    metrics: str | None = None,
    role: str | None = None,
) -> int:
    """Run the bot; every failure at start-up is one line on stderr: status 2 for config, else 1."""
    from bot.app import run_bot
    from bot.config import load_settings, metrics_address, workers_role
    from bot.logs import redact, setup_logging
    from bot.storage import DATABASE_ERRORS
    from bot.workers import check_role

    settings = _with_webhook(load_settings(config), url=webhook, listen=listen, secret=secret)
    if metrics is not None:
        bot_settings = replace(settings.bot, metrics=metrics_address("--metrics", metrics))
        settings = replace(settings, bot=bot_settings)
    if role is not None:
        settings = replace(settings, workers=replace(settings.workers, role=workers_role("--role", role)))
    settings.require_token()
    check_role(settings)
    database = settings.bot.db
    if isinstance(database, Path):
        if database.is_dir():
            raise ConfigError("bot.db", f"{database} is a folder; give the path of the database file")
        folder = database.parent
        if not folder.is_dir():
            # Never create it: a mistyped path would start an empty database and lose every reader.
            raise ConfigError(
                "bot.db", f"the folder {folder} does not exist (create it, or fix NEWSBOT_DB / bot.db)"
            )
    secrets = (settings.bot.token.get(), settings.webhook.secret.get())
    setup_logging(settings.bot.log_level, secrets=secrets, json_lines=settings.bot.log_format == "json")
    try:
        run_bot(settings)
    except ConfigError:
        raise
    except NewsbotError as exc:
        print(f"newsbot: {redact(str(exc), secrets)}", file=sys.stderr)
        return 1
    except DATABASE_ERRORS as exc:  # e.g. another process held the write lock through start-up
        print(f"newsbot: database error at start-up: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # A bug of ours: the traceback goes through the redacting formatter, never Python's hook.
        logging.getLogger("bot.cli").critical("newsbot stopped by an unexpected error", exc_info=exc)
        print(
            f"newsbot: stopped by an unexpected error: {redact(type(exc).__name__, secrets)}", file=sys.stderr
        )
        return 1
    return 0


def _with_webhook(settings: Settings, *, url: str | None, listen: str | None, secret: str | None) -> Settings:
    """Apply the --webhook, --listen and --secret flags; a webhook without a secret gets a random one."""
    from bot.config import Secret, webhook_listen, webhook_secret, webhook_url

    hook = settings.webhook
    if url is not None:
        hook = replace(hook, url=webhook_url("--webhook", url))
    if listen is not None:
        host, port = webhook_listen("--listen", listen)
        hook = replace(hook, listen_host=host, listen_port=port)
    if secret is not None:
        hook = replace(hook, secret=webhook_secret("--secret", secret))
    if (listen is not None or secret is not None) and not hook.url:
        raise ConfigError("--webhook", "is required with --listen or --secret (or set [webhook] url)")
    if hook.url and not hook.secret and settings.bot.postgres:
        # Each replica would set its own random secret, and every other replica would then refuse
        # Telegram's calls as forged.
        raise ConfigError(
            "webhook.secret",
            "workers sharing a PostgreSQL database share one webhook: set the same secret on every one"
            " (NEWSBOT_WEBHOOK__SECRET)",
        )
    if hook.url and not hook.secret:
        # Telegram's secret header is all that tells its requests from forged ones.
        hook = replace(hook, secret=Secret(token_urlsafe(32)))
    return replace(settings, webhook=hook)


if __name__ == "__main__":
    sys.exit(main())
