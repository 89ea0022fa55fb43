"""Several workers on one database: leases, shard claims, the budget split, source claims, roles."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.app import build_application, running
from bot.cli import main
from bot.config import Settings, SourceSettings, WorkerSettings
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.ratelimit import Limiter, Rates
from bot.emulator import EmulatorClient
from bot.items import FeedItem
from bot.metrics import Metrics
from bot.models import Article
from bot.news.fetcher import FetchError
from bot.storage import articles, chats, leases, open_database, outbox, sources, subscriptions, watch
from bot.storage.interface import Database
from bot.storage.outbox import ClaimedRow, Shards
from bot.storage.postgres import PostgresDatabase
from bot.supervisor import Supervisor
from bot.watching import Watcher
from bot.workers import LeaseKeeper, Roles, ShardBalancer, Workers, forget_dead
from jobs import ingest as ingest_job
from tests.conftest import FeedItemSpec, FeedServer
from tests.test_e2e_first_push import _wait_for_poll as wait_for_polls

TOKEN = "123456:TEST-token_abc"


async def test_a_lease_has_one_holder_until_it_expires(db: Database) -> None:
    assert await leases.acquire(db, name="shard:1", holder="a", ttl=15, now=1000.0)
    assert not await leases.acquire(db, name="shard:1", holder="b", ttl=15, now=1010.0)
    # The holder renews; the other still cannot take it.
    assert await leases.renew(db, names=["shard:1"], holder="a", ttl=15, now=1010.0) == {"shard:1"}
    assert not await leases.acquire(db, name="shard:1", holder="b", ttl=15, now=1020.0)
    # No heartbeat: after expiry the other takes it, and the old holder's renewal fails.
    assert await leases.acquire(db, name="shard:1", holder="b", ttl=15, now=1026.0)
    assert await leases.renew(db, names=["shard:1"], holder="a", ttl=15, now=1027.0) == set()
    assert [(lease.name, lease.holder) for lease in await leases.live(db, prefix="shard:", now=1027.0)] == [
        ("shard:1", "b")
    ]
    await leases.release(db, names=["shard:1"], holder="b")
    assert await leases.acquire(db, name="shard:1", holder="a", ttl=15, now=1028.0)


async def test_a_keeper_stops_its_work_before_the_lease_can_expire(db: Database) -> None:
    clock = [0.0]
    keeper = LeaseKeeper(db, holder="a", ttl=15, clock=lambda: clock[0])
    lost: list[set[str]] = []
    keeper.on_lost.append(lost.append)
    assert await keeper.acquire("updates")
    clock[0] = 11.9
    assert keeper.held("updates")
    clock[0] = 12.0  # 80% of the lease time without a renewal: the work stops
    keeper.expire()
    assert not keeper.held("updates") and lost == [{"updates"}]


async def test_the_heartbeat_renews_leases_while_every_pooled_connection_is_busy(postgres_url: str) -> None:
    db = await PostgresDatabase.open(postgres_url, pool_size=2)
    lease_db = await db.dedicated()
    keeper = LeaseKeeper(lease_db, holder="a", ttl=15)
    try:
        assert await keeper.acquire("shard:1")
        busy, release = asyncio.Event(), asyncio.Event()
        holding = 0

        async def hold() -> None:
            nonlocal holding
            async with db.transaction(queued=False):
                holding += 1
                if holding == 2:
                    busy.set()
                await release.wait()

        held = [asyncio.create_task(hold()) for _ in range(2)]
        await busy.wait()  # the pool has no connection left for anyone
        # The renewal lands on the keeper's own connection: the lease is still this worker's.
        await asyncio.wait_for(keeper.renew(), 10)
        assert keeper.held("shard:1")
        now = await leases.server_time(lease_db)
        [lease] = await leases.live(lease_db, prefix="shard:", now=now)
        assert lease.holder == "a" and lease.expires_at > now + 10
        release.set()
        await asyncio.gather(*held)
    finally:
        await lease_db.close()
        await db.close()


async def test_the_heartbeat_connection_cut_off_by_the_server_is_opened_again(postgres_url: str) -> None:
    db = await open_database(postgres_url)
    assert isinstance(db, PostgresDatabase)
    lease_db = await db.dedicated()
    keeper = LeaseKeeper(lease_db, holder="a", ttl=15)
    try:
        assert await keeper.acquire("updates")
        pid = await lease_db.scalar("SELECT pg_backend_pid()")
        await db.scalar("SELECT pg_terminate_backend(?)", (pid,))
        # The beat that finds the connection gone may fail; the next one runs on a new connection.
        with contextlib.suppress(Exception):
            await keeper.renew()
        await keeper.renew()
        assert keeper.held("updates")
        assert await lease_db.scalar("SELECT pg_backend_pid()") != pid
    finally:
        await lease_db.close()
        await db.close()
    # Closed at stop: nothing of the heartbeat stays connected.
    check = await open_database(postgres_url)
    try:
        left = await check.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'newsbot-leases'"
        )
    finally:
        await check.close()
    assert left == 0


async def test_two_claims_of_one_due_source_poll_it_once(db: Database) -> None:
    assert await sources.add_source(
        db,
        source_id="wire",
        name="Wire",
        url="https://example.com/feed",
        kind="feed",
        interval=60,
        options={},
        now=1000.0,
    )
    first = await sources.claim_poll(db, source_id="wire", now=2000.0, seconds=300.0)
    second = await sources.claim_poll(db, source_id="wire", now=2000.0, seconds=300.0)
    assert (first, second) == (True, False)
    # A worker killed mid-poll: another takes the source once the claim has run out.
    assert await sources.claim_poll(db, source_id="wire", now=2301.0, seconds=300.0)


async def test_a_worker_whose_clock_runs_ahead_does_not_poll_a_source_early(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_now = await leases.server_time(db)
    assert await sources.add_source(
        db,
        source_id="wire",
        name="Wire",
        url="https://example.com/feed",
        kind="feed",
        interval=60,
        options={},
        now=server_now,
    )
    due = server_now + 60.0  # by the database's clock
    await db.write("UPDATE sources SET next_poll_at = ? WHERE id = 'wire'", (due,))
    # This machine's clock is two minutes ahead: to it, the source is overdue.
    ahead = SimpleNamespace(time=lambda: time.time() + 120.0, perf_counter=time.perf_counter)
    monkeypatch.setattr(ingest_job, "time", ahead)
    polled: list[str] = []

    async def poll_source(*args: Any, **kwargs: Any) -> None:
        polled.append("wire")
        raise AssertionError("polled a source a minute before it was due")

    monkeypatch.setattr(ingest_job, "poll_source", poll_source)
    context = SimpleNamespace(
        job=SimpleNamespace(data="wire", schedule_removal=lambda: None, next_t=None),
        db=db,
        bot_data=SimpleNamespace(workers=object(), metrics=None),
        settings=SimpleNamespace(workers=SimpleNamespace(poll_claim_seconds=300)),
    )
    # Run as the scheduler would, on time by this machine's clock.
    await ingest_job._poll_due(context, time.time() + 120.0)  # type: ignore[arg-type]  # the fields it reads
    assert polled == []
    assert await db.scalar("SELECT next_poll_at FROM sources WHERE id = 'wire'") == pytest.approx(due)


@pytest.mark.parametrize("skew", [3600.0, -3600.0])
async def test_a_poll_by_a_worker_whose_clock_is_off_sets_the_next_one_on_the_databases_clock(
    db: Database, monkeypatch: pytest.MonkeyPatch, skew: float
) -> None:
    server_now = await leases.server_time(db)
    for source_id in ("up", "down"):
        assert await sources.add_source(
            db,
            source_id=source_id,
            name=source_id,
            url=f"https://example.com/{source_id}",
            kind="feed",
            interval=60,
            options={},
            now=server_now,
        )
    # This machine's clock is an hour ahead of (or behind) the database's.
    off = SimpleNamespace(time=lambda: time.time() + skew, perf_counter=time.perf_counter)
    monkeypatch.setattr(ingest_job, "time", off)

    async def fetch(url: str, **kwargs: Any) -> SimpleNamespace:
        if url.endswith("/down"):
            raise FetchError("connection refused")
        return SimpleNamespace(not_modified=True)

    for source_id in ("up", "down"):
        context = SimpleNamespace(
            job=SimpleNamespace(data=source_id, schedule_removal=lambda: None, next_t=None),
            db=db,
            fetcher=SimpleNamespace(fetch=fetch),
            bot_data=SimpleNamespace(workers=object(), metrics=None, dispatcher=None),
            settings=SimpleNamespace(
                workers=SimpleNamespace(poll_claim_seconds=300),
                bot=SimpleNamespace(tz=ZoneInfo("UTC"), admins=[]),
                ingest=SimpleNamespace(max_backoff=600, fetch_articles=False),
            ),
        )
        await ingest_job._poll_due(context, off.time())  # type: ignore[arg-type]  # the fields it reads
    after = await leases.server_time(db)
    up = await sources.get_source(db, source_id="up")
    down = await sources.get_source(db, source_id="down")
    assert up is not None and up.next_poll_at is not None
    assert down is not None and down.next_poll_at is not None
    # Due again one interval on (after a failure: its back-off, 120 s) by the clock claims use.
    assert server_now + 60 <= up.next_poll_at <= after + 60
    assert server_now + 120 <= down.next_poll_at <= after + 120
    # So the next worker, whatever its clock, claims it then: not an hour late, nor an hour early.
    assert not await sources.claim_poll(db, source_id="up", seconds=300, now=after + 50)
    assert await sources.claim_poll(db, source_id="up", seconds=300, now=after + 61)


def test_shards_split_the_chats_and_the_budget() -> None:
    a, b = Shards(16, frozenset(range(8))), Shards(16, frozenset(range(8, 16)))
    chats = [-1001234567890, -42, 7, 123456789, 16, 0]
    assert all(a.owns(c) != b.owns(c) for c in chats)
    limiters = [Limiter(Rates(30.0, 1.0, 20.0)) for _ in range(2)]
    for limiter, shards in zip(limiters, (a, b), strict=True):
        limiter.set_global_rate(30.0 * len(shards.held) / 16)
    assert sum(limiter.rates.global_per_second for limiter in limiters) == 30.0


async def test_release_of_one_shard_leaves_the_others_sending(db: Database) -> None:
    # Nothing queued: the statements run on both back ends and touch no row.
    assert await outbox.release_claims(db, shards=Shards(16, frozenset({3}))) == 0
    assert await outbox.active_articles(db, now=0.0, shards=Shards(16, frozenset({3}))) == []
    # (outbox.claim's own SQL is being ported to PostgreSQL elsewhere; its shard term is the same.)


def test_a_role_other_than_all_needs_postgresql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NEWSBOT_TOKEN", TOKEN)
    monkeypatch.setenv("NEWSBOT_DB", str(tmp_path / "news.db"))
    assert main(["run", "--role", "dispatch"]) == 2
    assert "needs a PostgreSQL database" in capsys.readouterr().err


def test_an_unknown_role_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--role", "everything"])
    assert "invalid choice" in capsys.readouterr().err


def updates_only() -> Roles:
    return Roles(updates=True, ingest=False, dispatch=False, shared=True)


def watcher(db: Database, workers: Workers | None, roles: Roles, **running: Any) -> Watcher:
    options: dict[str, Any] = {
        "dispatcher_task": lambda: None,
        "pollers_running": lambda: False,
        "updates_running": lambda: False,
    }
    options.update(running)
    return Watcher(
        db, Metrics(lambda: None), supervisor=Supervisor(ignore), roles=roles, workers=workers, **options
    )


async def ignore(text: str) -> None:
    pass


async def test_one_elected_worker_polls_and_another_takes_over_when_it_cannot_renew(
    postgres_url: str,
) -> None:
    settings = WorkerSettings(role="updates", lease_seconds=3.0)
    ttl = settings.lease_seconds
    shared, own = await open_database(postgres_url), await open_database(postgres_url)
    polling: dict[str, bool] = {"a": False, "b": False}
    events: list[str] = []
    elected_at: dict[str, float] = {}
    started = {"a": asyncio.Event(), "b": asyncio.Event()}
    stopped = asyncio.Event()

    def poller(
        name: str,
    ) -> tuple[Callable[[], Coroutine[Any, Any, None]], Callable[[], Coroutine[Any, Any, None]]]:
        async def start() -> None:
            assert not any(polling.values()), f"{name} elected while another still polls: {polling}"
            polling[name] = True
            events.append(f"{name} polls")
            elected_at[name] = await leases.server_time(shared)
            started[name].set()

        async def stop() -> None:
            polling[name] = False
            events.append(f"{name} stops")
            stopped.set()

        return start, stop

    a = Workers(own, settings, updates_only(), holder="a")
    b = Workers(shared, settings, updates_only(), holder="b")
    a.elect_poller(*poller("a"))
    b.elect_poller(*poller("b"))
    runs = [asyncio.create_task(a.run())]
    try:
        await asyncio.wait_for(started["a"].wait(), 10)
        runs.append(asyncio.create_task(b.run()))
        for _ in range(3):  # b's heartbeats find "updates" held: it stands by, and is healthy so
            await b.step()
        assert polling == {"a": True, "b": False}
        for worker in (a, b):
            assert (await watcher(shared, worker, updates_only()).health()).ok

        await own.close()  # a loses its database: it can no longer renew
        await asyncio.wait_for(stopped.wait(), 10)  # and stops polling before its lease can expire
        [last] = await leases.live(shared, prefix="updates", now=0.0)
        assert last.holder == "a"
        health = await watcher(shared, a, updates_only()).health()
        assert [p.split(" (")[0] for p in health.problems] == [
            "updates: no worker is known to poll Telegram",
            "leases: cannot renew",
        ]
        await asyncio.wait_for(started["b"].wait(), 10)
        assert (await watcher(shared, b, updates_only()).health()).ok
    finally:
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
        await b.stop()
        await shared.close()

    assert events == ["a polls", "a stops", "b polls"]
    # b took over once a's lease had expired on the database's clock, and within one lease time.
    assert last.expires_at <= elected_at["b"] < last.expires_at + ttl


async def test_health_judges_a_worker_by_its_roles(db: Database) -> None:
    ingest = Roles(updates=False, ingest=True, dispatch=False, shared=True)
    workers = Workers(db, WorkerSettings(role="ingest"), ingest, holder="i")
    # No dispatcher and no updates on an ingest worker: healthy while its pollers run.
    assert (await watcher(db, workers, ingest, pollers_running=lambda: True).health()).ok
    assert (await watcher(db, workers, ingest).health()).problems == (
        "ingest: the job queue that polls the sources is not running",
    )
    dispatch = Roles(updates=False, ingest=False, dispatch=True, shared=True)
    assert (await watcher(db, workers, dispatch, pollers_running=lambda: True).health()).problems == (
        "delivery: the dispatcher is not running",
    )
    # A webhook replica (no election): healthy while its webhook server runs.
    webhook = Workers(db, WorkerSettings(role="updates"), updates_only(), holder="w")
    assert (await watcher(db, webhook, updates_only(), updates_running=lambda: True).health()).ok
    assert (await watcher(db, webhook, updates_only()).health()).problems == (
        "updates: the webhook server is not running",
    )


async def test_the_periodic_jobs_forget_leases_of_workers_gone_for_a_day(db: Database) -> None:
    now = await leases.server_time(db)
    assert await leases.acquire(db, name="dispatch-worker:gone", holder="gone", ttl=15, now=now - 2 * 86400)
    assert await leases.acquire(db, name="dispatch-worker:late", holder="late", ttl=15, now=now - 3600)
    assert await leases.acquire(db, name="dispatch-worker:here", holder="here", ttl=15, now=now)
    assert await forget_dead(db) == 1
    # The one an hour late stays: a worker whose database was away that long may still come back.
    assert [lease.holder for lease in await leases.live(db, prefix="dispatch-worker:", now=0.0)] == [
        "here",
        "late",
    ]


async def test_two_dispatch_workers_split_the_shards_and_leave_headroom_for_replies(db: Database) -> None:
    limiters = [Limiter(Rates(30.0, 1.0, 20.0)) for _ in range(2)]
    dispatchers = [
        Dispatcher(
            db=db,
            send=never,
            limiter=limiter,
            stale_after=3600.0,
            give_up_after=3600.0,
            shards=Shards(16, frozenset()),
        )
        for limiter in limiters
    ]
    balancers = [
        ShardBalancer(
            db,
            LeaseKeeper(db, holder=name, ttl=15),
            count=16,
            dispatcher=dispatcher,
            limiter=limiter,
            global_per_second=30.0,
            reply_headroom=0.1,
        )
        for name, dispatcher, limiter in zip("ab", dispatchers, limiters, strict=True)
    ]
    for balancer in [*balancers, *balancers]:  # a takes all 16 first, then gives b its half
        await balancer.balance()
    a, b = (balancer.held() for balancer in balancers)
    assert (len(a), len(b), a & b) == (8, 8, frozenset())
    # Together they send at 90% of the limit: the rest is the replies' headroom.
    assert sum(limiter.rates.global_per_second for limiter in limiters) == pytest.approx(27.0)


async def never(row: ClaimedRow, article: Article) -> int:
    raise AssertionError("nothing is queued")


async def test_two_ingest_workers_tell_the_admins_once_that_a_source_fails_and_once_that_it_recovered(
    postgres_url: str,
    feed_server: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
) -> None:
    admin = 9101
    source = SourceSettings(id="site", name="Test Site", url=feed_server.url("/rss.xml"), interval=1)
    settings = make_settings(source, admins=(admin,))
    settings = replace(
        settings,
        bot=replace(settings.bot, db=postgres_url),
        ingest=replace(settings.ingest, max_backoff=1.0, fetch_articles=False),
        workers=replace(settings.workers, role="ingest"),
    )
    feed_server.set("/rss.xml", "down", status=503)
    await control.send_text(admin, admin, "/start")  # the admin's chat exists; nobody answers it here
    polls = "/rss.xml"

    # The first worker sees the failure and tells. A second starts (both fire the poll every
    # second; the claim gives each poll to one) and the first stops, so the failure goes on in
    # the second's polls, which must not tell again; the second's good poll tells the recovery.
    async with contextlib.AsyncExitStack() as first:
        await first.enter_async_context(running(build_application(settings)))
        await control.wait_for_messages(admin, 1, timeout=10)
        async with running(build_application(settings)) as second:
            await wait_for_polls(feed_server, polls, feed_server.hits[polls] + 2)
            await first.aclose()
            await wait_for_polls(feed_server, polls, feed_server.hits[polls] + 3)
            feed_server.set_rss(polls, [FeedItemSpec("1", "Back", feed_server.url("/news/1"))])
            await control.wait_for_messages(admin, 2, timeout=10)
            await wait_for_polls(feed_server, polls, feed_server.hits[polls] + 3)
            assert second.job_queue is not None and second.job_queue.get_jobs_by_name("forget-dead-leases")

    texts = [m["text"] for m in await control.messages(admin)]
    assert [t.split(":")[0] for t in texts] == [
        "⚠️ Source Test Site (site) is failing",
        "✅ Source Test Site (site) has recovered.",
    ]


async def queue_broadcast(db: Database, *, readers: int, stories: int) -> None:
    """``readers`` private chats subscribed to everything, and ``stories`` new items for them."""
    now = time.time()
    assert await sources.add_source(
        db,
        source_id="wire",
        name="Wire",
        url="https://example.com/feed",
        kind="feed",
        interval=60,
        options={},
        now=now,
    )
    for chat_id in range(1, readers + 1):
        await chats.remember_chat(
            db, chat_id=chat_id, chat_type="private", title=None, username=None, language=None, now=now
        )
        await subscriptions.subscribe(db, chat_id=chat_id, kind="all", now=now)
    items = [
        FeedItem(
            guid=f"g{n}", url=f"https://example.com/{n}", title=f"Story {n}", published=datetime.now(UTC)
        )
        for n in range(stories)
    ]
    stored = await articles.store_items(
        db, source_id="wire", items=items, default_category=None, breaking=False, push=True, now=now
    )
    assert stored.queued == readers * stories


class DispatchWorker:
    """One dispatch worker of a test: a dispatcher, its shard balancer, and what it sent."""

    def __init__(self, db: Database, name: str, sent: list[tuple[int, int, str]], ttl: float) -> None:
        self.name = name
        self._sent = sent
        limiter = Limiter(Rates(global_per_second=2000, chat_per_second=1000, group_per_minute=60_000))
        self.dispatcher = Dispatcher(
            db=db,
            send=self.send,
            limiter=limiter,
            stale_after=3600.0,
            give_up_after=3600.0,
            shards=Shards(16, frozenset()),
        )
        self.keeper = LeaseKeeper(db, holder=name, ttl=ttl)
        self.balancer = ShardBalancer(
            db, self.keeper, count=16, dispatcher=self.dispatcher, limiter=limiter, global_per_second=2000
        )
        self.task: asyncio.Task[None] | None = None

    async def send(self, row: ClaimedRow, article: Article) -> int:
        await asyncio.sleep(0)  # a request's await: the other worker sends meanwhile
        self._sent.append((row.chat_id, article.id, self.name))
        return len(self._sent)

    def start(self) -> None:
        self.task = asyncio.create_task(self.dispatcher.run())

    async def stop_sending(self) -> None:
        await self.dispatcher.stop()
        assert self.task is not None
        await self.task


@pytest.mark.parametrize("leaves", ["released", "expired"])
async def test_two_dispatch_workers_send_each_row_once_and_one_takes_over_when_the_other_stops(
    db: Database, leaves: str
) -> None:
    readers, stories = 48, 5
    await queue_broadcast(db, readers=readers, stories=stories)
    sent: list[tuple[int, int, str]] = []
    ttl = 2.0  # an expired lease is free this soon
    a, b = DispatchWorker(db, "a", sent, ttl), DispatchWorker(db, "b", sent, ttl)
    for worker in (a, b, a, b):  # a takes all 16 shards first, then gives b its half
        await worker.balancer.balance()
    assert len(a.balancer.held()) == len(b.balancer.held()) == 8
    b_shards = b.balancer.held()
    a.start()
    b.start()
    try:
        while len(sent) < readers * stories // 3:
            await asyncio.sleep(0.01)
        await a.stop_sending()  # a stops mid-broadcast, its sends recorded
        if leaves == "released":
            await a.balancer.stop()  # a clean stop gives its leases back at once
        # b's heartbeats take a's shards as soon as they are free (released, or expired).
        while len(b.balancer.held()) < 16:
            await b.keeper.renew()
            await b.balancer.balance()
            await asyncio.sleep(ttl / 10)
        while len(sent) < readers * stories:
            await asyncio.sleep(0.01)
        await b.stop_sending()
    finally:
        for worker in (a, b):
            if worker.task is not None and not worker.task.done():
                await worker.stop_sending()
    figures = await watch.queue_figures(db, now=time.time())
    assert {state: n for state, n in figures.by_state.items() if n} == {"sent": readers * stories}

    # Every row once; each chat by one worker at a time (a, then b after the takeover), in order.
    assert sorted((chat, article) for chat, article, _ in sent) == sorted(
        {(chat, article) for chat, article, _ in sent}
    )
    assert len(sent) == readers * stories
    shards = Shards(16, b_shards)
    assert any(name == "a" for *_, name in sent)
    assert any(name == "b" and not shards.owns(chat) for chat, _, name in sent)  # b took a's chats over
    for chat in range(1, readers + 1):
        mine = [(article, name) for c, article, name in sent if c == chat]
        names = [name for _, name in mine]
        assert names == sorted(names), f"chat {chat} went back and forth between workers: {names}"
        if shards.owns(chat):
            assert set(names) == {"b"}
        assert [article for article, _ in mine] == sorted(article for article, _ in mine)
