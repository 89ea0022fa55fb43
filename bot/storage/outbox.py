"""The outbox: one row per (article, chat, topic), the single truth of what was delivered.

Fan-out is one set-based INSERT ... SELECT; the dispatcher claims rows (queued -> sending),
sends them, and records each outcome before it claims more. A crash leaves rows in 'sending';
``release_claims`` puts them back in the queue at start-up, so the only messages that can go
out twice are the ones in flight at the moment of the crash.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field

import aiosqlite

from bot.models import OutboxStats
from bot.storage.connection import Database

# kw_match(folded_keyword, folded_text) is registered on the connection (bot.text.keyword_matches).
# Exclusions are gathered once per article so the million-row scan does a hash lookup, not a
# correlated subquery per row.
FAN_OUT = """
INSERT OR IGNORE INTO outbox (article_id, chat_id, thread_id, state, priority, next_attempt_at, created_at)
SELECT :article_id, s.chat_id, s.thread_id,
       CASE WHEN c.digest_time IS NULL THEN 'queued' ELSE 'digest' END,
       :priority, :now, :now
FROM subscriptions AS s
JOIN chats AS c ON c.id = s.chat_id
WHERE s.exclude = 0
  AND c.status = 'active'
  AND s.chat_id NOT IN (SELECT user_id FROM bans)
  AND (s.kind = 'all'
       OR (s.kind = 'category' AND s.value = :category)
       OR (s.kind = 'source' AND s.value = :source)
       OR (s.kind = 'keyword' AND kw_match(s.value, :text)))
  AND (s.chat_id, s.thread_id) NOT IN (
      SELECT x.chat_id, x.thread_id FROM subscriptions AS x
      WHERE x.exclude = 1
        AND ((x.kind = 'category' AND x.value = :category)
             OR (x.kind = 'source' AND x.value = :source)
             OR (x.kind = 'keyword' AND kw_match(x.value, :text)))
  )
"""
RELEASE_CLAIMS = "UPDATE outbox SET state = 'queued' WHERE state = 'sending'"
ACTIVE_ARTICLES = """
SELECT article_id, MAX(priority) AS priority, MIN(id) AS first_id
FROM outbox
WHERE state = 'queued' AND next_attempt_at <= :now
GROUP BY article_id
ORDER BY priority DESC, first_id
LIMIT :limit
"""
CLAIM_SELECT = """
SELECT o.id, o.article_id, o.chat_id, c.type AS chat_type, o.thread_id, o.attempts, o.created_at,
       o.priority, c.timezone, c.language, c.digest_time, c.quiet_start, c.quiet_end,
       o.last_error IS 'quiet' AS held, o.kind, o.silent
FROM outbox AS o JOIN chats AS c ON c.id = o.chat_id
WHERE o.state = 'queued' AND o.article_id = :article_id AND o.next_attempt_at <= :now
ORDER BY o.id
LIMIT :limit
"""
# Rows held through a chat's quiet hours go out together as one list when the hours end.
CLAIM_HELD_SELECT = """
SELECT o.id, o.article_id, o.chat_id, c.type AS chat_type, o.thread_id, o.attempts, o.created_at,
       o.priority, c.timezone, c.language, c.digest_time, c.quiet_start, c.quiet_end, 1 AS held,
       o.kind, o.silent
FROM outbox AS o JOIN chats AS c ON c.id = o.chat_id
WHERE o.chat_id = :chat_id AND o.state = 'queued' AND o.last_error = 'quiet' AND o.next_attempt_at <= :now
ORDER BY o.id
LIMIT :limit
"""
MARK_HELD = "UPDATE outbox SET state = 'queued', next_attempt_at = ?, last_error = 'quiet' WHERE id = ?"
DIGEST_CHATS = """
SELECT id, digest_time, timezone, last_digest_at FROM chats
WHERE status = 'active' AND digest_time IS NOT NULL
"""
DIGEST_ROWS = """
SELECT id, article_id, thread_id FROM outbox
WHERE chat_id = :chat_id AND state = 'digest'
ORDER BY thread_id, id
"""
MARK_DIGESTED = "UPDATE outbox SET state = 'digested', message_id = ?, sent_at = ? WHERE id = ?"
CLAIM_MARK = "UPDATE outbox SET state = 'sending' WHERE id IN (SELECT value FROM json_each(:ids))"
MARK_SENT = """
UPDATE outbox SET state = 'sent', message_id = ?, sent_at = ?, attempts = attempts + 1, last_error = NULL
WHERE id = ?
"""
MARK_RETRY = """
UPDATE outbox SET state = 'queued', attempts = attempts + 1, next_attempt_at = ?, last_error = ?
WHERE id = ?
"""
MARK_FAILED = "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ?"
# A row handed back without an attempt: the chat's turn had not come, or we are shutting down.
MARK_RELEASED = "UPDATE outbox SET state = 'queued', next_attempt_at = ? WHERE id = ? AND state = 'sending'"
MARK_STALE = "UPDATE outbox SET state = ?, last_error = 'stale' WHERE id = ?"
BLOCK_CHAT = "UPDATE chats SET status = ?, updated_at = ? WHERE id = ? AND status = 'active'"
BLOCK_CHAT_QUEUE = """
UPDATE outbox SET state = 'blocked', last_error = ?
WHERE chat_id = ? AND state IN ('queued', 'sending', 'digest')
"""
COUNT_BY_STATE = "SELECT state, COUNT(*) AS n FROM outbox GROUP BY state"
COUNT_CHATS = "SELECT status, COUNT(*) AS n FROM chats GROUP BY status"


@dataclass(frozen=True, slots=True)
class ClaimedRow:
    id: int
    article_id: int
    chat_id: int
    chat_type: str
    thread_id: int
    attempts: int
    created_at: float
    priority: int
    timezone: str | None = None
    language: str | None = None
    digest_time: str | None = None
    quiet_start: str | None = None
    quiet_end: str | None = None
    held: bool = False  # held through quiet hours; goes out in one list with the chat's others
    kind: str = "push"  # 'channel': a channel post, rendered and paced by bot.channels
    silent: bool = False  # sent with disable_notification


@dataclass(slots=True)
class Outcomes:
    """Outcomes gathered by the dispatcher, written together in one transaction."""

    sent: list[tuple[int, float, int]]  # (message_id, sent_at, row id)
    retry: list[tuple[float, str, int]]  # (next_attempt_at, error, row id)
    failed: list[tuple[str, int]]  # (error, row id)
    released: list[tuple[float, int]]  # (next_attempt_at, row id)
    stale: list[tuple[str, int]]  # (new state: 'stale' or 'digest', row id)
    blocked_chats: list[tuple[str, float, int, str]]  # (status, now, chat id, reason)
    held: list[tuple[float, int]] = field(default_factory=list)  # (quiet hours end, row id)

    @classmethod
    def empty(cls) -> Outcomes:
        return cls([], [], [], [], [], [], [])

    def __len__(self) -> int:
        return (
            len(self.sent)
            + len(self.retry)
            + len(self.failed)
            + len(self.released)
            + len(self.stale)
            + len(self.blocked_chats)
            + len(self.held)
        )


async def fan_out(
    conn: aiosqlite.Connection,
    *,
    article_id: int,
    priority: int,
    category: str,
    source: str,
    text: str,
    now: float,
) -> int:
    """Queue one article for every matching subscription; call inside the article's transaction."""
    cursor = await conn.execute(
        FAN_OUT,
        {
            "article_id": article_id,
            "priority": priority,
            "category": category,
            "source": source,
            "text": text,
            "now": now,
        },
    )
    return cursor.rowcount


async def release_claims(db: Database) -> int:
    """Put rows a crashed dispatcher had claimed back in the queue."""
    return await db.write(RELEASE_CLAIMS)


async def active_articles(db: Database, *, now: float, limit: int = 64) -> list[tuple[int, int]]:
    """Articles with due rows, breaking first, then oldest first: (article id, priority)."""
    rows = await db.fetchall(ACTIVE_ARTICLES, {"now": now, "limit": limit})
    return [(r["article_id"], r["priority"]) for r in rows]


async def claim(db: Database, *, article_id: int, limit: int, now: float) -> list[ClaimedRow]:
    """Take up to ``limit`` due rows of one article and mark them 'sending'."""
    async with db.transaction() as conn:
        async with conn.execute(CLAIM_SELECT, {"article_id": article_id, "now": now, "limit": limit}) as cur:
            rows = await cur.fetchall()
        if rows:
            await conn.execute(CLAIM_MARK, {"ids": json.dumps([r["id"] for r in rows])})
    return [_claimed(r) for r in rows]


def _claimed(row: sqlite3.Row) -> ClaimedRow:
    values = dict(row)
    values["held"] = bool(values["held"])
    values["silent"] = bool(values["silent"])
    return ClaimedRow(**values)


async def claim_held(db: Database, *, chat_id: int, now: float, limit: int = 200) -> list[ClaimedRow]:
    """Take every due row a chat's quiet hours held, to send as one list."""
    async with db.transaction() as conn:
        params = {"chat_id": chat_id, "now": now, "limit": limit}
        async with conn.execute(CLAIM_HELD_SELECT, params) as cur:
            rows = await cur.fetchall()
        if rows:
            await conn.execute(CLAIM_MARK, {"ids": json.dumps([r["id"] for r in rows])})
    return [_claimed(r) for r in rows]


@dataclass(frozen=True, slots=True)
class DigestChat:
    chat_id: int
    digest_time: str
    timezone: str | None
    last_digest_at: float | None


@dataclass(frozen=True, slots=True)
class DigestRow:
    id: int
    article_id: int
    thread_id: int


async def digest_chats(db: Database) -> list[DigestChat]:
    """Active chats that asked for a digest."""
    rows = await db.fetchall(DIGEST_CHATS)
    return [DigestChat(r["id"], r["digest_time"], r["timezone"], r["last_digest_at"]) for r in rows]


async def digest_rows(db: Database, *, chat_id: int) -> list[DigestRow]:
    """The items waiting for a chat's next digest, by topic then age."""
    rows = await db.fetchall(DIGEST_ROWS, {"chat_id": chat_id})
    return [DigestRow(r["id"], r["article_id"], r["thread_id"]) for r in rows]


async def mark_digested(db: Database, *, rows: Iterable[tuple[int, float, int]]) -> None:
    """Record items that went out in a digest: (message id, sent at, row id)."""
    async with db.transaction() as conn:
        await conn.executemany(MARK_DIGESTED, list(rows))


async def record(db: Database, outcomes: Outcomes) -> None:
    """Write a batch of outcomes as one transaction."""
    async with db.transaction() as conn:
        for sql, rows in (
            (MARK_SENT, outcomes.sent),
            (MARK_RETRY, outcomes.retry),
            (MARK_FAILED, outcomes.failed),
            (MARK_RELEASED, outcomes.released),
            (MARK_STALE, outcomes.stale),
            (MARK_HELD, outcomes.held),
        ):
            if rows:
                await conn.executemany(sql, rows)
        for status, now, chat_id, reason in outcomes.blocked_chats:
            await conn.execute(BLOCK_CHAT, (status, now, chat_id))
            await conn.execute(BLOCK_CHAT_QUEUE, (reason, chat_id))


async def release(db: Database, rows: Iterable[tuple[float, int]]) -> None:
    """Hand claimed rows back to the queue without counting an attempt."""
    rows = list(rows)
    if rows:
        async with db.transaction() as conn:
            await conn.executemany(MARK_RELEASED, rows)


async def stats(db: Database) -> OutboxStats:
    by_state = {r["state"]: r["n"] for r in await db.fetchall(COUNT_BY_STATE)}
    by_status = {r["status"]: r["n"] for r in await db.fetchall(COUNT_CHATS)}
    return OutboxStats(
        queued=by_state.get("queued", 0),
        sending=by_state.get("sending", 0),
        sent=by_state.get("sent", 0) + by_state.get("digested", 0),
        failed=by_state.get("failed", 0),
        blocked=by_state.get("blocked", 0),
        stale=by_state.get("stale", 0),
        digest=by_state.get("digest", 0),
        chats_active=by_status.get("active", 0),
        chats_blocked=by_status.get("blocked", 0) + by_status.get("left", 0),
    )
