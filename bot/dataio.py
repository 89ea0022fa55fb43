"""The ``newsbot`` subcommands that move data in and out: opml import/export, backup, restore,
migrate-db."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.errors import NewsbotError

if TYPE_CHECKING:
    from bot.storage.transfer import TableCount

EXIT_REFUSED = 2


def add_parsers(commands: Any) -> None:
    """Register opml, backup, restore and migrate-db on the ``newsbot`` parser."""
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
    migrate = commands.add_parser(
        "migrate-db", help="copy a SQLite database (even while the bot runs) into an empty PostgreSQL one"
    )
    migrate.add_argument("--from", dest="source", metavar="SQLITE_FILE", required=True)
    migrate.add_argument("--to", dest="target", metavar="POSTGRESQL_URL", required=True)
    migrate.add_argument("--batch", type=int, default=5000, metavar="N", help="rows per COPY (default 5000)")


def _fail(message: str) -> int:
    print(f"newsbot: {message}", file=sys.stderr)
    return EXIT_REFUSED


def run(args: argparse.Namespace) -> int:
    """Run one of these subcommands; the exit status (2 with one line on stderr when refused)."""
    if args.command == "migrate-db":
        return _migrate(Path(args.source), args.target, args.batch)
    from bot.config import load_settings

    settings = load_settings(args.config)
    database = settings.bot.db
    if not isinstance(database, Path):
        # Not yet ported: these read and write the SQLite file itself.
        print(f"newsbot: {args.command} works on a SQLite file, not on PostgreSQL", file=sys.stderr)
        return 2
    try:
        if args.command in ("backup", "restore"):
            if not isinstance(database, Path):
                return _fail(
                    f"{args.command} copies a SQLite file; bot.db is a PostgreSQL server:"
                    " use pg_dump and pg_restore (README, Scaling)"
                )
            return _backup(database, Path(args.file)) if args.command == "backup" else _restore(
                Path(args.file), database
            )
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


def _backup(database: Path, file: Path) -> int:
    from bot.storage.backup import backup

    done = backup(database, file)
    print(f"backed up {database} to {done.path} (schema {done.version:04d})")
    return 0


def _restore(file: Path, database: Path) -> int:
    from bot.storage.backup import restore

    done = restore(file, database)
    kept = f"; the old database is {done.kept}" if done.kept else ""
    print(f"restored {database} from {file} (schema {done.version:04d}){kept}")
    return 0


async def _export(database: Path | str) -> bytes:
    from bot.news.opml import render_opml
    from bot.storage import open_database, sources

    db = await open_database(database)
    try:
        return render_opml(await sources.list_sources(db))
    finally:
        await db.close()


def _import(file: str, database: Path | str, tz: ZoneInfo, fetcher_options: dict[str, Any]) -> int:
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


def _count_table(counts: Sequence[TableCount]) -> str:
    """The rows of each table on both sides, one line each, a mismatch marked."""
    width = max([len("table"), *(len(c.table) for c in counts)])
    lines = [f"{'table':<{width}}  {'sqlite':>10}  {'postgresql':>10}"]
    for c in counts:
        mark = "" if c.source == c.target else "  MISMATCH"
        lines.append(f"{c.table:<{width}}  {c.source:>10}  {c.target:>10}{mark}")
    return "\n".join(lines)


def _migrate(source: Path, target: str, batch: int) -> int:
    from bot.logs import redact
    from bot.storage.postgres import is_postgres_url, redacted, url_secrets
    from bot.storage.transfer import CountMismatch, migrate

    if not is_postgres_url(target):
        return _fail(f"--to must be a postgresql:// URL, not {target!r}")
    try:
        done = asyncio.run(migrate(source, target, batch=batch))
    except CountMismatch as exc:
        print(_count_table(exc.counts))
        return _fail(str(exc))
    except NewsbotError as exc:
        # The message names the target redacted; a driver's reason might still quote a password.
        return _fail(redact(str(exc), url_secrets(target)))
    print(_count_table(done.counts))
    print(
        f"copied {done.rows} rows in {len(done.counts)} tables from {source} to {redacted(target)}"
        f" (schema {done.version:04d})"
    )
    if done.requeued:
        print(f"{done.requeued} deliveries the source was sending are queued again")
    if done.indexed is None:
        print("the target has no search index yet: search stays empty until it has one")
    else:
        print(f"search index: {done.indexed} articles indexed")
    return 0
