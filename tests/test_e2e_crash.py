"""Crash safety: a real bot process killed with SIGKILL mid-broadcast, then restarted."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import IO

import pytest

from bot.emulator import EmulatorClient, RunningEmulator
from bot.storage import open_database, outbox
from tests.conftest import TOKEN

READERS = 300
FIRST_READER = 10_000
TITLE = "Crash-proof bulletin"


async def prepare(db_path: Path) -> None:
    """300 subscribed readers and one article already fanned out, as a previous process left them."""
    db = await open_database(db_path)
    now = time.time()
    try:
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO sources (id, name, url, kind, interval, origin, created_at)"
                " VALUES ('wire', 'Wire', 'http://127.0.0.1:9/rss', 'feed', 3600, 'admin', ?)",
                (now,),
            )
            readers = range(FIRST_READER, FIRST_READER + READERS)
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
    finally:
        await db.close()


async def start_bot(config: Path, api_url: str, log: IO[bytes]) -> asyncio.subprocess.Process:
    env = {**os.environ, "NEWSBOT_API_URL": api_url, "PTB_TIMEDELTA": "1"}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.crash_runner",
        str(config),
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=log,
    )


async def delivered(control: EmulatorClient) -> Counter[int]:
    return Counter(m["chat_id"] for m in await control.messages() if TITLE in (m["text"] or ""))


async def sent_in_db(db_path: Path) -> int:
    db = await open_database(db_path)
    try:
        return int(await db.scalar("SELECT COUNT(*) FROM outbox WHERE state = 'sent'"))
    finally:
        await db.close()


async def test_sigkill_mid_broadcast_loses_nothing_and_doubles_only_unrecorded_sends(
    tmp_path: Path, telegram: RunningEmulator, control: EmulatorClient, request: pytest.FixtureRequest
) -> None:
    db_path = tmp_path / "crash.db"
    config = tmp_path / "newsbot.toml"
    config.write_text(
        f'[bot]\ntoken = "{TOKEN}"\ndb = "{db_path}"\ntimezone = "UTC"\n\n'
        "[delivery]\nglobal_per_second = 100\n"
    )
    await control.set_limits(global_per_second=None, chat_per_second=None, group_per_minute=None)
    await prepare(db_path)
    for reader in range(FIRST_READER, FIRST_READER + READERS):  # readers Telegram knows
        await control.add_chat(reader, "private", first_name=f"Reader {reader}")
    api_url = f"http://127.0.0.1:{telegram.port}"
    log = (tmp_path / "bot.log").open("ab")
    request.addfinalizer(log.close)

    bot = await start_bot(config, api_url, log)
    try:
        deadline = time.monotonic() + 30
        while sum((await delivered(control)).values()) < READERS // 3:
            assert time.monotonic() < deadline, (tmp_path / "bot.log").read_text()[-3000:]
            assert bot.returncode is None, "the bot process died on its own"
            await asyncio.sleep(0.01)
        bot.send_signal(signal.SIGKILL)
        await bot.wait()
    finally:
        if bot.returncode is None:
            bot.kill()
            await bot.wait()
    await asyncio.sleep(0.3)  # let requests already on the wire land
    at_kill = sum((await delivered(control)).values())
    recorded = await sent_in_db(db_path)
    unrecorded = at_kill - recorded
    assert 0 < at_kill < READERS, "the kill must land mid-broadcast"

    bot = await start_bot(config, api_url, log)
    try:
        deadline = time.monotonic() + 30
        while len(await delivered(control)) < READERS:
            assert time.monotonic() < deadline, "not every reader got the item after the restart"
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # anything more would be a double
    finally:
        bot.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(bot.wait(), 15)
        except TimeoutError:
            bot.kill()
            await bot.wait()

    counts = await delivered(control)
    doubles = sum(n - 1 for n in counts.values())
    print(
        f"\ncrash test: {at_kill} delivered at the kill, {recorded} recorded, {unrecorded} unrecorded;"
        f" {doubles} delivered twice"
    )
    assert set(counts) == set(range(FIRST_READER, FIRST_READER + READERS))
    assert doubles <= unrecorded
    assert await sent_in_db(db_path) == READERS
