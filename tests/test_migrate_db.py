"""``newsbot migrate-db``: a running outlet's SQLite file copied into an empty PostgreSQL database."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from bot.cli import main
from bot.items import FeedItem
from bot.storage import (
    Database,
    articles,
    chats,
    moderation,
    open_database,
    outbox,
    sources,
    subscriptions,
    watch,
)
from bot.storage.transfer import TransferError, migrate

NOW = 1_750_000_000.0


def _item(n: int, title: str, category: str) -> FeedItem:
    return FeedItem(
        guid=f"g{n}",
        url=f"http://site/news/{n}",
        title=title,
        lead=f"Lead of story {n}",
        category=category,
        published=datetime.fromtimestamp(NOW, tz=UTC),
    )


async def _seed(path: Path) -> None:
    """A small outlet: every chat type and subscription kind, deliveries in every pending state."""
    db = await open_database(path)
    try:
        await sources.sync_configured(
            db,
            sources=[
                {"id": "site", "name": "Site", "url": "http://site/rss", "kind": "feed", "interval": 60},
                {"id": "other", "name": "Other", "url": "http://other/rss", "kind": "feed", "interval": 300},
            ],
            now=NOW,
        )
        for chat_id, chat_type in ((1, "private"), (2, "private"), (-10, "group"), (-100, "supergroup")):
            await chats.remember_chat(
                db, chat_id=chat_id, chat_type=chat_type, title=None, username=None, language=None, now=NOW
            )
        await chats.remember_chat(
            db, chat_id=-1001, chat_type="channel", title="C", username=None, language=None, now=NOW
        )
        await chats.remember_chat(
            db, chat_id=3, chat_type="private", title=None, username=None, language="de", now=NOW
        )
        await chats.set_digest(db, chat_id=2, at="08:00", now=NOW)
        await chats.set_status(db, chat_id=3, status="blocked", now=NOW)
        for chat_id, kind, value, exclude in (
            (1, "all", "", False),
            (1, "category", "weather", True),
            (2, "keyword", "derby", False),
            (-10, "category", "sport", False),
            (-100, "source", "site", False),
            (3, "all", "", False),
            (-1001, "keyword", "oil", False),
        ):
            await subscriptions.subscribe(
                db, chat_id=chat_id, kind=kind, value=value, exclude=exclude, now=NOW  # type: ignore[arg-type]
            )
        await articles.store_items(
            db,
            source_id="site",
            items=[_item(1, "Derby ends level", "Sport"), _item(2, "Oil price falls", "Economy")],
            default_category=None,
            breaking=False,
            push=True,
            now=NOW,
        )
        # One delivery sent, one claimed by the dispatcher when the copy is taken; a digest waits.
        claimed = []
        for article_id, _priority in await outbox.active_articles(db, now=NOW + 10):
            claimed += await outbox.claim(db, article_id=article_id, limit=10, now=NOW + 10)
        assert len(claimed) >= 2
        sent = outbox.Outcomes.empty()
        sent.sent.append((777, NOW + 11, claimed[0].id))
        await outbox.record(db, sent)
        handed_back = outbox.Outcomes.empty()
        handed_back.released.extend((NOW + 12, row.id, row.claim) for row in claimed[1:-1])
        await outbox.record(db, handed_back)
        await moderation.set_role(db, user_id=55, role="moderator", actor=1, now=NOW)
        await moderation.ban(db, user_id=999, reason="spam", actor=1, now=NOW)
        await moderation.record(db, actor=1, action="note", target="x", details="seeded", now=NOW)
    finally:
        await db.close()


async def _figures(
    db: Database,
) -> tuple[outbox.OutboxStats, watch.QueueFigures, object, int, object, object]:
    """What /stats and the health figures show."""
    return (
        await outbox.stats(db),
        await watch.queue_figures(db, now=NOW + 20),
        await watch.source_figures(db),
        await subscriptions.count_active(db),
        await moderation.list_staff(db),
        await moderation.list_bans(db),
    )


@pytest.fixture
async def outlet(tmp_path: Path) -> Path:
    path = tmp_path / "news.db"
    await _seed(path)
    return path


async def test_migrate_copies_every_table_and_the_bot_sees_the_same_figures(
    outlet: Path, postgres_url: str
) -> None:
    source = await open_database(outlet)
    try:
        before = await _figures(source)
        sending = await source.scalar("SELECT COUNT(*) FROM outbox WHERE state = 'sending'")
        pending = await source.scalar("SELECT COUNT(*) FROM outbox WHERE state IN ('queued', 'sending')")
        digest = await source.scalar("SELECT COUNT(*) FROM outbox WHERE state = 'digest'")
    finally:
        await source.close()
    assert sending and digest

    done = await migrate(outlet, postgres_url, batch=2)  # small batches: several COPYs per table

    assert not done.mismatched
    by_table = {c.table: c.target for c in done.counts}
    assert by_table["chats"] == 6 and by_table["subscriptions"] == 7 and by_table["articles"] == 2
    assert by_table["staff"] == 1 and by_table["bans"] == 1 and by_table["audit"] == 3
    assert done.requeued == sending
    target = await open_database(postgres_url)
    try:
        after = await _figures(target)
        # A delivery the old bot was sending waits its turn again on the new server.
        stats = before[0]
        assert after[0] == replace(stats, queued=stats.queued + stats.sending, sending=0)
        assert after[1].chats == before[1].chats
        assert after[1].depth == before[1].depth
        assert after[2:] == before[2:]
        assert await target.scalar("SELECT COUNT(*) FROM outbox WHERE state = 'queued'") == pending
        assert await target.scalar("SELECT COUNT(*) FROM outbox WHERE state = 'digest'") == digest
        # The identities start past the copied ids: new rows do not collide with copied ones.
        assert await subscriptions.subscribe(target, chat_id=2, kind="keyword", value="rain", now=NOW + 30)
        new_id = await target.scalar(
            "INSERT INTO articles (source_id, guid, url, title, published_at, fetched_at)"
            " VALUES ('site', 'g3', 'http://site/news/3', 'New', 1, 1) RETURNING id"
        )
        assert new_id == 3
        assert await subscriptions.count_active(target) == before[3] + 1
    finally:
        await target.close()


async def test_a_target_with_data_is_refused_and_left_as_it_was(outlet: Path, postgres_url: str) -> None:
    target = await open_database(postgres_url)
    try:
        await chats.remember_chat(
            target, chat_id=42, chat_type="private", title=None, username=None, language=None, now=NOW
        )
    finally:
        await target.close()

    with pytest.raises(TransferError, match=r"not empty \(rows: 1 in chats, 1 in chat_counts"):
        await migrate(outlet, postgres_url)

    conn = await asyncpg.connect(postgres_url)
    try:
        assert await conn.fetchval("SELECT COUNT(*) FROM chats") == 1
        assert await conn.fetchval("SELECT COUNT(*) FROM articles") == 0
    finally:
        await conn.close()


async def test_the_refusal_names_the_target_without_its_password(outlet: Path, postgres_url: str) -> None:
    target = await open_database(postgres_url)
    try:
        await chats.remember_chat(
            target, chat_id=42, chat_type="private", title=None, username=None, language=None, now=NOW
        )
    finally:
        await target.close()

    # The test server trusts every local connection: the password is read, and ignored.
    with pytest.raises(TransferError) as refused:
        await migrate(outlet, postgres_url + "?password=pw-in-query")
    assert "not empty" in str(refused.value)
    assert "pw-in-query" not in str(refused.value)
    assert "password=***" in str(refused.value)


async def test_a_source_at_another_schema_version_is_refused(outlet: Path, postgres_url: str) -> None:
    source = await open_database(outlet)
    try:
        # As if the file came from the previous release: its newest migration not yet applied.
        await source.write(
            "DELETE FROM schema_migrations WHERE version = (SELECT MAX(version) FROM schema_migrations)"
        )
        newest = await source.scalar("SELECT MAX(version) FROM schema_migrations")
    finally:
        await source.close()
    expected = rf"source is at schema version {newest:04d}, the target at {newest + 1:04d}"
    with pytest.raises(TransferError, match=expected):
        await migrate(outlet, postgres_url)


async def test_a_failed_copy_leaves_the_target_empty(outlet: Path, postgres_url: str) -> None:
    with sqlite3.connect(outlet) as source:  # a value PostgreSQL's CHECK refuses, late in the load
        source.execute("PRAGMA ignore_check_constraints = ON")
        source.execute("UPDATE outbox SET silent = 7 WHERE id = (SELECT MAX(id) FROM outbox)")
    source.close()
    with pytest.raises(TransferError, match="copying outbox failed"):
        await migrate(outlet, postgres_url)
    conn = await asyncpg.connect(postgres_url)
    try:
        assert await conn.fetchval("SELECT COUNT(*) FROM chats") == 0
        assert await conn.fetchval("SELECT SUM(n) FROM chat_counts") == 0
    finally:
        await conn.close()


def test_the_command_prints_the_counts(
    tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "news.db"
    asyncio.run(_seed(path))

    assert main(["migrate-db", "--from", str(path), "--to", postgres_url]) == 0
    out = capsys.readouterr().out
    assert "table" in out and "postgresql" in out
    line = next(row for row in out.splitlines() if row.startswith("subscriptions "))
    assert line.split()[1:] == ["7", "7"]
    assert "queued again" in out

    assert main(["migrate-db", "--from", str(path), "--to", postgres_url]) == 2
    assert "is not empty" in capsys.readouterr().err


def test_the_command_wants_a_postgresql_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate-db", "--from", str(tmp_path / "x.db"), "--to", str(tmp_path / "y.db")]) == 2
    assert "postgresql:// URL" in capsys.readouterr().err
