"""The one place where SQLite and PostgreSQL differ: each back end's ``Dialect``.

The storage modules write their SQL once, in the common subset of both (``?`` and ``:name``
placeholders, ``ON CONFLICT``, ``RETURNING``, ``COUNT(*) FILTER``, ``CAST(? AS BIGINT)``...). A
statement or fragment that cannot be common is a field here, set once per back end, and read as
``db.dialect.<field>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.paths import MIGRATIONS


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    # This back end's migration files, NNNN_name.sql, applied in order.
    migrations: Path
    # The ledger of applied migrations, made before the first one runs.
    create_ledger: str
    # The database's own time, in seconds since the epoch: leases are measured on one clock, the
    # server's, so workers on machines whose clocks disagree never both think they hold one.
    clock: str = "SELECT CAST((julianday('now') - 2440587.5) * 86400.0 AS REAL)"


SQLITE = Dialect(
    name="sqlite",
    migrations=MIGRATIONS,
    create_ledger="""
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at REAL NOT NULL
)
""",
)

POSTGRESQL = Dialect(
    name="postgresql",
    migrations=MIGRATIONS / "postgresql",
    create_ledger="""
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    BIGINT PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at DOUBLE PRECISION NOT NULL
)
""",
    clock="SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)",
)
