"""Copy the database while the bot runs, and put a copy back while it is stopped.

Backup reads through a connection of its own with SQLite's online backup API, in one step: that
step is one read transaction, so the copy is the database as of one commit (WAL lets the bot
keep writing meanwhile) and it never needs the bot's instance lock.

Restore takes the instance lock for its whole run (so no bot starts halfway), checks the file is a
newsbot database this code can open, copies it beside the database, fsyncs it and renames it over
the database in one step. The old file is kept as ``<db>.before-restore``.

Both are about a SQLite file. A PostgreSQL database is the server's to copy: they refuse it and
name the server's own tools (pg_dump, pg_restore), which copy it consistently while it runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from bot.errors import AlreadyRunning, StorageError
from bot.storage.connection import InstanceLock
from bot.storage.migrations import load_migrations
from bot.storage.postgres import is_postgres_url, redacted

logger = logging.getLogger(__name__)

SQLITE_MAGIC = b"SQLite format 3\x00"
HAS_LEDGER = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
VERSIONS = "SELECT version, name FROM schema_migrations ORDER BY version"
QUICK_CHECK = "PRAGMA quick_check"
CHECKPOINT = "PRAGMA wal_checkpoint(TRUNCATE)"
BUSY_TIMEOUT_MS = 5000


class BackupError(StorageError):
    """A backup or restore that cannot be done (its message is one line)."""


@dataclass(frozen=True, slots=True)
class Copied:
    path: Path
    version: int  # the newest migration the copy holds
    kept: Path | None = None  # where the replaced database went (restore only)


def _refuse_server(database: Path | str, *, doing: str, instead: str) -> None:
    """Refuse a PostgreSQL URL in one line that says which tool does the job there."""
    if is_postgres_url(database):
        raise BackupError(
            f"{doing} copies a SQLite file, and the database is on PostgreSQL"
            f" ({redacted(str(database))}): {instead}"
        )


def _connect_readonly(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    return conn


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_newsbot_database(path: Path) -> int:
    """The newest migration a newsbot database holds; BackupError when it is none, or too new."""
    try:
        with path.open("rb") as handle:
            magic = handle.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc.strerror or exc}") from None
    if magic != SQLITE_MAGIC:
        raise BackupError(f"{path} is not an SQLite database")
    try:
        conn = _connect_readonly(path)
        try:
            if conn.execute(HAS_LEDGER).fetchone() is None:
                raise BackupError(f"{path} is not a newsbot database (it has no schema_migrations table)")
            recorded = conn.execute(VERSIONS).fetchall()
            check = conn.execute(QUICK_CHECK).fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise BackupError(f"{path} cannot be read as a database: {' '.join(str(exc).split())}") from None
    if check is None or check[0] != "ok":
        raise BackupError(f"{path} is damaged (quick_check: {str(check[0] if check else '?')[:100]})")
    known = {m.version: m.name for m in load_migrations()}
    for version, name in recorded:
        if version not in known:
            raise BackupError(
                f"{path} is from a newer newsbot (migration {int(version):04d}_{name}; this one knows up"
                f" to {max(known):04d})"
            )
    return max((int(v) for v, _name in recorded), default=0)


def _copy(source: Path, target: Path) -> None:
    """Copy ``source`` into a new file ``target`` with the backup API, in one step, then fsync it."""
    src = _connect_readonly(source)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst, pages=-1)  # one step: one read transaction, one consistent copy
            # A plain journal: the copy is one self-contained file, and reading it leaves no -wal
            # or -shm beside it. The bot switches it back to WAL when it opens it.
            dst.execute("PRAGMA journal_mode = DELETE").fetchall()
        finally:
            dst.close()
    finally:
        src.close()
    _fsync(target)


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a folder be opened for fsync
        _fsync(folder)


def backup(database: Path | str, target: Path) -> Copied:
    """Copy the live database to ``target`` (replaced atomically if it exists)."""
    _refuse_server(database, doing="backup", instead="back it up with pg_dump (pg_dump -Fc -f FILE URL)")
    database, target = Path(database), Path(target)
    if not database.is_file():
        raise BackupError(f"no database at {database}")
    if target.resolve() == database.resolve():
        raise BackupError("the backup file must not be the database itself")
    if not target.parent.is_dir():
        raise BackupError(f"the folder {target.parent} does not exist")
    check_newsbot_database(database)
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        _copy(database, temp)
        version = check_newsbot_database(temp)
        os.replace(temp, target)
    except sqlite3.Error as exc:
        raise BackupError(f"backup failed: {' '.join(str(exc).split())}") from None
    except OSError as exc:
        raise BackupError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        temp.unlink(missing_ok=True)
    _fsync_folder(target.parent)
    logger.info("Backed up %s to %s (migration %04d)", database, target, version)
    return Copied(target, version)


def _settle(database: Path) -> None:
    """Fold a stopped bot's WAL into its file, so the kept copy holds every commit."""
    try:
        conn = sqlite3.connect(database, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            row = conn.execute(CHECKPOINT).fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:  # not a database any more: it is kept as it is
        logger.warning("Could not checkpoint %s before restoring: %s", database, exc)
        return
    # (busy, WAL frames, frames checkpointed): a reader elsewhere (a backup, an export) can leave
    # the WAL partly unfolded without an error, and its WAL is removed below: refuse instead.
    if row is not None and (row[0] != 0 or row[1] != row[2]):
        raise BackupError(
            f"{database} is being read by another process (a backup or an export?); try again when it ends"
        )


def restore(source: Path, database: Path | str) -> Copied:
    """Put the backup ``source`` in place of ``database``; the bot must be stopped."""
    _refuse_server(
        database, doing="restore", instead="restore a pg_dump file with pg_restore (pg_restore -d URL FILE)"
    )
    source, database = Path(source), Path(database)
    if not source.is_file():
        raise BackupError(f"no such file: {source}")
    if database.exists() and source.resolve() == database.resolve():
        raise BackupError("the file to restore is the database itself")
    if not database.parent.is_dir():
        raise BackupError(f"the folder {database.parent} does not exist")
    version = check_newsbot_database(source)
    try:
        lock = InstanceLock.acquire(database)
    except AlreadyRunning as exc:
        raise BackupError(f"{exc} before restoring") from None
    temp = database.with_name(f".{database.name}.restore.{os.getpid()}.tmp")
    kept: Path | None = None
    try:
        _copy(source, temp)
        if database.exists():
            _settle(database)
            kept = database.with_name(database.name + ".before-restore")
            kept.unlink(missing_ok=True)
            try:
                os.link(database, kept)  # the old file stays whole under its new name
            except OSError:  # a filesystem without hard links
                shutil.copy2(database, kept)
                _fsync(kept)
        # A WAL left beside the old file would be replayed into the new one: remove it first.
        for suffix in ("-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        os.replace(temp, database)
        _fsync_folder(database.parent)
    except sqlite3.Error as exc:
        raise BackupError(f"restore failed: {' '.join(str(exc).split())}") from None
    except OSError as exc:
        raise BackupError(f"restore failed: {exc.strerror or exc}") from None
    finally:
        temp.unlink(missing_ok=True)
        lock.release()
    logger.info("Restored %s from %s (migration %04d)", database, source, version)
    return Copied(database, version, kept)
