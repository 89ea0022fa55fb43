"""End to end: another process holds SQLite's write lock mid-broadcast; delivery survives it."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest

import bot.storage.connection
import bot.supervisor
from bot.app import NewsApp
from bot.config import Settings, SourceSettings
from bot.emulator import EmulatorClient
from bot.storage import outbox
from tests.conftest import FeedServer

ADMIN = 9001
READERS = 60
FIRST_READER = 20_000
TITLE = "Lock-proof bulletin"

# Another process takes the write lock and keeps it, as a backup or an sqlite3 shell would.
HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


async def delivered(control: EmulatorClient) -> Counter[int]:
    return Counter(m["chat_id"] for m in await control.messages() if TITLE in (m["text"] or ""))


async def test_write_lock_held_past_the_busy_timeout_mid_broadcast_delays_delivery_but_loses_nothing(
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[NewsApp]],
    control: EmulatorClient,
    feed_server: FeedServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Shorter than in production so the test stays quick; the lock is held well past both.
    monkeypatch.setattr(bot.storage.connection, "BUSY_TIMEOUT_MS", 200)
    monkeypatch.setattr(bot.supervisor, "FIRST_DELAY", 0.3)
    monkeypatch.setattr(bot.supervisor, "RECOVER_AFTER", 1.0)
    feed_server.set_rss("/rss.xml", [])
    source = SourceSettings(id="wire", name="Wire", url=feed_server.url("/rss.xml"), interval=3600)
    settings = make_settings(source, admins=(ADMIN,), global_per_second=40)
    await control.set_limits(global_per_second=None, chat_per_second=None, group_per_minute=None)
    await control.add_chat(ADMIN, "private", first_name="Admin")
    readers = range(FIRST_READER, FIRST_READER + READERS)
    for reader in readers:
        await control.add_chat(reader, "private", first_name=f"Reader {reader}")
    app = await start_bot(settings)
    db, dispatcher = app.bot_data.db, app.bot_data.dispatcher
    assert db is not None and dispatcher is not None

    now = time.time()
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO chats (id, type, created_at, updated_at) VALUES (?, 'private', ?, ?)",
            [(r, now, now) for r in readers],
        )
        await conn.executemany(
            "INSERT INTO subscriptions (chat_id, kind, created_at) VALUES (?, 'all', ?)",
            [(r, now) for r in readers],
        )
        cursor = await conn.execute(
            "INSERT INTO articles (source_id, guid, url, title, published_at, fetched_at)"
            " VALUES ('wire', 'one', 'https://news.example/one', ?, ?, ?)",
            (TITLE, now, now),
        )
        assert cursor.lastrowid is not None
        await outbox.fan_out(
            conn, article_id=cursor.lastrowid, priority=0, category="", source="wire", text="", now=now
        )
    dispatcher.wake()

    deadline = time.monotonic() + 10
    while sum((await delivered(control)).values()) < 5:
        assert time.monotonic() < deadline, "the broadcast never started"
        await asyncio.sleep(0.01)
    locker = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLD_LOCK, str(db.path), "1.5", stdout=asyncio.subprocess.PIPE
    )
    assert locker.stdout is not None
    assert await locker.stdout.readline() == b"locked\n"
    at_lock = sum((await delivered(control)).values())
    assert await asyncio.wait_for(locker.wait(), 10) == 0

    deadline = time.monotonic() + 15
    while len(await delivered(control)) < READERS or len(await control.messages(ADMIN)) < 2:
        assert time.monotonic() < deadline, (
            f"{len(await delivered(control))} of {READERS} readers; admin: {await control.messages(ADMIN)}"
        )
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # anything more would be a double

    counts = await delivered(control)
    assert at_lock < READERS, "the lock must land mid-broadcast"
    assert set(counts) == set(readers)
    assert max(counts.values()) == 1, "a reader got the item twice"
    told = [m["text"] for m in await control.messages(ADMIN)]
    assert len(told) == 2
    assert "delivery is failing" in told[0] and "database is locked" in told[0]
    assert "delivery has recovered" in told[1]
    supervisor = app.bot_data.supervisor
    assert supervisor is not None
    errors = supervisor.health["delivery"].errors
    assert errors >= 1
    await control.send_text(ADMIN, ADMIN, "/stats")
    stats = (await control.wait_for_messages(ADMIN, 3, timeout=10))[-1]["text"]
    assert f"task errors since start: delivery {errors}" in stats
    assert "failing now" not in stats
    assert await db.scalar("SELECT COUNT(*) FROM outbox WHERE state = 'sent'") == READERS
