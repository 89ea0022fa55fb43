"""Channels the bot posts to, and each story's way to them: waiting, held for review, posted.

A channel job moves stories along: new articles that match a channel become ``waiting`` posts
(or ``review`` when a moderator must see them first); when the channel's interval has passed,
the next waiting post becomes one outbox row (kind 'channel'), which the dispatcher sends like
any other delivery, with the same limits, retries and crash safety.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from bot.models import Article
from bot.storage import moderation, outbox
from bot.storage.articles import article_from_row, hide
from bot.storage.dialect import Dialect
from bot.storage.interface import Database, Row, inserted_id

# Channel posts use topic -1 in the outbox: a channel that also subscribed through commands
# gets its reader pushes as topic 0, and the two never collide on the UNIQUE key.
CHANNEL_THREAD = -1

UPSERT_CONFIGURED = """
INSERT INTO channels (ref, origin, options, last_article, created_at)
VALUES (:ref, 'config', :options, (SELECT COALESCE(MAX(id), 0) FROM articles), :now)
ON CONFLICT (ref) DO UPDATE SET options = excluded.options, origin = 'config'
"""


@functools.cache
def _delete_unconfigured(dialect: Dialect) -> str:
    refs = dialect.texts(":refs")  # fixed text of the dialect, never data
    return f"DELETE FROM channels WHERE origin = 'config' AND ref NOT IN {refs}"  # noqa: S608


INSERT_ADDED = """
INSERT INTO channels (ref, chat_id, title, origin, options, last_article, created_at)
VALUES (:ref, :chat_id, :title, 'admin', :options, (SELECT COALESCE(MAX(id), 0) FROM articles), :now)
ON CONFLICT (ref) DO UPDATE SET chat_id = excluded.chat_id, title = excluded.title,
    options = excluded.options, state = 'active', state_reason = NULL
"""
DELETE_CHANNEL = "DELETE FROM channels WHERE id = ?"
CANCEL_CHANNEL_QUEUE = """
UPDATE outbox SET state = 'stale', last_error = 'channel removed'
WHERE chat_id = ? AND thread_id = -1 AND state IN ('queued', 'sending')
"""
SELECT_CHANNELS = """
SELECT ch.*,
       (SELECT COUNT(*) FROM channel_posts p
        WHERE p.channel_id = ch.id AND p.state IN ('waiting', 'queued')) AS queued,
       (SELECT COUNT(*) FROM channel_posts p WHERE p.channel_id = ch.id AND p.state = 'review') AS in_review,
       (SELECT COUNT(*) FROM channel_posts p WHERE p.channel_id = ch.id AND p.state = 'stale') AS stale,
       (SELECT MAX(posted_at) FROM channel_posts p
        WHERE p.channel_id = ch.id AND p.state = 'posted') AS last_posted
FROM channels ch ORDER BY ch.id
"""
SET_CHAT = "UPDATE channels SET chat_id = ?, title = ? WHERE id = ?"
SET_STATE = """
UPDATE channels SET state = :state, state_reason = :reason
WHERE chat_id = :chat_id AND state != :state
"""
NEW_ARTICLES = """
SELECT a.*, s.name AS source_name FROM articles a JOIN sources s ON s.id = a.source_id
WHERE a.id > :after AND a.fanout = 'done' AND a.hidden = 0
ORDER BY a.id LIMIT :limit
"""
MAX_ARTICLE = "SELECT COALESCE(MAX(id), 0) FROM articles"
INSERT_POST = """
INSERT INTO channel_posts (channel_id, article_id, state, priority, created_at)
VALUES (?, ?, ?, ?, ?) ON CONFLICT (channel_id, article_id) DO NOTHING
RETURNING id
"""
SET_CURSOR = "UPDATE channels SET last_article = ? WHERE id = ?"
IN_FLIGHT = """
SELECT 1 FROM outbox WHERE chat_id = ? AND thread_id = -1 AND state IN ('queued', 'sending') LIMIT 1
"""
# News too old when its turn comes (a channel paused for hours) is dropped, as for readers.
ANY_STALE = (
    "SELECT 1 FROM channel_posts WHERE channel_id = ? AND state = 'waiting' AND created_at < ? LIMIT 1"
)
DROP_STALE = """
UPDATE channel_posts SET state = 'stale' WHERE channel_id = ? AND state = 'waiting' AND created_at < ?
"""
ANY_IN_FLIGHT = "SELECT 1 FROM channel_posts WHERE state = 'queued' LIMIT 1"
ANY_WAITING = "SELECT 1 FROM channel_posts WHERE channel_id = ? AND state = 'waiting' LIMIT 1"
NEXT_WAITING = """
SELECT id, article_id, priority FROM channel_posts
WHERE channel_id = ? AND state = 'waiting' ORDER BY priority DESC, id LIMIT 1
"""
INSERT_OUTBOX = """
INSERT INTO outbox
    (article_id, chat_id, thread_id, state, priority, next_attempt_at, created_at, kind, silent)
VALUES (?, ?, -1, 'queued', ?, ?, ?, 'channel', ?)
ON CONFLICT (article_id, chat_id, thread_id) DO NOTHING
RETURNING id
"""
MARK_QUEUED = "UPDATE channel_posts SET state = 'queued', outbox_id = ? WHERE id = ?"
MARK_DOUBLE = "UPDATE channel_posts SET state = 'cancelled' WHERE id = ?"
SET_LAST_POST = "UPDATE channels SET last_post_at = ? WHERE id = ?"
# The outbox is the truth of what was sent; a post learns its fate from its row.
SETTLE_POSTED = """
UPDATE channel_posts SET state = 'posted',
    message_id = (SELECT o.message_id FROM outbox o WHERE o.id = channel_posts.outbox_id),
    posted_at = (SELECT o.sent_at FROM outbox o WHERE o.id = channel_posts.outbox_id)
WHERE state = 'queued'
  AND EXISTS (SELECT 1 FROM outbox o WHERE o.id = channel_posts.outbox_id AND o.state = 'sent')
"""
SETTLE_FAILED = """
UPDATE channel_posts SET state = 'failed'
WHERE state = 'queued' AND EXISTS (
    SELECT 1 FROM outbox o WHERE o.id = channel_posts.outbox_id AND o.state IN ('failed', 'blocked', 'stale'))
"""
# A post Telegram refused for want of rights, or because the bot was removed, is not lost: it
# waits again (its outbox row goes, so it can be queued anew) and the channel pauses.
LOST_RIGHTS = """
SELECT p.id AS post_id, p.outbox_id, p.channel_id, ch.ref, o.last_error
FROM channel_posts p
CROSS JOIN outbox o ON o.id = p.outbox_id  -- CROSS: start from the few posts in flight, not the outbox
JOIN channels ch ON ch.id = p.channel_id
WHERE p.state = 'queued' AND o.kind = 'channel'
  AND (o.state = 'blocked'
       OR (o.state = 'failed'
           AND (lower(o.last_error) LIKE '%rights%' OR lower(o.last_error) LIKE '%not enough%')))
"""
REQUEUE_POST = "UPDATE channel_posts SET state = 'waiting', outbox_id = NULL WHERE id = ?"
DROP_ROW = "DELETE FROM outbox WHERE id = ?"
PAUSE = "UPDATE channels SET state = 'paused', state_reason = ? WHERE id = ? AND state = 'active'"
SET_SENT_PARTS = "UPDATE channel_posts SET kind = ?, extra_message_id = ? WHERE outbox_id = ?"
SELECT_POST_FOR_ROW = """
SELECT p.title, p.summary, ch.options FROM channel_posts p JOIN channels ch ON ch.id = p.channel_id
WHERE p.outbox_id = ?
"""
EDITS_DUE = """
SELECT p.id, p.article_id, p.title, p.summary, p.message_id, p.kind, ch.chat_id, ch.options
FROM channel_posts p JOIN channels ch ON ch.id = p.channel_id
JOIN articles a ON a.id = p.article_id
WHERE p.state = 'posted' AND p.message_id IS NOT NULL AND a.hidden = 0 AND p.posted_at > :since
  AND (SELECT MAX(changed_at) FROM article_changes c WHERE c.article_id = p.article_id)
      > COALESCE(p.edited_at, p.posted_at)
LIMIT 20
"""
MARK_EDITED = "UPDATE channel_posts SET edited_at = ? WHERE id = ?"
COUNT_QUEUES = """
SELECT COUNT(*) FROM channel_posts WHERE state IN ('waiting', 'queued')
"""

# Takedown: the story leaves every queue, and the messages already out are listed for deletion.
CANCEL_PUSHES = """
UPDATE outbox SET state = 'stale', last_error = 'taken down'
WHERE article_id = ? AND state IN ('queued', 'digest')
"""
CANCEL_POSTS = """
UPDATE channel_posts SET state = 'cancelled' WHERE article_id = ? AND state IN ('waiting', 'review')
"""
PENDING_REVIEWS = "SELECT id FROM reviews WHERE article_id = ? AND state = 'pending'"
WITHDRAW_REVIEWS = """
UPDATE reviews SET state = 'withdrawn', decided_by = ?, decided_name = ?, decided_at = ?
WHERE article_id = ? AND state = 'pending'
"""
SENDING_LEFT = "SELECT COUNT(*) FROM outbox WHERE article_id = ? AND state = 'sending'"
SENT_MESSAGES = """
SELECT chat_id, message_id, sent_at FROM outbox
WHERE article_id = ? AND state = 'sent' AND message_id IS NOT NULL AND kind = 'push'
"""
POSTED_MESSAGES = """
SELECT ch.chat_id, p.message_id, p.extra_message_id, p.posted_at FROM channel_posts p
JOIN channels ch ON ch.id = p.channel_id
WHERE p.article_id = ? AND p.state = 'posted' AND p.message_id IS NOT NULL AND ch.chat_id IS NOT NULL
"""
MARK_TAKEN_DOWN = "UPDATE channel_posts SET state = 'cancelled' WHERE article_id = ? AND state = 'posted'"


@dataclass(frozen=True, slots=True)
class Channel:
    id: int
    ref: str
    chat_id: int | None
    title: str | None
    origin: str
    options: dict[str, Any]
    state: str
    state_reason: str | None
    last_article: int
    last_post_at: float | None
    queued: int = 0
    in_review: int = 0
    last_posted: float | None = None
    stale: int = 0  # stories dropped for waiting too long


@dataclass(frozen=True, slots=True)
class Candidate:
    """A post a channel job decided on: where it goes and whether a moderator sees it first."""

    article_id: int
    priority: int
    review_reason: str | None


@dataclass(frozen=True, slots=True)
class Edit:
    post_id: int
    article_id: int
    title: str | None
    summary: str | None
    message_id: int
    kind: str | None
    chat_id: int
    options: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SentMessage:
    chat_id: int
    message_id: int
    sent_at: float | None


def _channel(row: Row) -> Channel:
    keys = set(row.keys())  # asyncpg's keys() is an iterator, good for one look only
    return Channel(
        id=row["id"],
        ref=row["ref"],
        chat_id=row["chat_id"],
        title=row["title"],
        origin=row["origin"],
        options=json.loads(row["options"] or "{}"),
        state=row["state"],
        state_reason=row["state_reason"],
        last_article=row["last_article"],
        last_post_at=row["last_post_at"],
        queued=row["queued"] if "queued" in keys else 0,
        in_review=row["in_review"] if "in_review" in keys else 0,
        last_posted=row["last_posted"] if "last_posted" in keys else None,
        stale=row["stale"] if "stale" in keys else 0,
    )


async def sync_configured(db: Database, *, channels: list[tuple[str, dict[str, Any]]], now: float) -> None:
    """Make the configured channels exist with their options; forget ones taken out of the file."""
    async with db.transaction() as conn:
        for ref, options in channels:
            await conn.execute(UPSERT_CONFIGURED, {"ref": ref, "options": json.dumps(options), "now": now})
        refs = json.dumps([ref for ref, _ in channels])
        await conn.execute(_delete_unconfigured(db.dialect), {"refs": refs})


async def list_channels(db: Database) -> list[Channel]:
    return [_channel(r) for r in await db.fetchall(SELECT_CHANNELS)]


async def add(
    db: Database,
    *,
    ref: str,
    chat_id: int,
    title: str | None,
    options: dict[str, Any],
    actor: int,
    now: float,
) -> None:
    """Add (or re-add) a channel at run time; it posts stories that arrive from now on."""
    async with db.transaction() as conn:
        await conn.execute(
            INSERT_ADDED,
            {"ref": ref, "chat_id": chat_id, "title": title, "options": json.dumps(options), "now": now},
        )
        await moderation.audit(
            conn, actor=actor, action="channel add", target=ref, details=json.dumps(options), now=now
        )


async def remove(db: Database, *, channel: Channel, actor: int, now: float) -> None:
    """Stop posting to a channel: its queue is dropped, its posted messages stay."""
    async with db.transaction() as conn:
        if channel.chat_id is not None:
            await conn.execute(CANCEL_CHANNEL_QUEUE, (channel.chat_id,))
        await conn.execute(DELETE_CHANNEL, (channel.id,))
        await moderation.audit(
            conn, actor=actor, action="channel remove", target=channel.ref, details="", now=now
        )


async def set_chat(db: Database, *, channel_id: int, chat_id: int, title: str | None) -> None:
    await db.write(SET_CHAT, (chat_id, title, channel_id))


async def set_state(db: Database, *, chat_id: int, state: str, reason: str | None) -> bool:
    """Pause or resume posting; True only when this changed something (admins are told once)."""
    return bool(await db.write(SET_STATE, {"state": state, "reason": reason, "chat_id": chat_id}))


async def new_articles(db: Database, *, after: int, limit: int = 200) -> list[Article]:
    """Stories stored after the channel's cursor, pushed (not backlog) and not taken down."""
    return [article_from_row(r) for r in await db.fetchall(NEW_ARTICLES, {"after": after, "limit": limit})]


async def enqueue(
    db: Database, *, channel_id: int, candidates: list[Candidate], cursor: int, now: float
) -> None:
    """Record a channel's new posts and advance its cursor in one transaction."""
    async with db.transaction() as conn:
        for c in candidates:
            state = "review" if c.review_reason else "waiting"
            cur = await conn.execute(INSERT_POST, (channel_id, c.article_id, state, c.priority, now))
            post_id = await inserted_id(cur)
            if c.review_reason and post_id is not None:
                await moderation.hold_post(
                    conn, article_id=c.article_id, post_id=post_id, reason=c.review_reason, now=now
                )
        await conn.execute(SET_CURSOR, (cursor, channel_id))


async def drop_stale(db: Database, *, channel_id: int, older_than: float) -> int:
    """Drop waiting posts queued before ``older_than``; return how many (the job logs them)."""
    if await db.scalar(ANY_STALE, (channel_id, older_than)) is None:
        return 0
    return await db.write(DROP_STALE, (channel_id, older_than))


async def release_next(db: Database, *, channel: Channel, silent: bool, now: float) -> int | None:
    """Queue the channel's next waiting post (breaking first) for the dispatcher; its article id.

    Nothing is released while an earlier post is still queued or being sent, so the interval
    runs from one post to the next, never two at once.
    """
    if channel.chat_id is None or await db.scalar(ANY_WAITING, (channel.id,)) is None:
        return None  # a read, not a write lock, when there is nothing to post
    async with db.transaction() as conn:
        async with conn.execute(IN_FLIGHT, (channel.chat_id,)) as cur:
            if await cur.fetchone() is not None:
                return None
        async with conn.execute(NEXT_WAITING, (channel.id,)) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        if not await outbox.hold_article(conn, int(row["article_id"])):
            return None  # taken down since it was read: the takedown cancelled its post
        cursor = await conn.execute(
            INSERT_OUTBOX, (row["article_id"], channel.chat_id, row["priority"], now, now, int(silent))
        )
        outbox_id = await inserted_id(cursor)
        if outbox_id is not None:
            await conn.execute(MARK_QUEUED, (outbox_id, row["id"]))
            await conn.execute(SET_LAST_POST, (now, channel.id))
        else:  # already posted there once (the channel was removed and added again): no double
            await conn.execute(MARK_DOUBLE, (row["id"],))
        return int(row["article_id"])


async def settle(db: Database) -> list[str]:
    """Copy the outcome of sent or failed channel rows onto their posts.

    Returns the channels (as configured) this paused because Telegram refused to let the bot post.
    """
    paused: list[str] = []
    # The job runs every second: a read first, so an idle bot takes no write lock for nothing.
    if await db.scalar(ANY_IN_FLIGHT) is None:
        return paused
    async with db.transaction() as conn:
        await conn.execute(SETTLE_POSTED)
        async with conn.execute(LOST_RIGHTS) as cur:
            lost = await cur.fetchall()
        for row in lost:
            await conn.execute(REQUEUE_POST, (row["post_id"],))
            await conn.execute(DROP_ROW, (row["outbox_id"],))
            reason = (
                "no right to post"
                if row["last_error"] and "right" in row["last_error"].lower()
                else "removed"
            )
            if (await conn.execute(PAUSE, (reason, row["channel_id"]))).rowcount:
                paused.append(str(row["ref"]))
        await conn.execute(SETTLE_FAILED)
    return paused


async def post_for_row(
    db: Database, *, outbox_id: int
) -> tuple[str | None, str | None, dict[str, Any]] | None:
    """A channel row's edited headline and summary, and its channel's options."""
    row = await db.fetchone(SELECT_POST_FOR_ROW, (outbox_id,))
    if row is None:
        return None
    return row["title"], row["summary"], json.loads(row["options"] or "{}")


async def record_parts(db: Database, *, outbox_id: int, kind: str, extra_message_id: int | None) -> None:
    await db.write(SET_SENT_PARTS, (kind, extra_message_id, outbox_id))


async def edits_due(db: Database, *, now: float) -> list[Edit]:
    """Posted stories whose title or lead changed at the source after they were posted or last edited."""
    # Telegram lets a bot edit its messages for 48 hours; older posts are not looked at.
    rows = await db.fetchall(EDITS_DUE, {"since": now - 48 * 3600})
    return [
        Edit(
            r["id"],
            r["article_id"],
            r["title"],
            r["summary"],
            r["message_id"],
            r["kind"],
            r["chat_id"],
            json.loads(r["options"] or "{}"),
        )
        for r in rows
    ]


async def mark_edited(db: Database, *, post_id: int, now: float) -> None:
    await db.write(MARK_EDITED, (now, post_id))


async def queued_total(db: Database) -> int:
    return int(await db.scalar(COUNT_QUEUES) or 0)


@dataclass(frozen=True, slots=True)
class Retraction:
    cancelled: int  # queued deliveries and posts that will not go out
    withdrawn: tuple[int, ...]  # review cards that no longer need a decision


async def take_down(
    db: Database, *, article_id: int, actor: int, actor_name: str, reason: str, now: float
) -> Retraction | None:
    """Hide a story, cancel everything still queued for it, and list the messages already out."""
    async with db.transaction() as conn:
        if not await hide(conn, article_id=article_id):
            return None
        await outbox.end_broadcast_fan_out(conn, article_id)
        cancelled = (await conn.execute(CANCEL_PUSHES, (article_id,))).rowcount
        cancelled += (await conn.execute(CANCEL_POSTS, (article_id,))).rowcount
        async with conn.execute(PENDING_REVIEWS, (article_id,)) as cur:
            withdrawn = tuple(r["id"] for r in await cur.fetchall())
        await conn.execute(WITHDRAW_REVIEWS, (actor, actor_name, now, article_id))
        await moderation.audit(
            conn, actor=actor, action="takedown", target=f"article {article_id}", details=reason, now=now
        )
    return Retraction(cancelled, withdrawn)


async def sending_left(db: Database, *, article_id: int) -> int:
    return int(await db.scalar(SENDING_LEFT, (article_id,)) or 0)


async def sent_messages(db: Database, *, article_id: int) -> list[SentMessage]:
    """Every message of the story out there: reader pushes, channel posts and their follow-ups."""
    out = [
        SentMessage(r["chat_id"], r["message_id"], r["sent_at"])
        for r in await db.fetchall(SENT_MESSAGES, (article_id,))
    ]
    for r in await db.fetchall(POSTED_MESSAGES, (article_id,)):
        out.append(SentMessage(r["chat_id"], r["message_id"], r["posted_at"]))
        if r["extra_message_id"]:
            out.append(SentMessage(r["chat_id"], r["extra_message_id"], r["posted_at"]))
    return out


async def mark_taken_down(db: Database, *, article_id: int) -> None:
    await db.write(MARK_TAKEN_DOWN, (article_id,))
