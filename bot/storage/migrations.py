"""Ordered, recorded, all-or-nothing schema migrations from ``<dialect folder>/NNNN_name.sql``.

SQLite's history starts at 0001. PostgreSQL's starts later, with ``NNNN_baseline.sql``: the whole
schema as of version NNNN, recorded as versions 1..NNNN, so both back ends count versions alike and a
later change comes as a pair of files with one number.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bot.errors import MigrationError
from bot.storage.dialect import SQLITE, Dialect

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
BASELINE = "baseline"

RECORD = "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"


class _Connection(Protocol):
    """What the SQLite runner needs; ``connection.SqliteDatabase`` opens one and hands itself in."""

    @property
    def in_transaction(self) -> bool: ...

    async def executescript(self, sql: str) -> None: ...

    async def execute_in_transaction(self, sql: str, params: Any = ()) -> None: ...

    async def fetchall(self, sql: str, params: Any = ()) -> list[Any]: ...


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def records(self) -> range:
        """The versions the ledger gets for this file: a baseline stands for all before it too."""
        return range(1 if self.name == BASELINE else self.version, self.version + 1)


def load_migrations(folder: Path = SQLITE.migrations) -> list[Migration]:
    """Read the migration files in version order, refusing gaps and strays."""
    migrations = []
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"migration file {path.name} is not named NNNN_name.sql")
        migrations.append(Migration(int(match[1]), match[2], path.read_text(encoding="utf-8")))
    if not migrations:
        raise MigrationError(f"no migration files in {folder}")
    first = migrations[0]
    expected = first.version if first.name == BASELINE else 1
    for migration in migrations:
        if migration.version != expected:
            raise MigrationError(f"migration {expected:04d} is missing (found {migration.version:04d})")
        expected += 1
    return migrations


def pending(migrations: list[Migration], applied: set[int]) -> list[Migration]:
    """The migrations still to apply; refuse a database newer than this code (a downgrade)."""
    known = migrations[-1].version
    newest = max(applied, default=0)
    if newest > known:
        raise MigrationError(
            f"the database is at schema version {newest:04d}, newer than this newsbot knows "
            f"({known:04d}): run the newsbot release that wrote it, or a newer one"
        )
    return [m for m in migrations if m.version not in applied]


async def apply_migrations(db: _Connection, dialect: Dialect = SQLITE) -> list[int]:
    """Apply every migration the SQLite database has not seen yet; return the versions applied."""
    await db.executescript(dialect.create_ledger)
    applied = {row[0] for row in await db.fetchall("SELECT version FROM schema_migrations")}
    done = []
    for migration in pending(load_migrations(dialect.migrations), applied):
        # executescript() commits anything pending before it runs, so the BEGIN goes inside the
        # script; the ledger row and COMMIT follow on the still-open transaction.
        try:
            await db.executescript(f"BEGIN IMMEDIATE;\n{migration.sql}\n;")
            for version in migration.records:
                await db.execute_in_transaction(RECORD, (version, migration.name, time.time()))
            await db.execute_in_transaction("COMMIT")
        except Exception as exc:
            if db.in_transaction:
                await db.execute_in_transaction("ROLLBACK")
            raise MigrationError(f"migration {migration.version:04d}_{migration.name} failed: {exc}") from exc
        logger.info("Applied migration %04d_%s", migration.version, migration.name)
        done.append(migration.version)
    return done
