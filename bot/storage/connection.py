"""The embedded back end: one SQLite file behind one aiosqlite connection, with one write path.

aiosqlite orders statements, not transactions: two coroutines that each run BEGIN ... COMMIT
on the same connection would interleave. Every write therefore goes through
``Database.transaction()``, which holds an asyncio lock around ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from bot.errors import AlreadyRunning, DatabaseUnavailable, NewsbotError
from bot.storage.dialect import SQLITE
from bot.storage.interface import Params
from bot.storage.migrations import apply_migrations

logger = logging.getLogger(__name__)


# How long a statement waits for another process's write lock (a backup, an sqlite3 shell) before
# it fails with "database is locked"; the supervisor then retries the task with back-off.
BUSY_TIMEOUT_MS = 5000

_PRAGMAS = (
    # Before the first table exists this makes the file give freed pages back on request
    # (outbox compaction); on an existing file it only takes effect after a VACUUM.
    "PRAGMA auto_vacuum = INCREMENTAL",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",  # safe with WAL: a crash loses no committed transaction's integrity
    "PRAGMA foreign_keys = ON",
    "PRAGMA temp_store = MEMORY",
    "PRAGMA cache_size = -65536",  # 64 MiB of page cache
)


_READ_PRAGMAS = (
    "PRAGMA query_only = ON",
    f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_MS)}",
    "PRAGMA cache_size = -16384",
)
# With a read connection, the writer leaves checkpoints (copying the WAL into the file, with an
# fsync that can take tens of milliseconds on a busy disk) to it, so no commit, and so no send
# or poll waiting for the write lock, pays for one. The writer still checkpoints as a safety net
# if the WAL ever reaches this many pages.
WRITER_AUTOCHECKPOINT = "PRAGMA wal_autocheckpoint = 10000"
CHECKPOINT = "PRAGMA wal_checkpoint(PASSIVE)"
CHECKPOINT_EVERY = 50  # commits between checkpoints started on the read connection
AUTO_VACUUM = "PRAGMA auto_vacuum"
# The health check's write probe: takes the write lock and gives it back at once, writing nothing.
BEGIN_IMMEDIATE = "BEGIN IMMEDIATE"
ROLLBACK = "ROLLBACK"
VACUUM = "VACUUM"


def _reason(exc: BaseException) -> str:
    """One line saying why a file could not be used, without the traceback."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror + (f" ({exc.filename})" if exc.filename else "")
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class InstanceLock:
    """An exclusive lock on ``<database>.lock`` held for the life of the process."""

    # Two bots on one database would send every message twice: the second one refuses to start.
    # flock locks die with their process, so a crash never leaves a stale lock behind.

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, database: Path | str) -> InstanceLock:
        """Take the lock beside ``database``; AlreadyRunning names the process that holds it."""
        path = Path(f"{database}.lock")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise DatabaseUnavailable(f"cannot open the database {database}: {_reason(exc)}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise AlreadyRunning(
                    f"another newsbot (pid {holder}) is already running on {database}; stop it first"
                ) from None
            raise DatabaseUnavailable(f"cannot lock {path}: {_reason(exc)}") from exc
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        return cls(path, fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class SqliteDatabase:
    """The storage handle on a SQLite file: reads anywhere, writes inside ``transaction()``.

    A second connection (WAL lets it read while the first writes) serves ``read()``: what an admin
    or a report asks must not queue behind, or hold up, the dispatcher's statements.
    """

    def __init__(
        self, conn: aiosqlite.Connection, path: Path, reader: aiosqlite.Connection | None = None
    ) -> None:
        self.dialect = SQLITE
        self._conn = conn
        self._reader = reader
        self.path = path
        self._lock = asyncio.Lock()
        self._commits = 0
        self._checkpoint: asyncio.Task[None] | None = None
        self._probe: aiosqlite.Connection | None = None

    @classmethod
    async def open(cls, path: Path | str) -> SqliteDatabase:
        """Open (creating if needed) the database file and bring its schema up to date."""
        path = Path(path)
        conn: aiosqlite.Connection | None = None
        reader: aiosqlite.Connection | None = None
        try:
            if str(path) != ":memory:":
                path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we issue BEGIN ourselves, sqlite3 must not add its own.
            conn = await aiosqlite.connect(path, isolation_level=None)
            conn.row_factory = sqlite3.Row
            for pragma in (*_PRAGMAS, f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_MS)}"):
                await conn.execute(pragma)
            db = cls(conn, path)
            await _incremental_vacuum(conn)
            await apply_migrations(db, SQLITE)
            if str(path) != ":memory:":
                reader = await aiosqlite.connect(path, isolation_level=None)
                reader.row_factory = sqlite3.Row
                for pragma in _READ_PRAGMAS:
                    await reader.execute(pragma)
                await conn.execute(WRITER_AUTOCHECKPOINT)
                db._reader = reader
        except BaseException as exc:
            # The connection's thread is not a daemon: left open, it keeps the process alive.
            for opened in (reader, conn):
                if opened is not None:
                    with contextlib.suppress(Exception):
                        await opened.close()
            if isinstance(exc, sqlite3.Error | OSError) and not isinstance(exc, NewsbotError):
                raise DatabaseUnavailable(f"cannot open the database {path}: {_reason(exc)}") from exc
            raise
        return db

    @property
    def name(self) -> str:
        return str(self.path)

    async def close(self) -> None:
        if self._checkpoint is not None:
            await asyncio.gather(self._checkpoint, return_exceptions=True)
        if self._probe is not None:
            await self._probe.close()
            self._probe = None
        if self._reader is not None:
            await self._reader.close()
        await self._conn.close()

    async def read(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Run a query on the read connection: it sees committed data and never waits for writes."""
        conn = self._reader or self._conn
        async with conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    @asynccontextmanager
    async def transaction(self, *, queued: bool = True) -> AsyncIterator[aiosqlite.Connection]:
        """Run the block as one ``BEGIN IMMEDIATE`` transaction; roll back on any exception.

        One connection: every transaction waits for the one before, ``queued`` or not.
        """
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                await self._conn.rollback()
                raise
            else:
                await self._conn.commit()
                self._committed()

    def _committed(self) -> None:
        self._commits += 1
        if self._reader is None or self._commits < CHECKPOINT_EVERY:
            return
        if self._checkpoint is None or self._checkpoint.done():
            self._commits = 0
            self._checkpoint = asyncio.get_running_loop().create_task(self._checkpoint_wal())

    async def checkpoint(self) -> None:
        """Wait for a checkpoint on the read connection (none without one): long jobs call this so
        their WAL never grows to the writer's own checkpoint threshold."""
        if self._reader is None:
            return
        if self._checkpoint is None or self._checkpoint.done():
            self._commits = 0
            self._checkpoint = asyncio.get_running_loop().create_task(self._checkpoint_wal())
        await asyncio.shield(self._checkpoint)

    async def _checkpoint_wal(self) -> None:
        """Copy committed pages from the WAL into the file on the read connection, off the write path."""
        assert self._reader is not None
        try:
            async with self._reader.execute(CHECKPOINT) as cursor:
                await cursor.fetchall()
        except sqlite3.Error as exc:  # the writer's own autocheckpoint remains: log and go on
            logger.warning("WAL checkpoint failed: %s", exc)

    async def check_writable(self, *, lock_wait: float) -> None:
        """Take the write lock and release it, waiting at most ``lock_wait`` s; raise sqlite3.Error if not.

        On a connection of its own, so the probe never waits behind, or holds up, the dispatcher's
        statements on the main one; a lock held longer than ``lock_wait`` counts as not writable.
        """
        if str(self.path) == ":memory:":
            return
        if self._probe is None:
            self._probe = await aiosqlite.connect(self.path, isolation_level=None, timeout=lock_wait)
        probe = self._probe
        try:
            await probe.execute(BEGIN_IMMEDIATE)
            await probe.execute(ROLLBACK)
        except BaseException:
            # Interrupted between the two, the probe could keep the lock: closing it gives it back.
            self._probe = None
            await probe.close()
            raise

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        async with self._conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        async with self._conn.execute(sql, params) as cursor:
            row: sqlite3.Row | None = await cursor.fetchone()
            return row

    async def scalar(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def write(self, sql: str, params: Params = ()) -> int:
        """Run one write statement as its own transaction; return the rows it changed."""
        async with self.transaction() as conn:
            cursor = await conn.execute(sql, params)
            return cursor.rowcount

    async def maintain(self, script: str) -> None:
        """Run a maintenance statement to its end (executescript steps it fully) under the write lock."""
        async with self._lock:
            await self._conn.executescript(script)

    @property
    def in_transaction(self) -> bool:
        return bool(self._conn.in_transaction)

    # The two below bypass the lock; only the migration runner, before anything else runs, uses them.
    async def executescript(self, sql: str) -> None:
        await self._conn.executescript(sql)

    async def execute_in_transaction(self, sql: str, params: Params = ()) -> None:
        await self._conn.execute(sql, params)


async def _incremental_vacuum(conn: aiosqlite.Connection) -> None:
    """Switch a file made before incremental vacuum to it: one full VACUUM, once, at start-up."""
    async with conn.execute(AUTO_VACUUM) as cursor:
        row = await cursor.fetchone()
    if row is not None and row[0] == 0:
        logger.info("Converting the database to incremental vacuum (once; may take a while on a large file)")
        await conn.execute(VACUUM)
