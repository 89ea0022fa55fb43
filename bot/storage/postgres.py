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
import contextlib
import functools
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg

from bot.errors import DatabaseUnavailable, MigrationError
from bot.storage.dialect import POSTGRESQL
from bot.storage.interface import Params
from bot.storage.migrations import RECORD, load_migrations, pending

logger = logging.getLogger(__name__)

T = TypeVar("T")

SCHEMES = ("postgresql://", "postgres://")

# Tokens the translation must see whole: quoted text and comments are copied as they are,
# placeholders are numbered. Each alternative is linear (disjoint choices, possessive repeats): a
# long or unterminated literal costs one pass. E'...' strings take backslash escapes (E'it\'s'),
# plain ones do not (standard_conforming_strings); block comments are not nested here.
_TOKENS = re.compile(
    r"(?<![A-Za-z0-9_$])[Ee]'(?:[^'\\]|\\.|'')*+'"
    r"|'(?:[^']|'')*+'"
    r'|"(?:[^"]|"")*+"'
    r"|--[^\n]*+"
    r"|/\*(?:[^*]|\*(?!/))*+\*/"
    r"|::|\?|:[A-Za-z_][A-Za-z0-9_]*",
    re.DOTALL,
)
# Words and parentheses of the text without its literals: enough to find the top-level statement.
_WORDS = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[()]")
_STATEMENTS = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "VALUES", "TABLE", "MERGE"})
_ROWS = frozenset({"SELECT", "VALUES", "TABLE", "SHOW", "EXPLAIN"})


def _gives_rows(bare: str) -> bool:
    """Whether the statement (literals and comments taken out) hands rows back.

    Decided by its top level: ``WITH d AS (SELECT ... FOR UPDATE) SELECT id FROM d`` is a SELECT,
    and ``WITH d AS (UPDATE ... RETURNING id) UPDATE ...`` (no RETURNING of its own) is not.
    """
    depth = 0
    main = ""
    after_paren = False  # a WITH's main statement follows the ")" of its last part
    first = True
    for part in _WORDS.findall(bare):
        if part == "(":
            depth += 1
            continue
        if part == ")":
            depth -= 1
            after_paren = depth == 0
            continue
        word = part.upper()
        if depth == 0:
            if first:
                first = False
                if word != "WITH":
                    main = word
            elif not main and after_paren and word in _STATEMENTS:
                main = word
            if word == "RETURNING":
                return True
            after_paren = False
        elif first:  # "(SELECT ...) UNION ...": the statement starts inside parentheses
            first = False
            main = word
    return main in _ROWS


# Any number: one process's migrations at a time, across every worker starting at once.
MIGRATION_LOCK = 0x6E657773  # "news"

POOL_SIZE = 8
# A statement waiting longer than this for a lock, or running longer, fails; the supervisor retries.
COMMAND_TIMEOUT = 60.0


def is_postgres_url(target: object) -> bool:
    return isinstance(target, str) and target.startswith(SCHEMES)


# Query parameters libpq (and asyncpg) read as passwords: postgresql://u@h/db?password=...
_PASSWORD_KEYS = frozenset({"password", "sslpassword"})


def _query_passwords(query: str) -> list[str]:
    """The password values of a URL's query string, as written (percent-encoded or not)."""
    found = []
    for pair in query.split("&"):
        key, sep, value = pair.partition("=")
        if sep and value and unquote(key).lower() in _PASSWORD_KEYS:
            found.append(value)
    return found


def url_secrets(url: str) -> list[str]:
    """The passwords a database URL carries, for the log formatter to scrub wherever they appear."""
    if not is_postgres_url(url):
        return []
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    written = [userinfo.partition(":")[2]] if ":" in userinfo else []
    written += _query_passwords(parts.query)
    # Both spellings: the URL's, and the decoded one a driver's error message might quote.
    return sorted({form for value in written if value for form in (value, unquote(value))})


def redacted(url: str) -> str:
    """The URL without its passwords (in the user part and in the query), fit for a log line."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{netloc.rsplit('@', 1)[1]}"
    query = "&".join(
        f"{pair.partition('=')[0]}=***" if _query_passwords(pair) else pair
        for pair in parts.query.split("&")
    ) if parts.query else ""
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


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
    returns_rows = _gives_rows("".join(bare))
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
    asyncpg.InternalClientError,  # a connection the server ended, met again after one retry
    OSError,
    TimeoutError,
)


# What a statement meets on a connection the server ended while it sat idle in the pool (a restart,
# pg_terminate_backend): asyncpg notices the close only when its event loop reads the socket, and a
# busy loop hands the connection out first. Running the work once more on a fresh connection is
# safe for a read or a BEGIN (nothing was written), never for a transaction's body. A server that is
# really down fails that second try too (the pool cannot connect), and the caller sees that error.
_ENDED = (
    asyncpg.ConnectionDoesNotExistError,  # closed under the statement (the server's FATAL, then EOF)
    asyncpg.AdminShutdownError,  # the FATAL itself, read as the statement's answer
    # The FATAL read while the connection was idle, its EOF not yet: asyncpg's protocol is left
    # waiting for a reply that never comes and refuses the next statement before sending it.
    asyncpg.InternalClientError,
    ConnectionResetError,
    BrokenPipeError,
)


def _ended_while_idle(exc: BaseException) -> bool:
    """Whether ``exc`` says the connection was dead before the statement was sent on it."""
    if isinstance(exc, _ENDED):
        return True
    # The connection closed between being handed out and used; other InterfaceErrors are misuse.
    return isinstance(exc, asyncpg.InterfaceError) and "connection is closed" in str(exc)


async def _pool(url: str, *, size: int, application: str) -> asyncpg.Pool:
    try:
        return await asyncpg.create_pool(
            url,
            min_size=1,
            max_size=size,
            command_timeout=COMMAND_TIMEOUT,
            server_settings={"application_name": application, "timezone": "UTC"},
        )
    except ERRORS as exc:
        raise DatabaseUnavailable(f"cannot open the database {redacted(url)}: {_reason(exc)}") from exc


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
        db = cls(await _pool(url, size=pool_size, application="newsbot"), url)
        pool = db._pool
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

    async def dedicated(self) -> PostgresDatabase:
        """Another handle on this database with one server connection of its own, for the leases.

        The heartbeat must not wait for the pool: behind a burst of reads and claims holding all
        of its connections, a renewal came too late and the worker dropped its leases (or they
        expired on the server while it still sent). asyncpg's pool replaces a connection found
        broken, so one that was cut off is opened again at the next heartbeat.
        """
        pool = await _pool(self.url, size=1, application="newsbot-leases")
        return type(self)(pool, self.url)

    async def close(self) -> None:
        await self._pool.close()

    @asynccontextmanager
    async def transaction(self, *, queued: bool = True) -> AsyncIterator[PgConnection]:
        """Run the block as one transaction; roll back on any exception.

        Queued, it waits for this process's other transactions first (they run in order, as on
        SQLite). A worker's lease heartbeat is not: behind a broadcast's big claims it came too
        late, and the worker lost its shards in the middle of sending them.
        """
        turn = self._lock if queued else contextlib.nullcontext()
        async with turn, contextlib.AsyncExitStack() as stack:
            try:
                conn = await self._begin(stack)
            except Exception as exc:
                if not _ended_while_idle(exc):
                    raise
                logger.info("%s: BEGIN met a closed connection (%s); again", self.name, _reason(exc))
                await self._pool.expire_connections()  # see _on_live_connection
                # The dead one goes back to the pool, which replaces it; one it could not reset is
                # terminated, and the reset's error is no news.
                with contextlib.suppress(Exception):
                    await stack.aclose()
                conn = await self._begin(stack)
            # From here on a write may have happened: an error is the caller's, never retried.
            yield PgConnection(conn)

    async def _begin(self, stack: contextlib.AsyncExitStack) -> Any:
        """A pooled connection with a transaction started on it, both ended when ``stack`` closes."""
        conn = await stack.enter_async_context(self._pool.acquire())
        await stack.enter_async_context(conn.transaction())
        return conn

    async def _on_live_connection(self, work: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``work`` on a pooled connection, again on another once if the first had been ended.

        Only for work that changes nothing (reads, VACUUM): it may have run partly before failing.
        """
        try:
            async with self._pool.acquire() as conn:
                return await work(conn)
        except Exception as exc:
            if not _ended_while_idle(exc):
                raise
            logger.info("%s: a closed connection (%s); reading again on another", self.name, _reason(exc))
            # A restart ended every idle connection, and the pool (last in, first out) could hand
            # the second try another of them: each is replaced at its next acquire instead (one in
            # use, at its release).
            await self._pool.expire_connections()
        async with self._pool.acquire() as conn:
            return await work(conn)

    async def read(self, sql: str, params: Params = ()) -> list[asyncpg.Record]:
        """Any pooled connection reads committed data without waiting for this process's writes."""
        return await self._on_live_connection(lambda conn: _fetchall(conn, sql, params))

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
        await self._on_live_connection(lambda conn: conn.execute(script))

    async def checkpoint(self) -> None:
        """Nothing to do: the server checkpoints its own log."""

    async def check_writable(self, *, lock_wait: float) -> None:
        """Fail unless the server answers within ``lock_wait`` s and takes writes (not a standby)."""
        async with asyncio.timeout(lock_wait):
            standby = await self._on_live_connection(lambda conn: conn.fetchval("SELECT pg_is_in_recovery()"))
        if standby:
            raise DatabaseUnavailable(f"{self.name} is a read-only standby")

    @property
    def in_transaction(self) -> bool:
        return self._lock.locked()

