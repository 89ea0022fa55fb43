"""Storage on each back end: migrations, idempotent writes, set-based fan-out."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from bot.items import FeedItem
from bot.storage import Database, articles, chats, open_database, outbox, sources, subscriptions
from bot.storage.migrations import load_migrations

NOW = 1_750_000_000.0


@pytest.fixture
async def db(db: Database) -> Database:
    """The conftest database, on each back end, with one configured source."""
    await sources.sync_configured(
        db,
        sources=[{"id": "site", "name": "Site", "url": "http://site/rss", "kind": "feed", "interval": 60}],
        now=NOW,
    )
    return db


async def reader(db: Database, chat_id: int, *subs: tuple[str, str, bool]) -> None:
    await chats.remember_chat(
        db, chat_id=chat_id, chat_type="private", title=None, username=None, language=None, now=NOW
    )
    for kind, value, exclude in subs:
        await subscriptions.subscribe(db, chat_id=chat_id, kind=kind, value=value, exclude=exclude, now=NOW)  # type: ignore[arg-type]


def item(n: int, title: str = "", *, category: str | None = None, lead: str = "", url: str = "") -> FeedItem:
    return FeedItem(
        guid=f"g{n}",
        url=url or f"http://site/news/{n}",
        title=title or f"Story {n}",
        lead=lead,
        category=category,
        published=datetime.fromtimestamp(NOW, tz=UTC),
    )


async def queued_chats(db: Database, article_id: int) -> set[int]:
    rows = await db.fetchall("SELECT chat_id FROM outbox WHERE article_id = ?", (article_id,))
    return {r["chat_id"] for r in rows}


# SQLite only (its own file, not the db fixture): it reopens the same file and reads its PRAGMAs;
# the PostgreSQL schema has its own test (test_schema_parity.py).
async def test_migrations_are_recorded_and_not_reapplied(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    first = await open_database(path)
    versions = [r[0] for r in await first.fetchall("SELECT version FROM schema_migrations ORDER BY version")]
    await first.close()
    assert versions == [m.version for m in load_migrations()]
    again = await open_database(path)  # a second start must not fail on existing tables
    assert await again.scalar("SELECT COUNT(*) FROM schema_migrations") == len(versions)
    assert await again.scalar("PRAGMA journal_mode") == "wal"
    assert await again.scalar("PRAGMA foreign_keys") == 1
    await again.close()


async def test_failed_transaction_leaves_nothing_behind(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO chats (id, type, created_at, updated_at) VALUES (1, 'private', 0, 0)"
            )
            raise RuntimeError("crash in the middle")
    assert await chats.get_chat(db, chat_id=1) is None


async def test_fan_out_matches_each_kind_of_subscription(db: Database) -> None:
    await reader(db, 1, ("all", "", False))
    await reader(db, 2, ("category", "sport", False))
    await reader(db, 3, ("keyword", "baku", False))
    await reader(db, 4, ("source", "site", False))
    await reader(db, 5, ("all", "", False), ("category", "sport", True))
    await reader(db, 6, ("keyword", "oil", False), ("keyword", "baku", False))  # two matches, one row
    await reader(db, 7, ("all", "", False))
    await chats.set_status(db, chat_id=7, status="blocked", now=NOW)

    result = await articles.store_items(
        db,
        source_id="site",
        items=[item(1, "Baku derby ends level", category="Sport", lead="Oil money")],
        default_category=None,
        breaking=False,
        push=True,
        now=NOW,
    )
    assert await queued_chats(db, result.new[0]) == {1, 2, 3, 4, 6}
    assert result.queued == 5


async def test_keyword_needs_whole_words(db: Database) -> None:
    await reader(db, 1, ("keyword", "war", False))
    result = await articles.store_items(
        db,
        source_id="site",
        items=[item(1, "Warsaw awards a prize"), item(2, "A war of words")],
        default_category=None,
        breaking=False,
        push=True,
        now=NOW,
    )
    # Stored oldest first: with equal dates, the feed's last item first.
    warsaw, war = sorted(result.new, reverse=True)
    assert await queued_chats(db, warsaw) == set()
    assert await queued_chats(db, war) == {1}


async def test_backlog_is_stored_but_not_queued(db: Database) -> None:
    await reader(db, 1, ("all", "", False))
    result = await articles.store_items(
        db,
        source_id="site",
        items=[item(1), item(2)],
        default_category=None,
        breaking=False,
        push=False,
        now=NOW,
    )
    assert len(result.new) == 2
    assert result.queued == 0
    assert await db.scalar("SELECT COUNT(*) FROM outbox") == 0


async def test_storing_the_same_items_again_changes_nothing(db: Database) -> None:
    await reader(db, 1, ("all", "", False))
    for _ in range(2):
        await articles.store_items(
            db, source_id="site", items=[item(1)], default_category=None, breaking=False, push=True, now=NOW
        )
    assert await db.scalar("SELECT COUNT(*) FROM articles") == 1
    assert await db.scalar("SELECT COUNT(*) FROM outbox") == 1


async def test_same_url_under_another_guid_is_one_article(db: Database) -> None:
    await reader(db, 1, ("all", "", False))
    first = item(1, url="http://site/news/same")
    second = FeedItem(guid="other", url="http://site/news/same", title="Same story, new guid")
    for it in (first, second):
        await articles.store_items(
            db, source_id="site", items=[it], default_category=None, breaking=False, push=True, now=NOW
        )
    assert await db.scalar("SELECT COUNT(*) FROM articles") == 1
    assert await db.scalar("SELECT COUNT(*) FROM outbox") == 1


async def test_claim_then_crash_puts_rows_back(db: Database) -> None:
    await reader(db, 1, ("all", "", False))
    await reader(db, 2, ("all", "", False))
    result = await articles.store_items(
        db, source_id="site", items=[item(1)], default_category=None, breaking=False, push=True, now=NOW
    )
    claimed = await outbox.claim(db, article_id=result.new[0], limit=10, now=time.time())
    assert {r.chat_id for r in claimed} == {1, 2}
    assert await outbox.claim(db, article_id=result.new[0], limit=10, now=time.time()) == []
    assert await outbox.release_claims(db) == 2  # what a restart does
    assert len(await outbox.claim(db, article_id=result.new[0], limit=10, now=time.time())) == 2


async def test_a_late_outcome_never_undoes_what_the_next_holder_of_the_shard_did(db: Database) -> None:
    await reader(db, 1, ("all", "", False))
    result = await articles.store_items(
        db, source_id="site", items=[item(1)], default_category=None, breaking=False, push=True, now=NOW
    )
    (first,) = await outbox.claim(db, article_id=result.new[0], limit=10, now=time.time())
    # The shard changes hands while the first worker still holds the row: the new holder
    # re-queues it, claims it, sends it.
    assert await outbox.release_claims(db) == 1
    (second,) = await outbox.claim(db, article_id=result.new[0], limit=10, now=time.time())
    assert second.id == first.id
    assert await outbox.record(db, outbox.Outcomes([(7, NOW, second.id)], [], [], [], [], [])) == 0
    # The first worker's outcome comes in late (a flood wait, a network error, a stale article).
    late = outbox.Outcomes.empty()
    late.retry.append((NOW, "timed out", first.id, first.claim))
    late.failed.append(("bad", first.id, first.claim))
    late.stale.append(("stale", first.id, first.claim))
    late.held.append((NOW, first.id, first.claim))
    late.released.append((NOW, first.id, first.claim))
    assert await outbox.record(db, late) == 5  # none applied: told to the caller, which logs them
    row = await db.fetchone("SELECT state, message_id, attempts FROM outbox WHERE id = ?", (first.id,))
    assert (row["state"], row["message_id"], row["attempts"]) == ("sent", 7, 1)
    assert await outbox.claim(db, article_id=result.new[0], limit=10, now=time.time()) == []


async def test_a_late_outcome_leaves_a_row_the_next_holder_is_sending_with_it(db: Database) -> None:
    await reader(db, 1, ("all", "", False))
    result = await articles.store_items(
        db, source_id="site", items=[item(1)], default_category=None, breaking=False, push=True, now=NOW
    )
    (first,) = await outbox.claim(db, article_id=result.new[0], limit=10, now=time.time())
    # The first worker lost the shard's lease mid-send: the new holder re-queues the row and
    # claims it again, and is sending it when the first worker's outcome comes in.
    assert await outbox.release_claims(db) == 1
    (second,) = await outbox.claim(db, article_id=result.new[0], limit=10, now=time.time())
    assert second.id == first.id and second.claim != first.claim
    late = outbox.Outcomes.empty()
    late.retry.append((NOW, "timed out", first.id, first.claim))
    late.released.append((NOW, first.id, first.claim))
    assert await outbox.record(db, late) == 2
    # Put back in the queue, it would go out a second time with the next claim.
    assert await outbox.claim(db, article_id=result.new[0], limit=10, now=time.time()) == []
    row = await db.fetchone("SELECT state, attempts FROM outbox WHERE id = ?", (first.id,))
    assert (row["state"], row["attempts"]) == ("sending", 0)
    done = outbox.Outcomes.empty()
    done.retry.append((NOW, "timed out", second.id, second.claim))  # the holder's own applies
    assert await outbox.record(db, done) == 0
    assert await db.scalar("SELECT state FROM outbox WHERE id = ?", (first.id,)) == "queued"


async def test_a_message_sent_after_its_row_was_requeued_is_recorded_as_sent(db: Database) -> None:
    await reader(db, 1, ("all", "", False))
    result = await articles.store_items(
        db, source_id="site", items=[item(1)], default_category=None, breaking=False, push=True, now=NOW
    )
    (row,) = await outbox.claim(db, article_id=result.new[0], limit=10, now=time.time())
    await outbox.release_claims(db)  # a handover re-queued it while the message was going out
    await outbox.record(db, outbox.Outcomes([(7, NOW, row.id)], [], [], [], [], []))
    # Queued again it would go out twice.
    assert await outbox.claim(db, article_id=result.new[0], limit=10, now=time.time()) == []


async def test_a_claim_leaves_out_the_rows_another_worker_took_meanwhile(postgres_url: str) -> None:
    db = await open_database(postgres_url)
    other = await asyncpg.connect(postgres_url)
    try:
        site = {"id": "site", "name": "Site", "url": "http://site/rss", "kind": "feed", "interval": 60}
        await sources.sync_configured(db, sources=[site], now=NOW)
        await reader(db, 1, ("all", "", False))
        await reader(db, 2, ("all", "", False))
        result = await articles.store_items(
            db, source_id="site", items=[item(1)], default_category=None, breaking=False, push=True, now=NOW
        )
        # Another worker is taking chat 1's row: not committed yet, so the claim's read sees it queued.
        async with other.transaction():
            await other.execute("UPDATE outbox SET state = 'sending' WHERE chat_id = 1")
            claim = asyncio.create_task(
                outbox.claim(db, article_id=result.new[0], limit=10, now=time.time())
            )
            for _ in range(1000):  # until the claim's mark waits for that row's lock
                waiting = await other.fetchval(
                    "SELECT COUNT(*) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
                if waiting:
                    break
                await asyncio.sleep(0.01)
            await other.execute("UPDATE outbox SET state = 'sent' WHERE chat_id = 1")
        claimed = await claim
        assert [r.chat_id for r in claimed] == [2]
        assert await db.scalar("SELECT state FROM outbox WHERE chat_id = 1") == "sent"
    finally:
        await other.close()
        await db.close()


async def test_migrating_a_group_moves_its_subscriptions_and_queue(db: Database) -> None:
    await chats.remember_chat(
        db, chat_id=-5, chat_type="group", title="G", username=None, language=None, now=NOW
    )
    await subscriptions.subscribe(db, chat_id=-5, kind="all", now=NOW)
    await articles.store_items(
        db, source_id="site", items=[item(1)], default_category=None, breaking=False, push=True, now=NOW
    )
    await chats.migrate_chat(db, old_id=-5, new_id=-1005, now=NOW)
    moved = await chats.get_chat(db, chat_id=-1005)
    assert moved is not None and moved.type == "supergroup" and moved.status == "active"
    assert (await chats.get_chat(db, chat_id=-5)).status == "migrated"  # type: ignore[union-attr]
    assert [s.chat_id for s in await subscriptions.list_for_chat(db, chat_id=-1005)] == [-1005]
    assert await db.scalar("SELECT chat_id FROM outbox") == -1005


async def test_a_group_migrated_while_a_story_fans_out_gets_the_story_once(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A chat a slice, so the fan-out is under way between the supergroup's new id and the old one.
    monkeypatch.setattr(outbox, "FAN_OUT_SLICE", 1)
    for chat_id in (-2000, -500, 7):
        await reader(db, chat_id, ("all", "", False))
    await chats.remember_chat(
        db, chat_id=-5, chat_type="group", title="G", username=None, language=None, now=NOW
    )
    await subscriptions.subscribe(db, chat_id=-5, kind="all", now=NOW)
    stored = await articles.store_items(
        db, source_id="site", items=[item(1)], default_category=None, breaking=False, push=True, now=NOW
    )
    article_id = stored.new[0]
    assert await outbox.continue_fan_out(db, now=NOW) is not None  # the cursor is at -500 now
    await chats.migrate_chat(db, old_id=-5, new_id=-1005, now=NOW)
    while await outbox.continue_fan_out(db, now=NOW) is not None:
        pass
    assert await queued_chats(db, article_id) == {-2000, -1005, -500, 7}
    assert (await outbox.stats(db)).queued == 4
    assert await db.scalar("SELECT COUNT(*) FROM fanouts") == 0


async def test_same_url_twice_in_one_poll_is_one_article(db: Database) -> None:
    await reader(db, 1, ("all", "", False))
    twins = [item(1, url="http://site/news/twin"), item(2, "Twin again", url="http://site/news/twin")]
    result = await articles.store_items(
        db, source_id="site", items=twins, default_category=None, breaking=False, push=True, now=NOW
    )
    assert len(result.new) == 1
    assert await db.scalar("SELECT COUNT(*) FROM outbox") == 1
