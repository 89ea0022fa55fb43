"""PostgreSQL through asyncpg, behind the same ``interface.Database`` as the SQLite file.

The storage modules write ``?`` and ``:name`` placeholders; asyncpg speaks ``$1``. Each statement is
translated once (cached), skipping string literals, quoted names, comments and ``::`` casts, so the
SQL text stays the one the SQLite back end runs.

Within one process, transactions still take turns (an asyncio lock, as on SQLite): the code above was
written for one writer at a time, and keeps that. Between processes, the work is divided by leases
(``bot/storage/leases.py``), so two workers never write the same chat's or source's rows at once.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import AsyncIterator, Coroutine, Generator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bot.errors import DatabaseUnavailable, MigrationError
from bot.storage.dialect import POSTGRESQL
from bot.storage.interface import Params
from bot.storage.migrations import RECORD, load_migrations, pending

logger = logging.getLogger(__name__)

T = TypeVar("T")

SCHEMES = ("postgresql://", "postgres://")

# Tokens the translation must see whole: quoted text is copied as it is, placeholders are numbered.
_TOKENS = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|::|\?|:[A-Za-z_][A-Za-z0-9_]*""")
_WORDS = re.compile(r"[A-Za-z_]+")
_WRITES = frozenset({"INSERT", "UPDATE", "DELETE"})

# Any number: one process's migrations at a time, across every worker starting at once.
MIGRATION_LOCK = 0x6E657773  # "news"

POOL_SIZE = 8
# A statement waiting longer than this for a lock, or running longer, fails; the supervisor retries.
COMMAND_TIMEOUT = 60.0


def is_postgres_url(target: object) -> bool:
    return isinstance(target, str) and target.startswith(SCHEMES)


def redacted(url: str) -> str:
    """The URL without its password, fit for a log line."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit((parts.scheme, f"{user}:***@{netloc}", parts.path, parts.query, ""))


@dataclass(frozen=True, slots=True)
class Statement:
    """One SQL text as PostgreSQL takes it."""

    text: str
    names: tuple[str, ...] | None  # the :name placeholders in $n order; None when they are ?
    count: int
    returns_rows: bool

    def bind(self, params: Params) -> Sequence[Any]:
        if self.names is None:
            if isinstance(params, dict):
                raise TypeError("named parameters given to a statement with ? placeholders")
            if len(params) != self.count:
                raise TypeError(f"the statement takes {self.count} parameters, {len(params)} given")
            return params
        if not isinstance(params, dict):
            raise TypeError("positional parameters given to a statement with :name placeholders")
        return [params[name] for name in self.names]


@functools.lru_cache(maxsize=4096)
def translate(sql: str) -> Statement:
    """Number the placeholders of ``sql``, and say whether it gives rows back."""
    out: list[str] = []
    bare: list[str] = []  # the text without literals or comments, to look for keywords in
    names: list[str] = []
    positional = 0
    at = 0
    for match in _TOKENS.finditer(sql):
        token = match.group()
        out.append(sql[at : match.start()])
        bare.append(sql[at : match.start()])
        at = match.end()
        if token == "?":  # noqa: S105 (a placeholder, not a password)
            positional += 1
            out.append(f"${positional}")
        elif token.startswith(":") and token != "::":  # noqa: S105
            name = token[1:]
            if name not in names:
                names.append(name)
            out.append(f"${names.index(name) + 1}")
        else:
            out.append(token)
            bare.append(" ")
    out.append(sql[at:])
    bare.append(sql[at:])
    if positional and names:
        raise ValueError("a statement mixes ? and :name placeholders")
    words = [w.upper() for w in _WORDS.findall("".join(bare))]
    first = words[0] if words else ""
    returns_rows = "RETURNING" in words or first in ("SELECT", "VALUES", "SHOW") or (
        first == "WITH" and not _WRITES.intersection(words)
    )
    return Statement(
        "".join(out), tuple(names) if names else None, positional or len(names), returns_rows
    )


def _rowcount(status: str) -> int:
    """Rows a statement changed, from its status line ("UPDATE 3", "INSERT 0 1")."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else -1


class PgCursor:
    """A statement's rows, held in memory as aiosqlite's cursor hands them out."""

    __slots__ = ("_next", "_rows", "rowcount")

    def __init__(self, rows: list[asyncpg.Record], rowcount: int) -> None:
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount

    async def fetchone(self) -> asyncpg.Record | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    async def fetchall(self) -> list[asyncpg.Record]:
        rest = self._rows[self._next :]
        self._next = len(self._rows)
        return rest


class PgQuery(Generic[T]):
    """Awaited for its result, or entered with ``async with``, like aiosqlite's execute()."""

    __slots__ = ("_coro",)

    def __init__(self, coro: Coroutine[Any, Any, T]) -> None:
        self._coro = coro

    def __await__(self) -> Generator[Any, None, T]:
        return self._coro.__await__()

    async def __aenter__(self) -> T:
        return await self._coro

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any, /) -> None:
        return None


async def _run(conn: asyncpg.Connection, sql: str, params: Params) -> PgCursor:
    statement = translate(sql)
    args = statement.bind(params)
    if statement.returns_rows:
        rows = await conn.fetch(statement.text, *args)
        return PgCursor(rows, len(rows))
    return PgCursor([], _rowcount(await conn.execute(statement.text, *args)))


async def _run_many(conn: asyncpg.Connection, sql: str, seq: Iterable[Params]) -> PgCursor:
    statement = translate(sql)
    await conn.executemany(statement.text, [statement.bind(params) for params in seq])
    return PgCursor([], -1)


async def _fetchall(conn: asyncpg.Connection, sql: str, params: Params) -> list[asyncpg.Record]:
    return await (await _run(conn, sql, params)).fetchall()


class PgConnection:
    """The connection ``PostgresDatabase.transaction()`` yields: one transaction on one server link."""

    __slots__ = ("_conn",)
    dialect = POSTGRESQL  # read by interface.dialect_of(), for functions given only a connection

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Params = (), /) -> PgQuery[PgCursor]:
        return PgQuery(_run(self._conn, sql, parameters))

    def executemany(self, sql: str, parameters: Iterable[Params], /) -> PgQuery[PgCursor]:
        return PgQuery(_run_many(self._conn, sql, parameters))

    def execute_fetchall(self, sql: str, parameters: Params = (), /) -> PgQuery[list[asyncpg.Record]]:
        return PgQuery(_fetchall(self._conn, sql, parameters))


def _reason(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


# What a server gone away, refused or timed out raises; the callers treat it as SQLite's errors.
ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,
    TimeoutError,
)


class PostgresDatabase:
    """A pool of server connections; reads use any of them, writes take turns within this process."""

    dialect = POSTGRESQL

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        self._pool = pool
        self.url = url
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return redacted(self.url)

    @classmethod
    async def open(cls, url: str, *, pool_size: int = POOL_SIZE) -> PostgresDatabase:
        """Connect to the server and bring the database's schema up to date."""
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=pool_size,
                command_timeout=COMMAND_TIMEOUT,
                server_settings={"application_name": "newsbot", "timezone": "UTC"},
            )
        except ERRORS as exc:
            raise DatabaseUnavailable(f"cannot open the database {redacted(url)}: {_reason(exc)}") from exc
        db = cls(pool, url)
        try:
            await db._migrate()
        except BaseException:
            await pool.close()
            raise
        return db

    async def _migrate(self) -> list[int]:
        migrations = load_migrations(self.dialect.migrations)
        done = []
        async with self._pool.acquire() as conn, conn.transaction():
            # Workers starting together: the first migrates, the others wait and find nothing to do.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await conn.execute(self.dialect.create_ledger)
            applied = {row[0] for row in await conn.fetch("SELECT version FROM schema_migrations")}
            for migration in pending(migrations, applied):
                try:
                    async with conn.transaction():  # a savepoint: the error names its file
                        await conn.execute(migration.sql)
                except asyncpg.PostgresError as exc:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name} failed: {exc}"
                    ) from exc
                for version in migration.records:
                    await conn.execute(
                        translate(RECORD).text, version, migration.name, time.time()
                    )
                logger.info("Applied migration %04d_%s", migration.version, migration.name)
                done.append(migration.version)
        return done

    async def close(self) -> None:
        await self._pool.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgConnection]:
        """Run the block as one transaction; roll back on any exception."""
        async with self._lock, self._pool.acquire() as conn, conn.transaction():
            yield PgConnection(conn)

    async def read(self, sql: str, params: Params = ()) -> list[asyncpg.Record]:
        """Any pooled connection reads committed data without waiting for this process's writes."""
        async with self._pool.acquire() as conn:
            return await _fetchall(conn, sql, params)

    fetchall = read

    async def fetchone(self, sql: str, params: Params = ()) -> asyncpg.Record | None:
        rows = await self.read(sql, params)
        return rows[0] if rows else None

    async def scalar(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def write(self, sql: str, params: Params = ()) -> int:
        async with self.transaction() as conn:
            cursor = await conn.execute(sql, params)
            return int(cursor.rowcount)

    async def maintain(self, script: str) -> None:
        """Run a maintenance script (VACUUM, ANALYZE) outside any transaction."""
        async with self._pool.acquire() as conn:
            await conn.execute(script)

    async def checkpoint(self) -> None:
        """Nothing to do: the server checkpoints its own log."""

    async def check_writable(self, *, lock_wait: float) -> None:
        """Fail unless the server answers within ``lock_wait`` s and takes writes (not a standby)."""
        async with asyncio.timeout(lock_wait), self._pool.acquire() as conn:
            if await conn.fetchval("SELECT pg_is_in_recovery()"):
                raise DatabaseUnavailable(f"{self.name} is a read-only standby")

    @property
    def in_transaction(self) -> bool:
        return self._lock.locked()

