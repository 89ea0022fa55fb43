"""Storage of roles, bans, the audit log, the blocklist and the review queue."""

from __future__ import annotations

import pytest

from bot.storage import DATABASE_ERRORS, Database, articles, channels, chats, moderation
from tests.test_storage import NOW, db, item, queued_chats, reader

__all__ = ["db"]  # the fixture, shared with test_storage


async def test_audit_log_is_append_only(db: Database) -> None:
    await moderation.record(db, actor=1, action="ban", target="5", details="spam", now=NOW)
    with pytest.raises(DATABASE_ERRORS, match="append-only"):
        await db.write("UPDATE audit SET action = 'nothing'")
    with pytest.raises(DATABASE_ERRORS, match="append-only"):
        await db.write("DELETE FROM audit")
    assert [e.action for e in await moderation.recent_audit(db, limit=5)] == ["ban"]


async def test_roles_come_from_owners_then_the_database(db: Database) -> None:
    owners = frozenset({1})
    await moderation.set_role(db, user_id=2, role="moderator", actor=1, now=NOW)
    assert await moderation.role_of(db, user_id=1, owners=owners) == "owner"
    assert await moderation.role_of(db, user_id=2, owners=owners) == "moderator"
    await moderation.set_role(db, user_id=2, role=None, actor=1, now=NOW)
    assert await moderation.role_of(db, user_id=2, owners=owners) is None


async def test_username_resolves_to_a_private_chat_seen_before(db: Database) -> None:
    await chats.remember_chat(
        db, chat_id=77, chat_type="private", title="Ann", username="Ann_Reader", language=None, now=NOW
    )
    assert await moderation.user_by_username(db, username="@ann_reader") == 77
    assert await moderation.user_by_username(db, username="@nobody") is None


async def test_a_ban_cancels_waiting_rows_and_fan_out_skips_the_banned_chat(db: Database) -> None:
    await reader(db, 10, ("all", "", False))
    await reader(db, 11, ("all", "", False))
    first = await articles.store_items(
        db, source_id="site", items=[item(1)], default_category=None, breaking=False, push=True, now=NOW
    )
    assert await moderation.ban(db, user_id=10, reason="spam", actor=1, now=NOW) == 1
    second = await articles.store_items(
        db, source_id="site", items=[item(2)], default_category=None, breaking=False, push=True, now=NOW
    )
    assert await queued_chats(db, second.new[0]) == {11}
    state = await db.scalar("SELECT state FROM outbox WHERE chat_id = 10 AND article_id = ?", (first.new[0],))
    assert state == "blocked"


async def test_blocklist_holds_a_push_and_approval_fans_it_out_once(db: Database) -> None:
    await reader(db, 10, ("all", "", False))
    await moderation.blocklist_add(db, words="Secret Plan", actor=1, now=NOW)
    stored = await articles.store_items(
        db,
        source_id="site",
        items=[item(1, "The secret  plan leaked")],
        default_category=None,
        breaking=False,
        push=True,
        now=NOW,
    )
    assert stored.queued == 0
    (held,) = await moderation.pending(db)
    assert held.reason == "blocklist: secret plan"
    won = await moderation.decide(db, review_id=held.id, approve=True, actor=2, actor_name="mod", now=NOW)
    lost = await moderation.decide(db, review_id=held.id, approve=False, actor=3, actor_name="other", now=NOW)
    assert won is not None and won.won and lost is not None and not lost.won
    assert lost.review.state == "approved" and lost.review.decided_name == "mod"
    assert await queued_chats(db, stored.new[0]) == {10}


async def test_a_channel_drops_stories_that_waited_too_long_and_counts_them(db: Database) -> None:
    await channels.sync_configured(db, channels=[("@news", {"min_interval": 60})], now=NOW)
    (channel,) = await channels.list_channels(db)
    stored = await articles.store_items(
        db,
        source_id="site",
        items=[item(1), item(2)],
        default_category=None,
        breaking=False,
        push=True,
        now=NOW,
    )
    old, fresh = stored.new
    await channels.enqueue(
        db, channel_id=channel.id, candidates=[channels.Candidate(old, 0, None)], cursor=old, now=NOW - 7200
    )
    await channels.enqueue(
        db, channel_id=channel.id, candidates=[channels.Candidate(fresh, 0, None)], cursor=fresh, now=NOW
    )
    assert await channels.drop_stale(db, channel_id=channel.id, older_than=NOW - 3600) == 1
    (channel,) = await channels.list_channels(db)
    assert (channel.queued, channel.stale) == (1, 1)
