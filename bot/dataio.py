"""The ``newsbot`` subcommands that move data in and out: opml import/export, backup, restore."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.errors import NewsbotError

EXIT_REFUSED = 2


def add_parsers(commands: Any) -> None:
    """Register opml, backup and restore on the ``newsbot`` parser."""
    opml = commands.add_parser("opml", help="import or export the news sources as OPML")
    actions = opml.add_subparsers(dest="opml_action", required=True, metavar="ACTION")
    opml_import = actions.add_parser("import", help="add the sources an OPML file names")
    opml_import.add_argument("file", metavar="FILE")
    opml_import.add_argument("--config", metavar="FILE")
    opml_export = actions.add_parser("export", help="write the sources as OPML 2.0 (default: stdout)")
    opml_export.add_argument("file", metavar="FILE", nargs="?")
    opml_export.add_argument("--config", metavar="FILE")

    backup = commands.add_parser("backup", help="copy the database, even while the bot runs")
    backup.add_argument("file", metavar="FILE")
    backup.add_argument("--config", metavar="FILE")
    restore = commands.add_parser("restore", help="replace the database by a backup (bot stopped)")
    restore.add_argument("file", metavar="FILE")
    restore.add_argument("--config", metavar="FILE")


def _fail(message: str) -> int:
    print(f"newsbot: {message}", file=sys.stderr)
    return EXIT_REFUSED


def run(args: argparse.Namespace) -> int:
    """Run one of these subcommands; the exit status (2 with one line on stderr when refused)."""
    from bot.config import load_settings

    settings = load_settings(args.config)
    database = settings.bot.db
    if not isinstance(database, Path):
        # Not yet ported: these read and write the SQLite file itself.
        print(f"newsbot: {args.command} works on a SQLite file, not on PostgreSQL", file=sys.stderr)
        return 2
    try:
        if args.command == "backup":
            from bot.storage.backup import backup

            done = backup(database, Path(args.file))
            print(f"backed up {database} to {done.path} (schema {done.version:04d})")
            return 0
        if args.command == "restore":
            from bot.storage.backup import restore

            done = restore(Path(args.file), database)
            kept = f"; the old database is {done.kept}" if done.kept else ""
            print(f"restored {database} from {args.file} (schema {done.version:04d}){kept}")
            return 0
        if args.opml_action == "export":
            text = asyncio.run(_export(database))
            if args.file is None:
                sys.stdout.buffer.write(text)
                sys.stdout.flush()
                return 0
            try:
                Path(args.file).write_bytes(text)
            except OSError as exc:
                return _fail(f"cannot write {args.file}: {exc.strerror or exc}")
            return 0
        return _import(args.file, database, settings.bot.tz, settings.ingest.fetcher_options())
    except NewsbotError as exc:
        return _fail(str(exc))


async def _export(database: Path) -> bytes:
    from bot.news.opml import render_opml
    from bot.storage import open_database, sources

    db = await open_database(database)
    try:
        return render_opml(await sources.list_sources(db))
    finally:
        await db.close()


def _import(file: str, database: Path, tz: ZoneInfo, fetcher_options: dict[str, Any]) -> int:
    from bot.news.fetcher import Fetcher
    from bot.news.opml import MAX_BYTES, OpmlError
    from bot.news.opml_import import ImportReport, import_opml
    from bot.storage import open_database

    try:
        with Path(file).open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        return _fail(f"cannot read {file}: {exc.strerror or exc}")

    async def go() -> ImportReport:
        db = await open_database(database)
        try:
            # Addresses from a file are untrusted (no private ones); [ingest] says how to fetch them.
            async with Fetcher(**fetcher_options) as fetcher:
                return await import_opml(db, fetcher, data, now=time.time(), tz=tz)
        finally:
            await db.close()

    try:
        report = asyncio.run(go())
    except OpmlError as exc:
        return _fail(f"{file}: {exc}")
    print(f"added {len(report.added)}, already present {len(report.present)}, failed {len(report.failed)}")
    for source in report.added:
        print(f"added\t{source.id}\t{source.url}")
    for label, reason in report.failed:
        print(f"failed\t{label}\t{reason.reason}")
    return 0
