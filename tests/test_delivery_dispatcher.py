"""The dispatcher with a fake send over a real outbox, on each back end: fairness, staleness, quiet hours."""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import generate_latest
from telegram.error import NetworkError, RetryAfter

from bot.delivery.dispatcher import Dispatcher
from bot.delivery.ratelimit import Limiter, Rates
from bot.i18n import translator
from bot.metrics import Metrics
from bot.models import Article, DispatchCounters, OutboxStats
from bot.render.admin import stats_text
from bot.storage import outbox
from bot.storage.interface import Database, inserted_id
from bot.storage.outbox import ClaimedRow


@pytest.fixture
async def db(db: Database) -> Database:
    """The conftest database, on each back end, with the source the stories come from."""
    await db.write(
        "INSERT INTO sources (id, name, url, kind, interval, created_at)"
        " VALUES ('s', 'S', 'http://s', 'feed', 60, 0)"
    )
    return db


async def add_readers(db: Database, first: int, count: int, **settings: str) -> None:
    columns = "".join(f", {k}" for k in settings)
    marks = "".join(", ?" for _ in settings)
    async with db.transaction() as conn:
        await conn.executemany(
            f"INSERT INTO chats (id, type, created_at, updated_at{columns})"
            f" VALUES (?, 'private', 0, 0{marks})",
            [(i, *settings.values()) for i in range(first, first + count)],
        )
        await conn.executemany(
            "INSERT INTO subscriptions (chat_id, kind, value, created_at) VALUES (?, 'keyword', ?, 0)",
            [(i, f"tag{first}") for i in range(first, first + count)],
        )


async def publish(db: Database, tag: int, *, created_at: float | None = None) -> int:
    now = time.time() if created_at is None else created_at
    n = next(_serial)
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "INSERT INTO articles (source_id, guid, url, title, published_at, fetched_at)"
            " VALUES ('s', ?, ?, ?, ?, ?) RETURNING id",
            (f"g{n}", f"https://x/{n}", f"Story tag{tag}", now, now),
        )
        article_id = await inserted_id(cursor)
        assert article_id is not None
        await outbox.fan_out(
            conn, article_id=article_id, priority=0, category="", source="s", text=f"story tag{tag}", now=now
        )
    return article_id


_serial = itertools.count()


class FakeTelegram:
    def __init__(self, on_send: Callable[[int], None] = lambda n: None) -> None:
        self.sent: list[tuple[int, int]] = []  # (chat id, article id)
        self.batches: list[tuple[int, list[int]]] = []
        self._on_send = on_send

    async def send(self, row: ClaimedRow, article: Article) -> int:
        self.sent.append((row.chat_id, article.id))
        self._on_send(len(self.sent))
        return len(self.sent)

    async def send_batch(self, row: ClaimedRow, items: list[Article]) -> int:
        self.batches.append((row.chat_id, [a.id for a in items]))
        return 10_000 + len(self.batches)


def dispatcher(db: Database, fake: FakeTelegram, **kwargs: object) -> Dispatcher:
    limiter = Limiter(Rates(global_per_second=20_000, chat_per_second=1000, group_per_minute=60_000))
    options: dict[str, object] = {"stale_after": 3600.0, "give_up_after": 3600.0, "window": 100}
    options.update(kwargs)
    return Dispatcher(db=db, send=fake.send, send_batch=fake.send_batch, limiter=limiter, **options)  # type: ignore[arg-type]


async def run_until(d: Dispatcher, done: Callable[[], bool], timeout: float = 20) -> None:
    task = asyncio.create_task(d.run())
    try:
        for _ in range(int(timeout / 0.01)):
            if done():
                break
            await asyncio.sleep(0.01)
        else:
            raise TimeoutError("the dispatcher did not finish")
    finally:
        await d.stop()
        await task


async def states(db: Database) -> dict[str, int]:
    rows = await db.fetchall("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")
    return {r["state"]: r["n"] for r in rows}


async def test_a_small_articles_reader_does_not_wait_behind_a_big_broadcast(db: Database) -> None:
    await add_readers(db, 1, 3000)  # the big article's readers
    await add_readers(db, 100_000, 1)  # one reader of a small, later article
    big = await publish(db, 1)
    small_article: list[int] = []
    d: Dispatcher

    def on_send(n: int) -> None:
        if n == 50:  # the broadcast is well under way when the small item is published
            asyncio.get_running_loop().create_task(_publish_small())

    async def _publish_small() -> None:
        small_article.append(await publish(db, 100_000))
        d.wake()

    fake = FakeTelegram(on_send)
    d = dispatcher(db, fake)
    await run_until(d, lambda: len(fake.sent) >= 3001)

    position = next(i for i, (chat, _) in enumerate(fake.sent) if chat == 100_000)
    assert fake.sent[position][1] == small_article[0]
    assert position < 400, f"the small item went out only after {position} of 3000 broadcast messages"
    assert sum(1 for _, article in fake.sent if article == big) == 3000


async def test_rows_too_old_go_to_the_digest_or_are_dropped(db: Database) -> None:
    await add_readers(db, 1, 2)
    await add_readers(db, 3, 1, digest_time="08:00")
    await db.write("UPDATE chats SET digest_time = '08:00' WHERE id = 3")
    old = time.time() - 7200
    await publish(db, 1, created_at=old)
    await publish(db, 3, created_at=old)
    # The digest chat's row was fanned out to 'digest'; put it in the queue as if set before /digest.
    await db.write("UPDATE outbox SET state = 'queued'")

    fake = FakeTelegram()
    d = dispatcher(db, fake, stale_after=3600.0)
    task = asyncio.create_task(d.run())
    for _ in range(200):
        if (await states(db)).get("queued", 0) == 0:
            break
        await asyncio.sleep(0.01)
    await d.stop()
    await task

    assert fake.sent == []
    rows = await db.fetchall("SELECT chat_id, state FROM outbox ORDER BY chat_id")
    assert [(r["chat_id"], r["state"]) for r in rows] == [(1, "stale"), (2, "stale"), (3, "digest")]


async def test_quiet_hours_hold_items_then_send_them_as_one_list(db: Database) -> None:
    clock = [datetime(2026, 3, 10, 23, 0, tzinfo=UTC).timestamp()]  # inside 22:00-07:00 UTC
    await add_readers(db, 1, 1, quiet_start="22:00", quiet_end="07:00", timezone="UTC")
    await add_readers(db, 2, 1)  # no quiet hours
    await db.write(
        "INSERT INTO subscriptions (chat_id, kind, value, created_at) VALUES (1, 'keyword', 'tag2', 0)"
    )
    items = [await publish(db, 1, created_at=clock[0]), await publish(db, 2, created_at=clock[0])]
    items.append(await publish(db, 1, created_at=clock[0]))

    fake = FakeTelegram()
    d = dispatcher(db, fake, wall_clock=lambda: clock[0], stale_after=86400.0)
    task = asyncio.create_task(d.run())
    for _ in range(300):
        held = await db.fetchall("SELECT id FROM outbox WHERE chat_id = 1 AND last_error = 'quiet'")
        if len(held) == 3 and fake.sent:
            break
        d.wake()  # the fake wall clock stands still, so the dispatcher's own once-a-second look never comes
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("the items were not held")
    assert fake.sent == [(2, items[1])]  # the reader without quiet hours is not held up
    assert fake.batches == []

    clock[0] = datetime(2026, 3, 11, 7, 0, 1, tzinfo=UTC).timestamp()  # the quiet hours are over
    d.wake()
    for _ in range(300):
        if fake.batches:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    await d.stop()
    await task

    assert fake.sent == [(2, items[1])]
    assert len(fake.batches) == 1
    chat, listed = fake.batches[0]
    assert chat == 1 and sorted(listed) == sorted(items)
    rows = await db.fetchall("SELECT state, message_id FROM outbox WHERE chat_id = 1")
    assert {(r["state"], r["message_id"]) for r in rows} == {("sent", 10_001)}


async def test_a_small_article_cache_never_fails_a_row(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.delivery.dispatcher.ARTICLE_CACHE", 1)  # every other lookup evicts
    await add_readers(db, 1, 40)
    first, second = await publish(db, 1), await publish(db, 1)
    fake = FakeTelegram()
    d = dispatcher(db, fake)
    await run_until(d, lambda: len(fake.sent) >= 80)

    assert sorted(article for _, article in fake.sent) == [first] * 40 + [second] * 40
    assert await states(db) == {"sent": 80}


class SlowTelegram(FakeTelegram):
    """Sends that take a moment, so some are in flight when the dispatcher fails."""

    async def send(self, row: ClaimedRow, article: Article) -> int:
        await asyncio.sleep(0.002)
        return await super().send(row, article)


@pytest.mark.parametrize("step", ["record", "claim", "active_articles"])
async def test_a_dispatcher_restarted_after_a_database_error_sends_each_item_once(
    db: Database, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    await add_readers(db, 1, 300)
    article = await publish(db, 1)
    real = getattr(outbox, step)
    failed: list[int] = []

    async def failing_once(*args: object, **kwargs: object) -> object:
        if not failed and len(fake.sent) >= 50:  # mid-broadcast
            failed.append(len(fake.sent))
            raise sqlite3.OperationalError("database is locked")
        return await real(*args, **kwargs)

    monkeypatch.setattr(outbox, step, failing_once)
    fake = SlowTelegram()
    limiter = Limiter(Rates(global_per_second=250, chat_per_second=1, group_per_minute=20))
    d = Dispatcher(
        db=db, send=fake.send, limiter=limiter, stale_after=3600.0, give_up_after=3600.0, window=20
    )
    with pytest.raises(sqlite3.OperationalError):
        await asyncio.wait_for(d.run(), 20)
    assert 0 < len(fake.sent) < 300, "the failure should come mid-broadcast"

    # What a supervisor does: run the same dispatcher again.
    await run_until(d, lambda: len(fake.sent) >= 300)
    await asyncio.sleep(0.05)
    assert Counter(chat for chat, _ in fake.sent) == {chat: 1 for chat in range(1, 301)}
    assert {a for _, a in fake.sent} == {article}
    assert await states(db) == {"sent": 300}


async def test_a_429_for_one_chat_holds_that_chat_and_not_the_others(db: Database) -> None:
    await add_readers(db, 1, 20)
    await publish(db, 1)
    refused_at: list[float] = []
    sent_at: dict[int, float] = {}

    class Refusing(FakeTelegram):
        async def send(self, row: ClaimedRow, article: Article) -> int:
            if row.chat_id == 1 and not refused_at:
                refused_at.append(time.monotonic())
                raise RetryAfter(timedelta(seconds=1))
            sent_at[row.chat_id] = time.monotonic()
            return await super().send(row, article)

    fake = Refusing()
    limiter = Limiter(Rates(global_per_second=40, chat_per_second=1, group_per_minute=20))
    d = Dispatcher(db=db, send=fake.send, limiter=limiter, stale_after=3600.0, give_up_after=3600.0)
    await run_until(d, lambda: len(fake.sent) >= 20)

    # At 40/s the other 19 take about half a second, all within the refused chat's wait.
    assert all(sent_at[chat] < refused_at[0] + 0.9 for chat in range(2, 21)), "other chats waited"
    assert sent_at[1] >= refused_at[0] + 1.0  # the refused chat waited retry_after
    assert d.counters.flood_waits == 1
    assert await states(db) == {"sent": 20}


async def test_stopping_a_failed_dispatcher_still_records_what_it_sent(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_readers(db, 1, 300)
    await publish(db, 1)
    real = outbox.record
    failed: list[int] = []

    async def failing_once(*args: object, **kwargs: object) -> None:
        if len(failed) < 2 and len(fake.sent) >= 50:  # the step, then the run's last flush
            failed.append(len(fake.sent))
            raise sqlite3.OperationalError("database is locked")
        await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(outbox, "record", failing_once)
    fake = SlowTelegram()
    limiter = Limiter(Rates(global_per_second=250, chat_per_second=1, group_per_minute=20))
    d = Dispatcher(db=db, send=fake.send, limiter=limiter, stale_after=3600.0, give_up_after=3600.0)
    with pytest.raises(sqlite3.OperationalError):
        await asyncio.wait_for(d.run(), 20)
    await d.stop()  # shut down during the supervisor's back-off, before any restart

    counts = await states(db)
    assert counts["sent"] == len(fake.sent), "a sent message left unrecorded would be sent again"


async def test_an_idle_dispatcher_waits_instead_of_spinning(db: Database) -> None:
    # With nothing to send and the next look for articles a second away, a claim has nothing to
    # ask: starting one anyway woke the loop at once, which started the next, burning a core.
    d = dispatcher(db, FakeTelegram())
    claims = 0
    refill = d._refill

    async def counted() -> None:
        nonlocal claims
        claims += 1
        await refill()

    d._refill = counted  # type: ignore[method-assign]
    task = asyncio.create_task(d.run())
    try:
        await asyncio.sleep(0.5)
    finally:
        await d.stop()
        await task
    assert claims <= 2  # the look at start-up, and perhaps one more a second on


async def test_rows_handed_back_at_stop_after_another_worker_took_them_are_counted_as_late(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    await add_readers(db, 1, 5)
    article_id = await publish(db, 1)
    taken_over = asyncio.Event()

    async def send(row: ClaimedRow, article: Article) -> int:
        # The first send is out when this worker's shard changes hands: the next holder re-queues
        # every claimed row and delivers them all, while this one still holds the rest in memory.
        await outbox.release_claims(db)
        taken = await outbox.claim(db, article_id=article_id, limit=10, now=time.time())
        await outbox.record(
            db, outbox.Outcomes([(99, time.time(), r.id) for r in taken], [], [], [], [], [], [])
        )
        taken_over.set()
        return 100

    fake = FakeTelegram()
    # One message a second: the other four wait in memory, claimed, when the dispatcher stops.
    limiter = Limiter(Rates(global_per_second=1, chat_per_second=1, group_per_minute=60))
    d = Dispatcher(
        db=db,
        send=send,
        send_batch=fake.send_batch,
        limiter=limiter,
        stale_after=3600.0,
        give_up_after=3600.0,
    )
    with caplog.at_level(logging.WARNING, logger="bot.delivery.dispatcher"):
        await run_until(d, taken_over.is_set)
    # The sent one's outcome, and the four handed back at stop: none applied, all counted.
    assert d.counters.late_outcomes == 5
    assert "4 of 4 outcomes came too late" in caplog.text
    assert await states(db) == {"sent": 5}


async def test_an_outcome_that_comes_after_another_worker_took_the_row_is_logged_and_counted(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    await add_readers(db, 1, 1)
    article_id = await publish(db, 1)

    async def send(row: ClaimedRow, article: Article) -> int:
        # While this send is out, its shard changes hands: the next holder re-queues the row and
        # delivers it; then this send times out, and its retry no longer applies.
        await outbox.release_claims(db)
        (taken,) = await outbox.claim(db, article_id=article_id, limit=10, now=time.time())
        await outbox.record(db, outbox.Outcomes([(99, time.time(), taken.id)], [], [], [], [], []))
        raise NetworkError("timed out")

    fake = FakeTelegram()
    limiter = Limiter(Rates(global_per_second=20_000, chat_per_second=1000, group_per_minute=60_000))
    d = Dispatcher(
        db=db,
        send=send,
        send_batch=fake.send_batch,
        limiter=limiter,
        stale_after=3600.0,
        give_up_after=3600.0,
    )
    with caplog.at_level(logging.WARNING, logger="bot.delivery.dispatcher"):
        await run_until(d, lambda: d.counters.late_outcomes == 1)
    assert "1 of 1 outcomes came too late" in caplog.text
    assert await states(db) == {"sent": 1}
    metrics = Metrics(lambda: d.counters)
    assert b"newsbot_late_outcomes_total 1.0" in generate_latest(metrics.registry)
    # Admins see it in /stats too (only once there is something to see).
    stats = functools.partial(
        stats_text, translator("en"), OutboxStats(0, 0, 1, 0, 0, 0, 0, 1, 0), subscriptions=1
    )
    assert "late outcomes left out (another worker had taken their deliveries over): 1" in stats(
        dispatcher=d.counters
    )
    assert "late outcomes" not in stats(dispatcher=DispatchCounters())
