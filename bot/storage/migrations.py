"""Ordered, recorded, all-or-nothing schema migrations from ``data/migrations/NNNN_name.sql``."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bot.errors import MigrationError
from bot.paths import MIGRATIONS

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at REAL NOT NULL
)
"""


class _Connection(Protocol):
    """What the runner needs of a database; ``connection.Database`` opens one and hands itself in."""

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


def load_migrations(folder: Path = MIGRATIONS) -> list[Migration]:
    """Read the migration files in version order, refusing gaps and strays."""
    migrations = []
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"migration file {path.name} is not named NNNN_name.sql")
        migrations.append(Migration(int(match[1]), match[2], path.read_text(encoding="utf-8")))
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise MigrationError(f"migration {expected:04d} is missing (found {migration.version:04d})")
    return migrations


async def apply_migrations(db: _Connection, folder: Path = MIGRATIONS) -> list[int]:
    """Apply every migration the database has not seen yet; return the versions applied."""
    await db.executescript(CREATE_LEDGER)
    applied = {row[0] for row in await db.fetchall("SELECT version FROM schema_migrations")}
    done = []
    for migration in load_migrations(folder):
        if migration.version in applied:
            continue
        # executescript() commits anything pending before it runs, so the BEGIN goes inside the
        # script; the ledger row and COMMIT follow on the still-open transaction.
        try:
            await db.executescript(f"BEGIN IMMEDIATE;\n{migration.sql}\n;")
            await db.execute_in_transaction(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, time.time()),
            )
            await db.execute_in_transaction("COMMIT")
        except Exception as exc:
            if db.in_transaction:
                await db.execute_in_transaction("ROLLBACK")
            raise MigrationError(f"migration {migration.version:04d}_{migration.name} failed: {exc}") from exc
        logger.info("Applied migration %04d_%s", migration.version, migration.name)
        done.append(migration.version)
    return done
