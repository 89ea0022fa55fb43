"""Chaos: three dispatch and two ingest workers on one PostgreSQL, one of each killed with SIGKILL.

Every worker is a real ``newsbot run --role ...`` process; Telegram is the emulator in its own
process with its limits on, at the paid-broadcast ceiling. The feed gains one item; the ingest
worker whose poll the feed server is holding is killed, and the other must poll it once the
dead worker's claim lapses. A third of the way through the 10,000-reader broadcast one dispatch
worker is killed; the others must take its shards over when its leases expire and send what it
left, doubling at most the sends it had not recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TextIO

import pytest
from aiohttp import web

from bot.delivery.dispatcher import FLUSH_EVERY
from bot.delivery.ratelimit import Rates
from bot.emulator import EmulatorClient
from bot.storage import open_database
from bot.storage.interface import Database
from tests.conftest import TOKEN, FeedItemSpec, FeedServer

READERS = 10_000
FIRST_READER = 1_000_000
SHARDS = 16
LEASE = 3.0  # seconds: a dead worker's work is taken over this soon
POLL_CLAIM = 10.0  # seconds: the least a poll claim may be (bot/config.py)
PAID = 1000.0  # messages a second: Telegram's paid-broadcast ceiling, and the emulator's limit
TITLE = "Chaos bulletin"
ROOT = Path(__file__).resolve().parent.parent


class HoldingFeed(FeedServer):
    """The feed server, able to hold one poll's answer so the test can kill the worker asking."""

    def __init__(self) -> None:
        super().__init__()
        self.holding: asyncio.Future[str] | None = None  # the held poll's user agent, once it comes
        self.release = asyncio.Event()
        self.agents: list[str] = []

    def hold_next(self) -> asyncio.Future[str]:
        self.holding = asyncio.get_running_loop().create_future()
        self.release.clear()
        return self.holding

    async def _handle(self, request: web.Request) -> web.Response:
        agent = request.headers.get("User-Agent", "")
        self.agents.append(agent)
        if self.holding is not None and not self.holding.done():
            self.holding.set_result(agent)
            await self.release.wait()
        return await super()._handle(request)


@pytest.fixture
async def feed() -> AsyncIterator[HoldingFeed]:
    server = HoldingFeed()
    await server.start()
    try:
        yield server
    finally:
        server.release.set()
        await server.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Worker:
    """One bot process of a role, its log in a file."""

    def __init__(self, name: str, role: str, process: asyncio.subprocess.Process, log: Path) -> None:
        self.name = name
        self.role = role
        self.process = process
        self.log = log

    @property
    def pid(self) -> int:
        return self.process.pid

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} (pid {self.pid}, rc {self.process.returncode}) ---\n" + "\n".join(
            text.splitlines()[-lines:]
        )


class Cluster:
    """The emulator and the workers as processes; every one of them is killed on the way out."""

    def __init__(
        self, tmp_path: Path, postgres_url: str, feed: HoldingFeed, *, readers: int = READERS
    ) -> None:
        self.tmp = tmp_path
        self.url = postgres_url
        self.feed = feed
        self.readers = readers
        self.port = free_port()
        self.api_url = f"http://127.0.0.1:{self.port}"
        self.emulator: asyncio.subprocess.Process | None = None
        self.workers: list[Worker] = []
        self._logs: list[TextIO] = []
        self.config = tmp_path / "newsbot.toml"
        self.config.write_text(
            '[bot]\ntimezone = "UTC"\nlog_level = "INFO"\n\n'
            "[delivery]\npaid_broadcast = true\n\n"
            "[ingest]\nfetch_articles = false\n\n"
            f'[[sources]]\nid = "wire"\nname = "Wire"\nurl = "{feed.url("/rss.xml")}"\ninterval = 1\n'
        )

    def _log(self, name: str) -> tuple[Path, TextIO]:
        path = self.tmp / f"{name}.log"
        handle = path.open("a")
        self._logs.append(handle)
        return path, handle

    async def start_emulator(self) -> None:
        _, log = self._log("emulator")
        self.emulator = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.chaos_emulator",
            str(self.port),
            str(PAID),
            str(FIRST_READER),
            str(self.readers),  # the readers Telegram knows (an unknown chat is 'chat not found')
            cwd=ROOT,
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + 20
        async with EmulatorClient(self.api_url + "/control") as control:
            while True:
                with contextlib.suppress(Exception):
                    if await control.health():
                        return
                assert self.emulator.returncode is None, "the emulator process died at start-up"
                assert time.monotonic() < deadline, "the emulator did not answer within 20 s"
                await asyncio.sleep(0.1)

    async def start_worker(self, role: str, index: int) -> Worker:
        name = f"{role}-{index}"
        path, log = self._log(name)
        env = {
            **os.environ,
            "PTB_TIMEDELTA": "1",
            "NEWSBOT_TOKEN": TOKEN,
            "NEWSBOT_DB": self.url,
            "NEWSBOT_API_URL": self.api_url,
            "NEWSBOT_WORKERS__LEASE_SECONDS": str(LEASE),
            "NEWSBOT_WORKERS__SHARDS": str(SHARDS),
            "NEWSBOT_WORKERS__POLL_CLAIM_SECONDS": str(POLL_CLAIM),
            # The feed server tells the ingest workers apart by this.
            "NEWSBOT_INGEST__USER_AGENT": f"newsbot-chaos/{name}",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "run",
            "--config",
            str(self.config),
            "--role",
            role,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
        )
        worker = Worker(name, role, process, path)
        self.workers.append(worker)
        return worker

    def logs(self) -> str:
        return "\n".join(w.tail() for w in self.workers)

    def check_alive(self, *, except_: tuple[Worker, ...] = ()) -> None:
        for worker in self.workers:
            if worker not in except_:
                assert worker.process.returncode is None, f"{worker.name} died on its own\n{self.logs()}"

    async def kill(self, worker: Worker) -> float:
        """SIGKILL one worker; the wall-clock time of the kill."""
        worker.process.send_signal(signal.SIGKILL)
        killed_at = time.time()
        await worker.process.wait()
        return killed_at

    async def close(self) -> None:
        processes = [w.process for w in self.workers]
        if self.emulator is not None:
            processes.append(self.emulator)
        for process in processes:
            if process.returncode is None:
                process.kill()
        for process in processes:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(process.wait(), 10)
        for handle in self._logs:
            handle.close()


async def seed(url: str, *, readers: int = READERS) -> None:
    """The schema, and ``readers`` private readers subscribed to everything."""
    db = await open_database(url)
    now = time.time()
    try:
        async with db.transaction() as conn:
            chats = range(FIRST_READER, FIRST_READER + readers)
            await conn.executemany(
                "INSERT INTO chats (id, type, created_at, updated_at) VALUES (?, 'private', ?, ?)",
                [(r, now, now) for r in chats],
            )
            await conn.executemany(
                "INSERT INTO subscriptions (chat_id, kind, created_at) VALUES (?, 'all', ?)",
                [(r, now) for r in chats],
            )
    finally:
        await db.close()


async def shard_holders(db: Database) -> dict[str, set[int]]:
    """Live dispatch shard leases: holder -> its shards."""
    rows = await db.fetchall(
        "SELECT name, holder FROM leases WHERE name LIKE 'shard:%'"
        " AND expires_at >= EXTRACT(EPOCH FROM clock_timestamp())"
    )
    held: dict[str, set[int]] = {}
    for row in rows:
        held.setdefault(row["holder"], set()).add(int(row["name"].split(":")[1]))
    return held


def holder_of(worker: Worker, holders: dict[str, set[int]]) -> str | None:
    return next((h for h in holders if h.split(":")[1] == str(worker.pid)), None)


async def lease_expiry(db: Database, holder: str, shards: set[int]) -> float:
    """When the first of these shard leases of ``holder`` expires (the server's clock: this machine's)."""
    return float(
        await db.scalar(
            "SELECT MIN(expires_at) FROM leases WHERE holder = ? AND name = ANY(?)",
            (holder, [f"shard:{s}" for s in shards]),
        )
    )


async def takeover_at(db: Database, victim: str, shards: set[int]) -> float:
    """When another worker first took one of these shards (a takeover resets ``acquired_at``)."""
    rows = await db.fetchall(
        "SELECT holder, acquired_at FROM leases WHERE name = ANY(?)", ([f"shard:{s}" for s in shards],)
    )
    assert all(row["holder"] != victim for row in rows), "the killed worker still holds shards"
    return min(float(row["acquired_at"]) for row in rows)


async def sent_in_shards(db: Database, shards: set[int]) -> int:
    return int(
        await db.scalar(
            "SELECT COUNT(*) FROM outbox WHERE state = 'sent' AND chat_id % ? = ANY(?)",
            (SHARDS, sorted(shards)),
        )
    )


class Inbox:
    """The emulator's delivered messages, read incrementally (a full read is 10,000 messages)."""

    def __init__(self, control: EmulatorClient) -> None:
        self._control = control
        self._seq = 0
        self.bulletins: list[dict[str, Any]] = []

    async def read(self) -> list[dict[str, Any]]:
        for message in await self._control.messages(since=self._seq):
            self._seq = max(self._seq, int(message["seq"]))
            if TITLE in (message["text"] or ""):
                self.bulletins.append(message)
        return self.bulletins

    def chats(self) -> Counter[int]:
        return Counter(int(m["chat_id"]) for m in self.bulletins)


def busiest_window(times: list[float], period: float = 1.0) -> int:
    """The most events in any ``period``-long window."""
    times = sorted(times)
    best = start = 0
    for end, moment in enumerate(times):
        while times[start] <= moment - period:
            start += 1
        best = max(best, end - start + 1)
    return best


async def state(db: Database) -> str:
    """The outbox by state and the live leases, for a failure's message."""
    rows = await db.fetchall("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state ORDER BY state")
    leases = await db.fetchall("SELECT name, holder, expires_at FROM leases ORDER BY name")
    now = float(await db.scalar("SELECT EXTRACT(EPOCH FROM clock_timestamp())"))
    return (
        "outbox: " + ", ".join(f"{r['state']} {r['n']}" for r in rows) + "\nleases: "
        + ", ".join(f"{r['name']}={r['holder'].split(':')[1]}({r['expires_at'] - now:+.1f}s)" for r in leases)
    )


async def wait_for(
    what: str, cluster: Cluster, db: Database, check: Any, timeout: float, **alive: Any
) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        cluster.check_alive(**alive)
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{await state(db)}\n{cluster.logs()}")
        await asyncio.sleep(0.2)


@pytest.mark.timeout(240)  # 75 s here; room for a two-core machine busier still
async def test_killed_workers_lose_nothing_and_stay_within_limits(
    tmp_path: Path, postgres_url: str, feed: HoldingFeed
) -> None:
    began = time.time()
    old = FeedItemSpec(guid="old", title="Yesterday's news", link="https://news.example/old")
    feed.set_rss("/rss.xml", [old])
    await seed(postgres_url)
    cluster = Cluster(tmp_path, postgres_url, feed)
    db = await open_database(postgres_url)
    try:
        await cluster.start_emulator()
        async with EmulatorClient(cluster.api_url + "/control") as control:
            readers_at = time.time()
            ingest = [await cluster.start_worker("ingest", i) for i in range(2)]
            dispatch = [await cluster.start_worker("dispatch", i) for i in range(3)]

            async def seeded() -> bool:
                return bool(await db.scalar("SELECT seeded FROM sources WHERE id = 'wire'"))

            async def balanced() -> bool:
                holders = await shard_holders(db)
                counts = [len(holders.get(holder_of(w, holders) or "", ())) for w in dispatch]
                return sum(counts) == SHARDS and min(counts) >= 1 and max(counts) <= -(-SHARDS // 3)

            await wait_for("the first poll (the backlog)", cluster, db, seeded, 30)
            await wait_for("three dispatch workers sharing the shards", cluster, db, balanced, 30)

            # The feed gains an item; the worker whose poll of it is held is killed mid-poll.
            ready_at = time.time()
            held = feed.hold_next()
            feed.set_rss(
                "/rss.xml", [FeedItemSpec(guid="new", title=TITLE, link="https://news.example/new"), old]
            )
            agent = await asyncio.wait_for(held, 30)
            polling = next(w for w in ingest if agent.endswith(w.name))
            await cluster.kill(polling)
            feed.release.set()
            inbox = Inbox(control)

            async def a_third() -> bool:
                return len(await inbox.read()) >= READERS // 3

            await wait_for("a third of the broadcast", cluster, db, a_third, 40, except_=(polling,))

            holders = await shard_holders(db)
            victim = max(dispatch, key=lambda w: len(holders.get(holder_of(w, holders) or "", ())))
            victim_holder = holder_of(victim, holders)
            assert victim_holder is not None
            victim_shards = holders[victim_holder]
            expiry = min(await lease_expiry(db, victim_holder, victim_shards), time.time() + 2.0)
            killed_at = await cluster.kill(victim)
            # What reached Telegram before the kill, against what the victim had recorded as sent,
            # read just before its leases expire (nobody else sends these shards until then), so
            # that the sends it left on the wire have landed.
            await asyncio.sleep(max(0.3, expiry - 0.3 - time.time()))
            assert time.time() < expiry, "the victim's leases expired before its sends were counted"
            await inbox.read()
            reached = sum(1 for chat in inbox.chats() if chat % SHARDS in victim_shards)
            unrecorded = reached - await sent_in_shards(db, victim_shards)

            async def everyone() -> bool:
                await inbox.read()
                return len(inbox.chats()) >= READERS

            await wait_for("every reader's item", cluster, db, everyone, 50, except_=(polling, victim))
            await asyncio.sleep(1.5)  # anything more would be a double
            await inbox.read()
            stats = await control.stats()
            taken_at = await takeover_at(db, victim_holder, victim_shards)
    finally:
        await cluster.close()
        await db.close()

    counts = inbox.chats()
    doubled = {chat: n for chat, n in counts.items() if n > 1}
    doubles = sum(n - 1 for n in doubled.values())
    times = [float(m["t"]) for m in inbox.bulletins]
    per_chat: dict[int, list[float]] = {}
    for message in inbox.bulletins:
        per_chat.setdefault(int(message["chat_id"]), []).append(float(message["t"]))
    busiest_chat = max(busiest_window(t) for t in per_chat.values())
    taken_over = [
        float(m["t"])
        for m in inbox.bulletins
        if m["chat_id"] % SHARDS in victim_shards and m["t"] >= taken_at
    ]
    takeover = min(taken_over) - killed_at if taken_over else float("nan")
    # The victim's share of the paid ceiling: the limiter never has more than this many sends in
    # flight or answered within one second, and an answered send is recorded FLUSH_EVERY after it
    # (plus one transaction), so no more than this can have reached Telegram unrecorded.
    share = Rates(PAID * len(victim_shards) / SHARDS, 1.0, 20.0)
    bound = share.global_per_window
    print(
        f"\nchaos: {len(counts)} readers, {len(times)} messages, {doubles} doubles"
        f" ({unrecorded} unrecorded at the kill, bound {bound}: {FLUSH_EVERY} s of flush at"
        f" {share.global_per_second:.0f}/s within a 1 s window);"
        f" killed {polling.name} mid-poll and {victim.name} (shards {sorted(victim_shards)});"
        f" shards re-leased {taken_at - killed_at:.2f} s and first sent {takeover:.2f} s after the"
        f" SIGKILL (lease {LEASE:.0f} s);"
        f" busiest second {busiest_window(times)} (limit {PAID:.0f}), busiest chat {busiest_chat};"
        f" 429s {stats['429']}; {len(times) / (max(times) - min(times)):.0f} messages/s."
        f" Seeding {readers_at - began:.0f} s, workers up {ready_at - readers_at:.0f} s,"
        f" poll to first send {min(times) - ready_at:.0f} s, broadcast {max(times) - min(times):.0f} s"
    )
    assert set(counts) == set(range(FIRST_READER, FIRST_READER + READERS))
    assert all(chat % SHARDS in victim_shards for chat in doubled), "only the killed worker's sends double"
    assert doubles <= unrecorded <= bound
    assert stats["429"] == 0, stats["429_by_scope"]
    assert busiest_window(times) <= PAID
    assert busiest_chat <= 1
    assert taken_over, "nobody sent the killed worker's shards"
