"""The outbox at depth: counters kept by the writing transactions, compaction, due rows, held rows."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Collection
from pathlib import Path

import pytest

from bot.storage import Database, articles, broadcasts, channels, chats, outbox, subscriptions
from bot.storage.connection import SqliteDatabase
from bot.storage.interface import inserted_id
from bot.text import keyword_matches

NOW = 1_750_000_000.0
HOUR = 3600.0


WIRE = (
    "INSERT INTO sources (id, name, url, kind, interval, created_at)"
    " VALUES ('wire', 'Wire', 'http://127.0.0.1:9/', 'feed', 60, 0)"
)


@pytest.fixture
async def db(db: Database) -> Database:
    """The conftest database, on each back end, with the source the stories come from."""
    await db.write(WIRE)
    return db


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    """SQLite only: for what only a file has (its size on disk, its WAL)."""
    database = await SqliteDatabase.open(tmp_path / "t.db")
    await database.write(WIRE)
    try:
        yield database
    finally:
        await database.close()


async def readers(db: Database, count: int, *, first: int = 1) -> list[int]:
    ids = list(range(first, first + count))
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO chats (id, type, created_at, updated_at) VALUES (?, 'private', 0, 0)",
            ((i,) for i in ids),
        )
        await conn.executemany(
            "INSERT INTO subscriptions (chat_id, kind, created_at) VALUES (?, 'all', 0)", ((i,) for i in ids)
        )
    return ids


async def publish(db: Database, n: int, *, now: float = NOW, text: str = "") -> int:
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "INSERT INTO articles (source_id, guid, url, title, published_at, fetched_at)"
            " VALUES ('wire', ?, ?, 'Story', ?, ?) RETURNING id",
            (f"g{n}", f"https://news.example/{n}", now, now),
        )
        article_id = await inserted_id(cursor)
        assert article_id is not None
        await outbox.fan_out(
            conn, article_id=article_id, priority=0, category="", source="wire", text=text, now=now
        )
    return article_id


async def send_all(db: Database, article_id: int, *, at: float, fail: Collection[int] = ()) -> None:
    rows = await outbox.claim(db, article_id=article_id, limit=100_000, now=at)
    done = outbox.Outcomes.empty()
    for n, row in enumerate(rows):
        if row.chat_id in fail:
            done.failed.append(("Bad Request: nope", row.id, row.claim))
        else:
            done.sent.append((1000 + n, at, row.id))
    await outbox.record(db, done)


async def counted(db: Database) -> dict[str, int]:
    """The truth the counters must match: the rows themselves plus the compacted totals."""
    truth = {
        r["state"]: r["n"]
        for r in await db.fetchall("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")
    }
    for state in ("sent", "digested", "failed", "blocked", "stale"):
        truth[state] = truth.get(state, 0) + int(
            await db.scalar(f"SELECT COALESCE(SUM({state}), 0) FROM delivery_totals")
        )
    return {k: v for k, v in truth.items() if v}


async def counters(db: Database) -> dict[str, int]:
    by_state = "SELECT state, CAST(SUM(n) AS BIGINT) AS n FROM outbox_counts GROUP BY state"
    return {r["state"]: r["n"] for r in await db.fetchall(by_state) if r["n"]}


async def test_a_broadcast_counts_as_queued_until_it_is_sent(db: Database) -> None:
    await readers(db, 3)
    draft = await broadcasts.draft(db, html="<b>Maintenance tonight</b>", now=NOW)
    assert await broadcasts.send(db, draft_id=draft, actor=1, now=NOW) == 3
    assert (await outbox.stats(db)).queued == 3
    await send_all(db, draft, at=NOW + 1)
    stats = await outbox.stats(db)
    assert (stats.queued, stats.sent) == (0, 3)
    assert await counters(db) == await counted(db)


async def test_stats_counters_follow_every_change_of_state(db: Database) -> None:
    await readers(db, 6)
    await chats.set_digest(db, chat_id=6, at="08:00", now=NOW)
    first = await publish(db, 1)
    second = await publish(db, 2)
    assert await counters(db) == await counted(db) == {"queued": 10, "digest": 2}
    await send_all(db, first, at=NOW + 1, fail={3})
    await chats.set_status(db, chat_id=5, status="blocked", now=NOW + 2, reason="blocked by user")
    await outbox.claim(db, article_id=second, limit=2, now=NOW + 3)  # two rows left 'sending'
    assert await counters(db) == await counted(db)
    stats = await outbox.stats(db)
    assert (stats.sent, stats.failed, stats.blocked, stats.sending, stats.queued, stats.digest) == (
        4,
        1,
        1,
        2,
        2,
        2,
    )
    assert (stats.chats_active, stats.chats_blocked) == (5, 1)


async def test_stats_stay_right_after_rows_are_compacted(db: Database) -> None:
    await readers(db, 10)
    old = await publish(db, 1, now=NOW)
    await send_all(db, old, at=NOW + 10, fail={7})
    recent = await publish(db, 2, now=NOW + 50 * HOUR)
    await send_all(db, recent, at=NOW + 50 * HOUR + 10)
    waiting = await publish(db, 3, now=NOW + 50 * HOUR)
    before = await outbox.stats(db)

    done = await outbox.compact(db, before=NOW + 2 * HOUR, batch=3)

    assert done.rows == 10 and done.batches == 4
    assert await db.scalar("SELECT COUNT(*) FROM outbox WHERE article_id = ?", (old,)) == 0
    assert await outbox.stats(db) == before
    assert (before.sent, before.failed, before.queued) == (19, 1, 10)
    assert await counters(db) == await counted(db)
    totals = await db.fetchone("SELECT sent, failed FROM delivery_totals WHERE article_id = ?", (old,))
    assert totals is not None and (totals["sent"], totals["failed"]) == (9, 1)
    hours = await db.fetchall("SELECT hour, sent, failed FROM delivery_hours")
    assert [tuple(h) for h in hours] == [(int((NOW + 10) // 3600), 9, 1)]
    assert await db.scalar("SELECT COUNT(*) FROM outbox WHERE article_id = ?", (waiting,)) == 10


async def test_recent_deliveries_keep_their_message_ids_for_takedowns(db: Database) -> None:
    await readers(db, 3)
    article = await publish(db, 1)
    await send_all(db, article, at=NOW + 10)
    await outbox.compact(db, before=NOW + 10 - 47 * HOUR)  # the 48 h window has not passed
    ids = await db.fetchall(
        "SELECT message_id FROM outbox WHERE article_id = ? AND state = 'sent'", (article,)
    )
    assert sorted(r[0] for r in ids) == [1000, 1001, 1002]


async def test_a_compacted_delivery_is_never_queued_again(db: Database) -> None:
    await readers(db, 4)
    article = await publish(db, 1)
    await send_all(db, article, at=NOW + 10)
    await outbox.compact(db, before=NOW + 49 * HOUR)
    assert await db.scalar("SELECT COUNT(*) FROM outbox") == 0

    async with db.transaction() as conn:
        again = await outbox.fan_out(
            conn, article_id=article, priority=0, category="", source="wire", text="", now=NOW + 50 * HOUR
        )

    assert again == 0
    assert await db.scalar("SELECT COUNT(*) FROM outbox") == 0
    assert await outbox.active_articles(db, now=NOW + 51 * HOUR) == []
    assert (await outbox.stats(db)).sent == 4


async def test_pruning_an_article_takes_its_compacted_totals_out_of_stats(db: Database) -> None:
    await readers(db, 4)
    article = await publish(db, 1)
    await send_all(db, article, at=NOW + 10)
    await outbox.compact(db, before=NOW + 49 * HOUR)
    await db.write("DELETE FROM articles WHERE id = ?", (article,))
    assert (await outbox.stats(db)).sent == 0
    assert await counters(db) == await counted(db) == {}


async def test_pruning_in_small_steps_removes_every_old_article_and_its_deliveries(db: Database) -> None:
    await readers(db, 7)
    old = [await publish(db, n, now=NOW) for n in range(3)]
    for article in old[:2]:
        await send_all(db, article, at=NOW + 10)  # one left queued: pruned all the same
    kept = await publish(db, 9, now=NOW + 40 * 86400)
    await send_all(db, kept, at=NOW + 40 * 86400 + 10)

    # Steps of 2 articles and 3 rows: each article's rows take several steps before it goes.
    removed = await articles.prune(
        db, older_than=NOW + 30 * 86400, articles_per_step=2, rows_per_step=3, pause=0
    )

    assert removed == 3
    assert [r[0] for r in await db.fetchall("SELECT id FROM articles")] == [kept]
    assert await db.scalar("SELECT COUNT(*) FROM outbox WHERE article_id != ?", (kept,)) == 0
    assert await db.scalar("SELECT COUNT(*) FROM delivery_totals") == 0
    stats = await outbox.stats(db)
    assert (stats.sent, stats.queued) == (7, 0)
    assert await counters(db) == await counted(db) == {"sent": 7}
    # Remembered as seen: the feed still listing them never brings them back.
    assert await db.scalar("SELECT COUNT(*) FROM seen_items WHERE source_id = 'wire'") == 3


# SQLite only: PostgreSQL's server keeps and reuses its own free space (autovacuum).
async def test_compaction_gives_the_freed_space_back_to_the_file(sqlite_db: SqliteDatabase) -> None:
    db = sqlite_db
    await readers(db, 2000)
    for n in range(10):
        article = await publish(db, n)
        await send_all(db, article, at=NOW + 10)
    await db.fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
    grown = os.path.getsize(db.path)

    done = await outbox.compact(db, before=NOW + 49 * HOUR, batch=1000)
    await db.fetchall("PRAGMA wal_checkpoint(TRUNCATE)")

    assert done.rows == 20_000 and done.pages_freed > 0
    assert os.path.getsize(db.path) < grown * 0.6
    assert (await outbox.stats(db)).sent == 20_000


async def test_active_articles_ignore_rows_held_or_not_yet_due(db: Database) -> None:
    await readers(db, 5)
    held = await publish(db, 1)
    due = await publish(db, 2)
    await db.write(
        "UPDATE outbox SET next_attempt_at = ?, last_error = 'quiet' WHERE article_id = ?",
        (NOW + 8 * HOUR, held),
    )
    assert await outbox.active_articles(db, now=NOW + 1) == [(due, 0)]
    assert [a for a, _ in await outbox.active_articles(db, now=NOW + 9 * HOUR)] == [held, due]
    rows = await outbox.claim(db, article_id=held, limit=10, now=NOW + 1)
    assert rows == []


async def test_held_rows_of_several_chats_are_claimed_together(db: Database) -> None:
    await readers(db, 3)
    for n in range(4):
        await publish(db, n)
    await db.write("UPDATE outbox SET next_attempt_at = ?, last_error = 'quiet'", (NOW + HOUR,))

    held = await outbox.claim_held(db, chat_ids=[1, 2], now=NOW + HOUR, limit=3)

    assert sorted(held) == [1, 2]
    assert [len(rows) for rows in held.values()] == [3, 3]
    assert all(r.held for rows in held.values() for r in rows)
    states = await db.fetchall(
        "SELECT chat_id, COUNT(*) AS n FROM outbox WHERE state = 'sending' GROUP BY chat_id"
    )
    assert {r["chat_id"]: r["n"] for r in states} == {1: 3, 2: 3}


async def test_a_chat_is_refused_a_subscription_past_the_cap(db: Database) -> None:
    await readers(db, 1)
    for n in range(2):
        assert await subscriptions.subscribe(db, chat_id=1, kind="keyword", value=f"w{n}", now=NOW, limit=3)
    with pytest.raises(subscriptions.TooManySubscriptions, match="at most 3"):
        await subscriptions.subscribe(
            db, chat_id=1, thread_id=5, kind="keyword", value="w9", now=NOW, limit=3
        )
    # Asking again for one it has is not refused: it is already there.
    assert not await subscriptions.subscribe(db, chat_id=1, kind="keyword", value="w0", now=NOW, limit=3)
    assert len(await subscriptions.list_for_chat(db, chat_id=1)) == 3


async def test_a_keyword_many_readers_chose_is_matched_once_per_article(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def counting(keyword: str, text: str) -> bool:
        calls.append(keyword)
        return keyword_matches(keyword, text)

    monkeypatch.setattr(outbox, "keyword_matches", counting)
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO chats (id, type, created_at, updated_at) VALUES (?, 'private', 0, 0)",
            ((i,) for i in range(1, 301)),
        )
    for chat in range(1, 301):
        await subscriptions.subscribe(db, chat_id=chat, kind="keyword", value="baku", now=NOW)
        await subscriptions.subscribe(db, chat_id=chat, kind="keyword", value=f"own{chat % 3}", now=NOW)
    await subscriptions.subscribe(db, chat_id=7, kind="keyword", value="derby", exclude=True, now=NOW)
    await subscriptions.unsubscribe(db, chat_id=9, kind="keyword", value="baku")
    calls.clear()

    article = await publish(db, 1, text="derby in baku tonight")

    assert sorted(calls) == ["baku", "derby", "own0", "own1", "own2"]
    queued = {
        r[0] for r in await db.fetchall("SELECT chat_id FROM outbox WHERE article_id = ?", (article,))
    }
    assert queued == set(range(1, 301)) - {7, 9}


async def test_active_subscription_count_follows_chats_and_subscriptions(db: Database) -> None:
    truth_sql = (
        "SELECT COUNT(*) FROM subscriptions AS s JOIN chats AS c ON c.id = s.chat_id"
        " WHERE c.status = 'active' AND s.exclude = 0"
    )
    await readers(db, 5)
    await subscriptions.subscribe(db, chat_id=1, kind="keyword", value="baku", now=NOW)
    await subscriptions.subscribe(db, chat_id=2, kind="keyword", value="derby", exclude=True, now=NOW)
    await chats.set_status(db, chat_id=3, status="blocked", now=NOW)
    await chats.migrate_chat(db, old_id=4, new_id=-1004, now=NOW)
    await subscriptions.unsubscribe(db, chat_id=1, kind="keyword", value="baku")
    await chats.set_status(db, chat_id=3, status="active", now=NOW)
    await chats.set_status(db, chat_id=5, status="left", now=NOW)
    assert await subscriptions.count_active(db) == await db.scalar(truth_sql) == 4


async def _story(db: Database, *, slice_chats: int) -> tuple[int, int]:
    """A story stored and fanned out as ingest does: (its id, rows queued with it)."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "INSERT INTO articles (source_id, guid, url, title, category, published_at, fetched_at)"
            " VALUES ('wire', 'big', 'https://news.example/big', 'Story', 'sport', ?, ?) RETURNING id",
            (NOW, NOW),
        )
        article_id = await inserted_id(cursor)
        assert article_id is not None
        added = await outbox.fan_out(
            conn,
            article_id=article_id,
            priority=0,
            category="sport",
            source="wire",
            text="story",
            now=NOW,
            fresh=True,
            slice_chats=slice_chats,
        )
    return article_id, added


async def test_a_large_audience_is_queued_a_slice_at_a_time_each_reader_once(db: Database) -> None:
    ids = await readers(db, 10)
    await readers(db, 1, first=-100500)  # a group: its id sorts first
    await chats.set_digest(db, chat_id=4, at="08:00", now=NOW)
    # Two subscriptions of one reader match the story: one delivery.
    await db.write(
        "INSERT INTO subscriptions (chat_id, kind, value, created_at) VALUES (7, 'category', 'sport', 0)"
    )
    article_id, added = await _story(db, slice_chats=3)
    assert added == 3  # the group, readers 1 and 2: queued with the story
    assert await db.scalar("SELECT after_chat FROM fanouts") == 2
    assert (await outbox.stats(db)).fanning_out == 1  # /stats says a story is still being queued
    slices = []
    while (done := await outbox.continue_fan_out(db, now=NOW + 1, slice_chats=3)) is not None:
        slices.append(done)
    assert [s.added for s in slices] == [3, 3, 2]
    assert slices[-1].finished and slices[-1].total == 11 and slices[-1].slices == 4
    rows = await db.fetchall(
        "SELECT chat_id, state FROM outbox WHERE article_id = ? ORDER BY chat_id", (article_id,)
    )
    assert [r["chat_id"] for r in rows] == [-100500, *ids]
    assert {r["chat_id"] for r in rows if r["state"] == "digest"} == {4}
    assert await counters(db) == await counted(db) == {"queued": 10, "digest": 1}
    assert (await outbox.stats(db)).fanning_out == 0


async def _broadcast_audience(db: Database) -> list[int]:
    """Eight readers (one blocked), a group and a channel: seven readers and the group get it."""
    ids = await readers(db, 8)
    await readers(db, 1, first=-100500)
    await db.write("INSERT INTO chats (id, type, created_at, updated_at) VALUES (-100900, 'channel', 0, 0)")
    await chats.set_status(db, chat_id=3, status="blocked", now=NOW)
    return [-100500, *(i for i in ids if i != 3)]


async def test_a_broadcast_to_more_chats_than_a_slice_is_queued_a_slice_at_a_time(db: Database) -> None:
    audience = await _broadcast_audience(db)
    draft = await broadcasts.draft(db, html="<b>Maintenance tonight</b>", now=NOW)
    # The admin is told every chat it goes to; the writer is held for the first slice only.
    assert await broadcasts.send(db, draft_id=draft, actor=1, now=NOW, slice_chats=3) == 8
    assert await db.scalar("SELECT COUNT(*) FROM outbox") < 8
    assert (await outbox.stats(db)).fanning_out == 1
    slices = []
    while (done := await outbox.continue_fan_out(db, now=NOW + 1, slice_chats=3)) is not None:
        slices.append(done)
    assert slices[-1].finished and slices[-1].total == 8
    rows = await db.fetchall(
        "SELECT chat_id, kind FROM outbox WHERE article_id = ? ORDER BY chat_id", (draft,)
    )
    assert [r["chat_id"] for r in rows] == audience
    assert {r["kind"] for r in rows} == {"broadcast"}
    assert await counters(db) == await counted(db) == {"queued": 8}
    # A second press of Send queues nothing more.
    assert await broadcasts.send(db, draft_id=draft, actor=1, now=NOW + 2, slice_chats=3) is None
    assert await db.scalar("SELECT COUNT(*) FROM outbox") == 8


async def test_a_broadcast_taken_down_while_it_is_queued_goes_no_further(db: Database) -> None:
    await _broadcast_audience(db)
    draft = await broadcasts.draft(db, html="Wrong text", now=NOW)
    await broadcasts.send(db, draft_id=draft, actor=1, now=NOW, slice_chats=3)
    first = await db.scalar("SELECT COUNT(*) FROM outbox")
    retraction = await channels.take_down(
        db, article_id=draft, actor=1, actor_name="Admin", reason="typo", now=NOW + 1
    )
    assert retraction is not None and retraction.cancelled == first
    assert await outbox.continue_fan_out(db, now=NOW + 2, slice_chats=3) is None
    assert await db.scalar("SELECT COUNT(*) FROM outbox") == first
    assert await db.scalar("SELECT COUNT(*) FROM outbox WHERE state = 'queued'") == 0


async def test_a_story_taken_down_during_its_fan_out_is_queued_for_nobody_else(db: Database) -> None:
    await readers(db, 9)
    article_id, added = await _story(db, slice_chats=4)
    assert added == 4
    async with db.transaction() as conn:
        await articles.hide(conn, article_id=article_id)
    done = await outbox.continue_fan_out(db, now=NOW + 1, slice_chats=4)
    assert done is not None and done.taken_down and done.total == 4
    assert await outbox.continue_fan_out(db, now=NOW + 2, slice_chats=4) is None
    assert await db.scalar("SELECT COUNT(*) FROM outbox WHERE article_id = ?", (article_id,)) == 4


async def test_slices_queued_late_carry_the_story_s_age(db: Database) -> None:
    # After an outage the rest of a fan-out is queued hours on: those readers' rows must be as
    # old as the story (so the dispatcher marks them stale), not look like fresh news.
    await readers(db, 9)
    article_id, _ = await _story(db, slice_chats=4)
    later = NOW + 7 * 3600
    while await outbox.continue_fan_out(db, now=later, slice_chats=4) is not None:
        pass
    rows = await db.fetchall(
        "SELECT created_at, next_attempt_at FROM outbox WHERE article_id = ?", (article_id,)
    )
    assert len(rows) == 9
    assert {r["created_at"] for r in rows} == {NOW}
    assert await counters(db) == await counted(db) == {"queued": 9}
