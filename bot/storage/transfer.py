"""Copy a SQLite newsbot database into an empty PostgreSQL one (``newsbot migrate-db``).

The source is read from a snapshot the backup API takes (one read transaction, so a running bot
can keep writing meanwhile, and the copy is the database as of one commit). The target is opened
with ``open_database`` (which gives it the PostgreSQL schema), then loaded on one connection in one
transaction: a failure, or counts that differ at the end, roll it back and leave it empty.

The tables are the target's (the SQLite-only ones, FTS5's and ``sqlite_*``, have no twin there),
loaded in foreign-key order with COPY. The triggers that keep the counter tables are switched off
for the load (``ALTER TABLE ... DISABLE TRIGGER USER``, which the tables' owner may do, unlike
``session_replication_role``, which needs a superuser; foreign keys stay checked), and the counter
tables are copied as they are: they end equal to the source's, as the triggers would keep them.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from bot.errors import StorageError
from bot.storage import open_database, search
from bot.storage.backup import backup
from bot.storage.postgres import ERRORS, redacted

logger = logging.getLogger(__name__)

DEFAULT_BATCH = 5000

# Never copied: the ledger (each back end records its own history) and the full-text index,
# which is rebuilt from the articles on the target.
LEDGER = "schema_migrations"
SEARCH_INDEX = "article_search"
# Tables the schema itself puts rows in, and which of their rows are data: the target is empty
# while it holds none of those. The schema's own rows are replaced by the source's.
SEEDED = {
    "outbox_counts": "n <> 0",
    "chat_counts": "n <> 0",
    "chat_type_counts": "n <> 0",
    "subscription_count": "n <> 0",
    "subscription_kind_counts": "n <> 0",
    "sources": "id <> '_broadcast'",  # the reserved source broadcasts travel as
}
# Counter tables compared row for row after the load, beside the row counts of every table.
COUNTERS = (
    "outbox_counts",
    "chat_counts",
    "chat_type_counts",
    "subscription_count",
    "subscription_kind_counts",
    "keywords",
    "delivery_hours",
    "outcome_hours",
)
# A delivery claimed by the running bot is not in flight on the new server: it waits its turn again.
CLAIMED, QUEUED = "sending", "queued"

PG_TABLES = """
SELECT table_name FROM information_schema.tables
WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
"""
PG_COLUMNS = """
SELECT table_name, column_name, data_type, is_identity FROM information_schema.columns
WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position
"""
# (table, table it references) for every foreign key, to load a referenced table first.
PG_FOREIGN_KEYS = """
SELECT c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_constraint c
JOIN pg_namespace n ON n.oid = c.connamespace
WHERE c.contype = 'f' AND n.nspname = current_schema()
"""
PG_PRIMARY_KEYS = """
SELECT c.conrelid::regclass::text, a.attname FROM pg_constraint c
JOIN pg_namespace n ON n.oid = c.connamespace
CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k (attnum, ord)
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
WHERE c.contype = 'p' AND n.nspname = current_schema()
ORDER BY 1, k.ord
"""
PG_VERSION = "SELECT MAX(version) FROM schema_migrations"
SQLITE_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'"
SQLITE_COLUMNS = "SELECT name FROM pragma_table_info(?)"
SQLITE_SEQUENCES = "SELECT name, seq FROM sqlite_sequence"
HAS_SQLITE_SEQUENCES = "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'"
MOVE_CLAIMED_COUNT = """
UPDATE outbox_counts SET n = n + CASE state WHEN 'queued' THEN $1::bigint ELSE -$1::bigint END
WHERE state IN ('queued', 'sending') AND slot = 0
"""


class TransferError(StorageError):
    """A migration that cannot be done, or did not copy everything (its message is one line)."""


@dataclass(frozen=True, slots=True)
class TableCount:
    table: str
    source: int
    target: int


@dataclass(frozen=True, slots=True)
class Transferred:
    version: int
    counts: tuple[TableCount, ...]
    requeued: int  # deliveries the source had claimed ('sending'), queued again on the target
    indexed: int | None  # articles the target's search index got; None when it has no such index

    @property
    def rows(self) -> int:
        return sum(c.target for c in self.counts)

    @property
    def mismatched(self) -> tuple[TableCount, ...]:
        return tuple(c for c in self.counts if c.source != c.target)


class CountMismatch(TransferError):
    """The copy ended with other counts than the source's; the target was rolled back."""

    def __init__(self, counts: tuple[TableCount, ...]) -> None:
        self.counts = counts
        names = ", ".join(c.table for c in counts if c.source != c.target)
        super().__init__(f"the copy does not match the source ({names}); nothing was kept")


@dataclass(frozen=True, slots=True)
class _Column:
    name: str
    convert: Callable[[Any], Any]
    identity: bool


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _integer(value: Any) -> Any:
    # SQLite keeps what it is given in a column of any type; COPY wants the column's own type.
    if value is None or type(value) is int:
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    raise ValueError(f"{value!r} is not an integer")


def _real(value: Any) -> Any:
    return value if value is None or type(value) is float else float(value)


def _text(value: Any) -> Any:
    if value is None or type(value) is str:
        return value
    return value.decode() if isinstance(value, bytes) else str(value)


def _same(value: Any) -> Any:
    return value


CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "bigint": _integer,
    "integer": _integer,
    "smallint": _integer,
    "double precision": _real,
    "real": _real,
    "text": _text,
    "character varying": _text,
}


def _load_order(tables: set[str], references: Sequence[tuple[str, str]]) -> list[str]:
    """The tables, each after those it references (a table referencing itself aside)."""
    needs = {t: {r for t2, r in references if t2 == t and r != t and r in tables} for t in tables}
    order: list[str] = []
    while needs:
        ready = sorted(t for t, n in needs.items() if not n)
        if not ready:
            raise TransferError(f"the foreign keys of {', '.join(sorted(needs))} form a cycle")
        order.extend(ready)
        for t in ready:
            del needs[t]
        for n in needs.values():
            n.difference_update(ready)
    return order


def _is_search_table(name: str) -> bool:
    return name == SEARCH_INDEX or name.startswith(SEARCH_INDEX + "_")


@contextlib.contextmanager
def _snapshot(source: Path) -> Iterator[tuple[sqlite3.Connection, int]]:
    """A read-only connection to a consistent copy of ``source``, and the schema version it holds."""
    with tempfile.TemporaryDirectory(prefix="newsbot-migrate-") as folder:
        copied = backup(source, Path(folder) / "snapshot.db")
        conn = sqlite3.connect(f"{copied.path.as_uri()}?mode=ro", uri=True)
        try:
            yield conn, copied.version
        finally:
            conn.close()


async def migrate(source: Path, target: str, *, batch: int = DEFAULT_BATCH) -> Transferred:
    """Copy the SQLite database ``source`` into the empty PostgreSQL database at ``target``."""
    if batch < 1:
        raise TransferError("the batch size must be at least 1")
    with _snapshot(Path(source)) as (snapshot, version):
        try:
            db = await open_database(target)
        except ERRORS as exc:
            raise TransferError(f"cannot open {redacted(target)}: {exc}") from exc
        try:
            try:
                conn = await asyncpg.connect(target, server_settings={"application_name": "newsbot-migrate"})
            except ERRORS as exc:
                raise TransferError(f"cannot connect to {redacted(target)}: {exc}") from exc
            try:
                counts, requeued, has_index = await _load(conn, snapshot, version, target, batch)
            finally:
                await conn.close()
            indexed = await search.index_missing(db) if has_index else None
        finally:
            await db.close()
    logger.info("Migrated %s to %s (schema %04d)", source, redacted(target), version)
    return Transferred(version, counts, requeued, indexed)


async def _load(
    conn: asyncpg.Connection, snapshot: sqlite3.Connection, version: int, target: str, batch: int
) -> tuple[tuple[TableCount, ...], int, bool]:
    target_version = int(await conn.fetchval(PG_VERSION) or 0)
    pg_tables = {r[0] for r in await conn.fetch(PG_TABLES)}
    has_index = SEARCH_INDEX in pg_tables
    tables = {t for t in pg_tables if t != LEDGER and not _is_search_table(t)}
    columns: dict[str, list[_Column]] = {}
    for table, name, data_type, identity in await conn.fetch(PG_COLUMNS):
        if table in tables:
            column = _Column(name, CONVERTERS.get(data_type, _same), identity == "YES")
            columns.setdefault(table, []).append(column)
    keys: dict[str, list[str]] = {}
    for table, name in await conn.fetch(PG_PRIMARY_KEYS):
        keys.setdefault(table, []).append(name)
    order = _load_order(tables, [(r[0], r[1]) for r in await conn.fetch(PG_FOREIGN_KEYS)])

    held = []
    # The tables a reader would name first; the counters that follow them come last.
    for table in sorted(order, key=lambda t: (t in COUNTERS, order.index(t))):
        data = SEEDED.get(table, "TRUE")
        n = await conn.fetchval(f"SELECT COUNT(*) FROM {_quote(table)} WHERE {data}")  # noqa: S608
        if n:
            held.append(f"{n} in {table}")
    if held:
        raise TransferError(
            f"{redacted(target)} is not empty (rows: {', '.join(held)}): migrate into a new, empty database"
        )
    if version != target_version:
        raise TransferError(
            f"the source is at schema version {version:04d}, the target at {target_version:04d}: "
            "open the source with this newsbot first (it upgrades it), then migrate"
        )

    source_tables = {r[0] for r in snapshot.execute(SQLITE_TABLES)}
    missing = sorted(tables - source_tables)
    if missing:
        raise TransferError(f"the source has no table {', '.join(missing)} although at the same version")
    # A table only SQLite has would be lost without a word: refuse rather than drop its rows.
    extra = sorted(t for t in source_tables - tables if t != LEDGER and not _is_search_table(t))
    if extra:
        raise TransferError(f"the target has no table {', '.join(extra)} although at the same version")
    sequences: dict[str, int] = {}
    if snapshot.execute(HAS_SQLITE_SEQUENCES).fetchone():
        sequences = {name: int(seq) for name, seq in snapshot.execute(SQLITE_SEQUENCES)}

    counts: list[TableCount] = []
    requeued = 0
    async with conn.transaction():
        for table in order:
            await conn.execute(f"ALTER TABLE {_quote(table)} DISABLE TRIGGER USER")
        for table in SEEDED:
            if table in tables:
                await conn.execute(f"DELETE FROM {_quote(table)}")  # noqa: S608 (the schema's rows only)
        for table in order:
            moved = await _copy_table(conn, snapshot, table, columns[table], keys.get(table, []), batch)
            requeued += moved
        if requeued and "outbox_counts" in tables:
            await conn.execute(MOVE_CLAIMED_COUNT, requeued)
        for table in order:
            await conn.execute(f"ALTER TABLE {_quote(table)} ENABLE TRIGGER USER")
        await _advance_identities(conn, columns, sequences)
        for table in order:
            source_n = snapshot.execute(f"SELECT COUNT(*) FROM {_quote(table)}").fetchone()[0]  # noqa: S608
            target_n = await conn.fetchval(f"SELECT COUNT(*) FROM {_quote(table)}")  # noqa: S608
            counts.append(TableCount(table, int(source_n), int(target_n)))
        result = tuple(counts)
        if any(c.source != c.target for c in result):
            raise CountMismatch(result)
        for table in COUNTERS:
            if table in tables:
                await _check_counter(conn, snapshot, table, columns[table], requeued)
    return result, requeued, has_index


async def _copy_table(
    conn: asyncpg.Connection,
    snapshot: sqlite3.Connection,
    table: str,
    columns: list[_Column],
    key: list[str],
    batch: int,
) -> int:
    """COPY one table's rows in batches, in key order; return the claimed deliveries it requeued."""
    names = [c.name for c in columns]
    available = {r[0] for r in snapshot.execute(SQLITE_COLUMNS, (table,))}
    absent = [n for n in names if n not in available]
    if absent:
        raise TransferError(f"the source's table {table} has no column {', '.join(absent)}")
    order = f" ORDER BY {', '.join(_quote(k) for k in key)}" if key else ""
    select = f"SELECT {', '.join(_quote(n) for n in names)} FROM {_quote(table)}{order}"  # noqa: S608
    state = names.index("state") if table == "outbox" else -1
    converters = [c.convert for c in columns]
    requeued = 0
    cursor = snapshot.execute(select)
    while rows := cursor.fetchmany(batch):
        records = []
        for row in rows:
            try:
                record = [convert(value) for convert, value in zip(converters, row, strict=True)]
            except (ValueError, UnicodeDecodeError) as exc:
                raise TransferError(f"a row of {table} cannot be copied: {exc}") from None
            if state >= 0 and record[state] == CLAIMED:
                record[state] = QUEUED
                requeued += 1
            records.append(record)
        try:
            await conn.copy_records_to_table(table, records=records, columns=names)
        except asyncpg.PostgresError as exc:
            raise TransferError(f"copying {table} failed: {str(exc).splitlines()[0]}") from exc
    return requeued


async def _advance_identities(
    conn: asyncpg.Connection, columns: dict[str, list[_Column]], sequences: dict[str, int]
) -> None:
    """Start each identity past the copied ids, and past ids SQLite handed out and never reuses."""
    for table, cols in sorted(columns.items()):
        for column in cols:
            if not column.identity:
                continue
            top = await conn.fetchval(f"SELECT MAX({_quote(column.name)}) FROM {_quote(table)}")  # noqa: S608
            last = max(int(top or 0), sequences.get(table, 0))
            if last > 0:
                await conn.execute(
                    "SELECT setval(pg_get_serial_sequence($1, $2), $3)", _quote(table), column.name, last
                )


async def _check_counter(
    conn: asyncpg.Connection,
    snapshot: sqlite3.Connection,
    table: str,
    columns: list[_Column],
    requeued: int,
) -> None:
    """Fail unless a counter table holds the source's rows (claimed deliveries counted as queued)."""
    names = ", ".join(_quote(c.name) for c in columns)
    select = f"SELECT {names} FROM {_quote(table)}"  # noqa: S608
    converters = [c.convert for c in columns]
    expected = sorted(
        tuple(convert(v) for convert, v in zip(converters, row, strict=True))
        for row in snapshot.execute(select)
    )
    if table == "outbox_counts" and requeued:
        moved = {QUEUED: requeued, CLAIMED: -requeued}
        # Rows are (state, n, slot); the file keeps everything in slot 0 (migration 0014).
        expected = sorted((state, n + moved.get(state, 0), *rest) for state, n, *rest in expected)
    found = sorted(tuple(r) for r in await conn.fetch(select))
    if found != expected:
        raise TransferError(f"the counter table {table} differs from the source's after the copy")
