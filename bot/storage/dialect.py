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
    # A list passed as one parameter (a JSON array in a text value), as a subquery of its values:
    # "WHERE id IN " + dialect.ints(":ids"). Build such statements once per dialect (functools.cache).
    int_list: str
    text_list: str
    # The whole hour (unix seconds // 3600) of a time in seconds: "{}" is the time's expression.
    # SQLite's CAST truncates; PostgreSQL's rounds, so it floors first.
    hour_of: str
    # Names outbox_done for compaction's pick; SQLite's planner would otherwise start at outbox_due.
    outbox_done_index: str
    # The count of free pages, given back with incremental_vacuum; None where the server reuses
    # its own free space (PostgreSQL's autovacuum).
    free_pages: str | None

    def ints(self, param: str) -> str:
        """``(SELECT value ...)`` over the integers of the JSON array bound to ``param``."""
        return self.int_list.format(param)

    def texts(self, param: str) -> str:
        """``(SELECT value ...)`` over the strings of the JSON array bound to ``param``."""
        return self.text_list.format(param)


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
    int_list="(SELECT value FROM json_each({}))",
    text_list="(SELECT value FROM json_each({}))",
    hour_of="CAST({} / 3600 AS INTEGER)",
    outbox_done_index="INDEXED BY outbox_done",
    free_pages="PRAGMA freelist_count",
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
    # jsonb_array_elements_text gives text; ids compare with BIGINT columns.
    int_list=(
        "(SELECT CAST(value AS BIGINT) AS value"
        " FROM jsonb_array_elements_text(CAST({} AS jsonb)) AS value)"
    ),
    text_list="(SELECT value FROM jsonb_array_elements_text(CAST({} AS jsonb)) AS value)",
    hour_of="CAST(FLOOR({} / 3600) AS BIGINT)",
    outbox_done_index="",
    free_pages=None,
)
