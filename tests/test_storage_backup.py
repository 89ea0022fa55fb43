"""newsbot backup while the bot sends, and newsbot restore's refusals and atomic swap."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings, SourceSettings
from bot.emulator import Emulator
from bot.storage import chats, open_database, subscriptions
from bot.storage.backup import BackupError, backup, check_newsbot_database, restore
from bot.storage.connection import InstanceLock
from tests.conftest import FeedItemSpec, FeedServer
from tests.test_e2e_first_push import _wait_for_poll

READERS = 300


def _cli(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PTB_TIMEDELTA": "1", "NEWSBOT_DB": str(db)},
        check=False,
    )


async def _make_database(path: Path, *, readers: int = 3) -> None:
    db = await open_database(path)
    try:
        for n in range(readers):
            chat_id = 10_000 + n
            await chats.remember_chat(
                db, chat_id=chat_id, chat_type="private", title=f"Reader {n}", username=None,
                language="en", now=time.time(),
            )  # fmt: skip
            await subscriptions.subscribe(db, chat_id=chat_id, kind="all", now=time.time())
    finally:
        await db.close()


def _rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.fixture
def live(tmp_path: Path) -> Path:
    """The database these tests back up and restore: a SQLite file, on purpose.

    Backup and restore copy that file; on PostgreSQL they refuse and name pg_dump and pg_restore
    (the last test), so the ``db`` fixture's PostgreSQL run would have nothing to copy.
    """
    return tmp_path / "newsbot.db"


# SQLite only, as above: the bot's settings name a database file (make_settings).
async def test_backup_while_a_broadcast_runs_holds_everything_committed_before_it(
    feed_server: FeedServer,
    emulator_state: Emulator,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    settings = make_settings(
        SourceSettings(id="site", name="Site", url=feed_server.url("/rss.xml"), interval=1)
    )
    await _make_database(settings.bot.db, readers=READERS)
    for n in range(READERS):
        emulator_state.add_chat(10_000 + n, "private", first_name=f"Reader {n}")
    feed_server.set_rss("/rss.xml", [])
    lock = InstanceLock.acquire(settings.bot.db)  # as ``newsbot run`` holds it (bot.app.serve)
    request.addfinalizer(lock.release)
    await start_bot(settings)
    await _wait_for_poll(feed_server, "/rss.xml", 2)
    feed_server.set_rss("/rss.xml", [FeedItemSpec("1", "Big news", feed_server.url("/news/1"))])
    while len(emulator_state.delivered) < 30:  # the dispatch is under way (30 a second, 300 readers)
        await asyncio.sleep(0.02)

    # What was committed before the backup starts: the fan-out, and the sends recorded so far.
    sent_before = {row[0] for row in _rows(settings.bot.db, "SELECT id FROM outbox WHERE state = 'sent'")}
    queued_total = _rows(settings.bot.db, "SELECT COUNT(*) FROM outbox")[0][0]
    assert queued_total == READERS and len(sent_before) < READERS
    copy = tmp_path / "copy.db"
    result = await asyncio.to_thread(_cli, "backup", str(copy), db=settings.bot.db)
    assert result.returncode == 0, result.stderr
    refused = await asyncio.to_thread(_cli, "restore", str(copy), db=settings.bot.db)
    assert refused.returncode == 2 and "is already running" in refused.stderr

    assert check_newsbot_database(copy) >= 9
    states = dict(_rows(copy, "SELECT id, state FROM outbox"))
    assert len(states) == READERS
    assert all(states[row_id] == "sent" for row_id in sent_before)
    assert _rows(copy, "SELECT COUNT(*) FROM chats")[0][0] == READERS
    # One commit's view: the counters the triggers keep agree with the rows themselves.
    counted = dict(_rows(copy, "SELECT state, SUM(n) FROM outbox_counts GROUP BY state HAVING SUM(n) != 0"))
    actual = dict(_rows(copy, "SELECT state, COUNT(*) FROM outbox GROUP BY state"))
    assert counted == actual
    assert not Path(f"{copy}-wal").exists()


def test_restore_refuses_a_file_that_is_not_sqlite(tmp_path: Path, live: Path) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("hello, not a database\n")
    result = _cli("restore", str(bogus), db=live)
    assert result.returncode == 2
    assert result.stderr.strip() == f"newsbot: {bogus} is not an SQLite database"
    assert not live.exists()


def test_restore_refuses_an_sqlite_file_without_newsbot_migrations(tmp_path: Path, live: Path) -> None:
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.commit()
    conn.close()
    result = _cli("restore", str(other), db=live)
    assert result.returncode == 2
    assert "is not a newsbot database (it has no schema_migrations table)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


async def test_restore_refuses_a_backup_from_a_newer_schema(tmp_path: Path, live: Path) -> None:
    newer = tmp_path / "newer.db"
    await _make_database(live)
    await _make_database(newer, readers=1)
    conn = sqlite3.connect(newer)
    conn.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)")
    conn.commit()
    conn.close()
    result = _cli("restore", str(newer), db=live)
    assert result.returncode == 2
    assert "is from a newer newsbot (migration 9999_future" in result.stderr
    assert _rows(live, "SELECT COUNT(*) FROM chats")[0][0] == 3  # untouched


async def test_restore_refuses_while_the_bot_runs(tmp_path: Path, live: Path) -> None:
    saved = tmp_path / "saved.db"
    await _make_database(live)
    backup(live, saved)
    lock = InstanceLock.acquire(live)  # what a running bot holds
    try:
        result = _cli("restore", str(saved), db=live)
    finally:
        lock.release()
    assert result.returncode == 2
    assert "is already running" in result.stderr and "stop it first" in result.stderr
    assert not live.with_name("newsbot.db.before-restore").exists()


async def test_restore_swaps_the_file_keeps_the_old_one_and_drops_a_stale_wal(
    tmp_path: Path, live: Path
) -> None:
    saved = tmp_path / "saved.db"
    await _make_database(live, readers=2)
    backup(live, saved)
    await _make_database(live, readers=5)  # more readers after the backup
    Path(f"{live}-wal").write_bytes(b"stale")  # a WAL that belongs to no file now
    result = _cli("restore", str(saved), db=live)
    assert result.returncode == 0, result.stderr
    assert "the old database is" in result.stdout
    assert not Path(f"{live}-wal").exists()
    assert _rows(live, "SELECT COUNT(*) FROM chats")[0][0] == 2
    assert _rows(live.with_name("newsbot.db.before-restore"), "SELECT COUNT(*) FROM chats")[0][0] == 5
    db = await open_database(live)  # the bot opens the restored file as usual
    await db.close()


async def test_restore_refuses_while_another_process_reads_the_old_database(
    tmp_path: Path, live: Path
) -> None:
    saved = tmp_path / "saved.db"
    await _make_database(live, readers=2)
    backup(live, saved)
    writer = sqlite3.connect(live)
    reader = sqlite3.connect(live)
    try:
        writer.execute("PRAGMA wal_autocheckpoint = 0")  # every commit stays in the WAL
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM chats").fetchall()  # a backup's snapshot, held
        writer.execute("UPDATE chats SET title = 'written after the reader began'")
        writer.commit()
        result = _cli("restore", str(saved), db=live)
    finally:
        reader.close()
        writer.close()
    assert result.returncode == 2
    assert "being read by another process" in result.stderr
    # Nothing was swapped and the last commit is still there.
    assert _rows(live, "SELECT DISTINCT title FROM chats") == [("written after the reader began",)]
    assert not live.with_name("newsbot.db.before-restore").exists()


def test_backup_refuses_what_is_not_a_newsbot_database(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no database at"):
        backup(tmp_path / "missing.db", tmp_path / "copy.db")
    result = _cli("backup", str(tmp_path / "nowhere" / "copy.db"), db=tmp_path / "missing.db")
    assert result.returncode == 2 and result.stderr.startswith("newsbot: no database at")


async def test_backup_and_restore_refuse_a_postgresql_database_and_name_its_tools(
    postgres_url: str, tmp_path: Path
) -> None:
    db = await open_database(postgres_url)
    await db.close()
    secret = postgres_url.replace("://", "://newsbot:hunter2@", 1)
    with pytest.raises(BackupError, match="pg_dump") as refused:
        backup(secret, tmp_path / "copy.db")
    assert "PostgreSQL" in str(refused.value) and "hunter2" not in str(refused.value)
    saved = tmp_path / "saved.db"
    await _make_database(saved, readers=1)
    with pytest.raises(BackupError, match="pg_restore") as refused:
        restore(saved, secret)
    assert "hunter2" not in str(refused.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saved.db"]  # nothing written
