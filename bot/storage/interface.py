"""What the storage modules may ask of a database, whichever back end holds it.

Two back ends answer it: SQLite (``connection.SqliteDatabase``, the embedded default) and PostgreSQL
(``postgres.PostgresDatabase``, for several workers on several machines). The SQL of both is written
once, with ``?`` or ``:name`` placeholders; a statement that must differ lives in ``dialect.py``.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeVar

from bot.storage.dialect import SQLITE, Dialect

T_co = TypeVar("T_co", covariant=True)

Params = Sequence[Any] | dict[str, Any]
# A result row: sqlite3.Row or asyncpg.Record; both index by position and by column name.
Row = Any


class Cursor(Protocol):
    """The result of one statement: its rows, and how many rows it changed."""

    @property
    def rowcount(self) -> int: ...

    async def fetchone(self) -> Any: ...

    async def fetchall(self) -> Iterable[Any]: ...


class Query(Protocol[T_co]):
    """A statement on its way: awaited for its result, or entered with ``async with``."""

    def __await__(self) -> Generator[Any, None, T_co]: ...

    async def __aenter__(self) -> T_co: ...

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any, /) -> Any: ...


class Connection(Protocol):
    """The connection inside ``Database.transaction()``: every statement there is one transaction."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Query[Cursor]: ...

    def executemany(self, sql: str, parameters: Any, /) -> Query[Cursor]: ...

    def execute_fetchall(self, sql: str, parameters: Any = ..., /) -> Query[Iterable[Any]]: ...


async def inserted_id(cursor: Cursor) -> int | None:
    """The id an ``INSERT ... RETURNING id`` gave, or None when it inserted nothing (a conflict)."""
    row = await cursor.fetchone()
    return None if row is None else int(row[0])


def dialect_of(conn: Connection) -> Dialect:
    """The dialect of a transaction's connection, for a function handed only the connection.

    PostgreSQL's connection names its dialect; SQLite's is aiosqlite's own object, which cannot.
    """
    dialect: Dialect = getattr(conn, "dialect", SQLITE)
    return dialect


class Database(Protocol):
    """The storage handle: reads anywhere, writes inside ``transaction()``."""

    dialect: Dialect

    @property
    def name(self) -> str:
        """Where the data is, for logs: a file's path, or a server's address without its password."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Connection]: ...

    async def read(self, sql: str, params: Params = ()) -> list[Any]:
        """Run a query that must not queue behind, or hold up, the writers."""
        ...

    async def fetchall(self, sql: str, params: Params = ()) -> list[Any]: ...

    async def fetchone(self, sql: str, params: Params = ()) -> Any: ...

    async def scalar(self, sql: str, params: Params = ()) -> Any: ...

    async def write(self, sql: str, params: Params = ()) -> int:
        """Run one write statement as its own transaction; return the rows it changed."""
        ...

    async def maintain(self, script: str) -> None: ...

    async def checkpoint(self) -> None: ...

    async def check_writable(self, *, lock_wait: float) -> None: ...

    @property
    def in_transaction(self) -> bool: ...

    async def close(self) -> None: ...
