"""Admins' broadcasts: a draft kept as a hidden article of the reserved '_broadcast' source,
then queued to every active chat through the outbox a slice of chats at a time, like a story."""

from __future__ import annotations

from bot.storage import moderation, outbox
from bot.storage.interface import Database, inserted_id

SOURCE = outbox.BROADCAST_SOURCE

INSERT_DRAFT = """
INSERT INTO articles (source_id, guid, url, title, lead, body, published_at, fetched_at, fanout, hidden)
VALUES (:source, :guid, :url, 'Broadcast', '', :body, :now, :now, 'backlog', 1)
RETURNING id
"""
NEXT_GUID = "SELECT COALESCE(MAX(id), 0) + 1 FROM articles"
# Readers and groups that have the bot, not the channels it posts to, and nobody banned.
COUNT_TARGETS = """
SELECT COUNT(*) FROM chats
WHERE status = 'active' AND type != 'channel' AND id NOT IN (SELECT user_id FROM bans)
"""
# The condition on fanout makes a second press of "Send" (or two admins at once) queue nothing.
CLAIM_DRAFT = "UPDATE articles SET fanout = 'done' WHERE id = ? AND source_id = ? AND fanout = 'backlog'"
DELETE_DRAFT = "DELETE FROM articles WHERE id = ? AND source_id = ? AND fanout = 'backlog'"


async def draft(db: Database, *, html: str, now: float) -> int:
    """Keep a broadcast's text until an admin confirms it; return its id."""
    async with db.transaction() as conn:
        async with conn.execute(NEXT_GUID) as cur:
            row = await cur.fetchone()
        n = int(row[0]) if row else 1
        cursor = await conn.execute(
            INSERT_DRAFT,
            {
                "source": SOURCE,
                "guid": f"b{n}-{now}",
                "url": f"about:broadcast/{n}-{now}",
                "body": html,
                "now": now,
            },
        )
        draft_id = await inserted_id(cursor)
        assert draft_id is not None
        return draft_id


async def count_targets(db: Database) -> int:
    return int(await db.scalar(COUNT_TARGETS) or 0)


async def send(
    db: Database, *, draft_id: int, actor: int, now: float, slice_chats: int | None = None
) -> int | None:
    """Queue a confirmed broadcast to every chat; return how many chats it goes to, or None when
    it was already sent or cancelled. The first slice of chats is queued now and the fan-out job
    queues the rest (outbox.fan_out_broadcast), so a million chats never hold the writer at once."""
    # Counted before, as a read: at a million chats the count is most of the first slice's time.
    queued = await count_targets(db)
    async with db.transaction() as conn:
        if not (await conn.execute(CLAIM_DRAFT, (draft_id, SOURCE))).rowcount:
            return None
        await outbox.fan_out_broadcast(conn, article_id=draft_id, now=now, slice_chats=slice_chats)
        await moderation.audit(
            conn,
            actor=actor,
            action="broadcast",
            target=f"{queued} chats",
            details=f"draft {draft_id}",
            now=now,
        )
        return queued


async def cancel(db: Database, *, draft_id: int, actor: int, now: float) -> bool:
    async with db.transaction() as conn:
        if not (await conn.execute(DELETE_DRAFT, (draft_id, SOURCE))).rowcount:
            return False
        await moderation.audit(
            conn, actor=actor, action="broadcast cancel", target=f"draft {draft_id}", details="", now=now
        )
        return True
