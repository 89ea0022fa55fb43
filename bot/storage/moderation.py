"""Staff roles, bans, the append-only audit log, the blocklist and the review queue."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from bot.storage import outbox
from bot.storage.interface import Connection, Database, Row
from bot.text import fold, keyword_matches

Role = Literal["owner", "admin", "moderator"]
RANK: dict[str, int] = {"moderator": 1, "admin": 2, "owner": 3}

# A held push a moderator approved is fanned out from what the articles table holds now.
SELECT_FOR_FANOUT = "SELECT title, lead, category, source_id, breaking FROM articles WHERE id = ?"
SELECT_ROLE = "SELECT role FROM staff WHERE user_id = ?"
SELECT_STAFF = "SELECT user_id, role, granted_by, granted_at FROM staff ORDER BY role, user_id"
UPSERT_STAFF = """
INSERT INTO staff (user_id, role, granted_by, granted_at) VALUES (?, ?, ?, ?)
ON CONFLICT (user_id) DO UPDATE SET role = excluded.role, granted_by = excluded.granted_by,
    granted_at = excluded.granted_at
"""
DELETE_STAFF = "DELETE FROM staff WHERE user_id = ?"
SELECT_BAN = "SELECT 1 FROM bans WHERE user_id = ?"
SELECT_BANS = "SELECT user_id, reason, banned_by, banned_at FROM bans ORDER BY banned_at DESC"
INSERT_BAN = """
INSERT INTO bans (user_id, reason, banned_by, banned_at) VALUES (?, ?, ?, ?)
ON CONFLICT (user_id) DO UPDATE SET reason = excluded.reason, banned_by = excluded.banned_by,
    banned_at = excluded.banned_at
"""
# A ban stops what was waiting for the user's private chat too, not only what comes later.
CANCEL_BANNED_QUEUE = """
UPDATE outbox SET state = 'blocked', last_error = 'banned'
WHERE chat_id = ? AND state IN ('queued', 'digest')
"""
DELETE_BAN = "DELETE FROM bans WHERE user_id = ?"
# Telegram usernames are ASCII and case-insensitive; lower() is ASCII-only on SQLite, as NOCASE was.
USER_BY_USERNAME = """
SELECT id FROM chats WHERE type = 'private' AND lower(username) = lower(?) ORDER BY updated_at DESC LIMIT 1
"""
INSERT_AUDIT = "INSERT INTO audit (at, actor, action, target, details) VALUES (?, ?, ?, ?, ?)"
SELECT_AUDIT = "SELECT id, at, actor, action, target, details FROM audit ORDER BY id DESC LIMIT ?"
SELECT_BLOCKLIST = "SELECT word, label FROM blocklist ORDER BY word"
INSERT_BLOCKWORD = """
INSERT INTO blocklist (word, label, added_by, added_at) VALUES (?, ?, ?, ?) ON CONFLICT (word) DO NOTHING
"""
DELETE_BLOCKWORD = "DELETE FROM blocklist WHERE word = ?"

INSERT_REVIEW = """
INSERT INTO reviews (article_id, post_id, reason, created_at) VALUES (?, ?, ?, ?)
"""
SELECT_REVIEW = """
SELECT r.*, cp.channel_id, c.ref AS channel_ref
FROM reviews AS r
LEFT JOIN channel_posts AS cp ON cp.id = r.post_id
LEFT JOIN channels AS c ON c.id = cp.channel_id
WHERE r.id = ?
"""
SELECT_PENDING = """
SELECT r.*, cp.channel_id, c.ref AS channel_ref
FROM reviews AS r
LEFT JOIN channel_posts AS cp ON cp.id = r.post_id
LEFT JOIN channels AS c ON c.id = cp.channel_id
WHERE r.state = 'pending' ORDER BY r.id LIMIT ?
"""
SELECT_CARDLESS = """
SELECT r.*, cp.channel_id, c.ref AS channel_ref
FROM reviews AS r
LEFT JOIN channel_posts AS cp ON cp.id = r.post_id
LEFT JOIN channels AS c ON c.id = cp.channel_id
WHERE r.state = 'pending' AND r.card_message_id IS NULL ORDER BY r.id LIMIT 20
"""
SELECT_BY_PROMPT = "SELECT id, prompt_field FROM reviews WHERE prompt_message_id = ? AND state = 'pending'"
SET_CARD = "UPDATE reviews SET card_chat_id = ?, card_message_id = ? WHERE id = ?"
SET_PROMPT = "UPDATE reviews SET prompt_message_id = ?, prompt_field = ? WHERE id = ? AND state = 'pending'"
SET_EDIT_TITLE = "UPDATE reviews SET title = ?, prompt_message_id = NULL WHERE id = ? AND state = 'pending'"
SET_EDIT_SUMMARY = (
    "UPDATE reviews SET summary = ?, prompt_message_id = NULL WHERE id = ? AND state = 'pending'"
)
# The condition on state makes two moderators pressing at once decide once: only one UPDATE
# finds the row still pending.
DECIDE = """
UPDATE reviews SET state = :state, decided_by = :user, decided_name = :name, decided_at = :now
WHERE id = :id AND state = 'pending'
"""
# An approved channel post waits its turn with the moderator's edits; a rejected one never goes.
POST_APPROVED = (
    "UPDATE channel_posts SET state = 'waiting', title = ?, summary = ? WHERE id = ? AND state = 'review'"
)
POST_REJECTED = "UPDATE channel_posts SET state = 'rejected' WHERE id = ? AND state = 'review'"
COUNT_PENDING = "SELECT COUNT(*) FROM reviews WHERE state = 'pending'"


@dataclass(frozen=True, slots=True)
class StaffMember:
    user_id: int
    role: str
    granted_by: int
    granted_at: float


@dataclass(frozen=True, slots=True)
class Ban:
    user_id: int
    reason: str
    banned_by: int
    banned_at: float


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: float
    actor: int
    action: str
    target: str
    details: str


@dataclass(frozen=True, slots=True)
class Review:
    id: int
    article_id: int
    post_id: int | None
    channel_id: int | None
    channel_ref: str | None
    reason: str
    state: str
    title: str | None
    summary: str | None
    card_chat_id: int | None
    card_message_id: int | None
    decided_by: int | None
    decided_name: str | None
    decided_at: float | None


def _review(row: Row) -> Review:
    return Review(
        id=row["id"],
        article_id=row["article_id"],
        post_id=row["post_id"],
        channel_id=row["channel_id"],
        channel_ref=row["channel_ref"],
        reason=row["reason"],
        state=row["state"],
        title=row["title"],
        summary=row["summary"],
        card_chat_id=row["card_chat_id"],
        card_message_id=row["card_message_id"],
        decided_by=row["decided_by"],
        decided_name=row["decided_name"],
        decided_at=row["decided_at"],
    )


# --- roles, bans, audit --------------------------------------------------------------------


async def role_of(db: Database, *, user_id: int, owners: frozenset[int]) -> Role | None:
    """The user's role, read from the database on every call (a demotion takes effect at once)."""
    if user_id in owners:
        return "owner"
    role = await db.scalar(SELECT_ROLE, (user_id,))
    return role if role in ("admin", "moderator") else None


async def list_staff(db: Database) -> list[StaffMember]:
    return [StaffMember(*tuple(r)) for r in await db.fetchall(SELECT_STAFF)]


async def audit(
    conn: Connection, *, actor: int, action: str, target: str, details: str, now: float
) -> None:
    """Append to the audit log inside the caller's transaction, so the act and its record agree."""
    await conn.execute(INSERT_AUDIT, (now, actor, action, target, details[:1000]))


async def record(
    db: Database, *, actor: int, action: str, target: str = "", details: str = "", now: float
) -> None:
    """Append one audit entry as its own transaction."""
    async with db.transaction() as conn:
        await audit(conn, actor=actor, action=action, target=target, details=details, now=now)


async def set_role(db: Database, *, user_id: int, role: str | None, actor: int, now: float) -> None:
    """Grant a role (or take it away with None), and audit it."""
    async with db.transaction() as conn:
        if role is None:
            await conn.execute(DELETE_STAFF, (user_id,))
        else:
            await conn.execute(UPSERT_STAFF, (user_id, role, actor, now))
        await audit(
            conn,
            actor=actor,
            action="demote" if role is None else "promote",
            target=str(user_id),
            details=role or "",
            now=now,
        )


async def recent_audit(db: Database, *, limit: int) -> list[AuditEntry]:
    return [AuditEntry(*tuple(r)) for r in await db.fetchall(SELECT_AUDIT, (limit,))]


async def is_banned(db: Database, *, user_id: int) -> bool:
    return await db.scalar(SELECT_BAN, (user_id,)) is not None


async def ban(db: Database, *, user_id: int, reason: str, actor: int, now: float) -> int:
    """Ban a user and stop what waits for their chat; return how many deliveries were stopped."""
    async with db.transaction() as conn:
        await conn.execute(INSERT_BAN, (user_id, reason, actor, now))
        cursor = await conn.execute(CANCEL_BANNED_QUEUE, (user_id,))
        await audit(conn, actor=actor, action="ban", target=str(user_id), details=reason, now=now)
        return cursor.rowcount


async def unban(db: Database, *, user_id: int, actor: int, now: float) -> bool:
    async with db.transaction() as conn:
        cursor = await conn.execute(DELETE_BAN, (user_id,))
        if cursor.rowcount:
            await audit(conn, actor=actor, action="unban", target=str(user_id), details="", now=now)
        return bool(cursor.rowcount)


async def list_bans(db: Database) -> list[Ban]:
    return [Ban(*tuple(r)) for r in await db.fetchall(SELECT_BANS)]


async def user_by_username(db: Database, *, username: str) -> int | None:
    """The id of a user who wrote to the bot privately under this @username."""
    value = await db.scalar(USER_BY_USERNAME, (username.lstrip("@"),))
    return None if value is None else int(value)


# --- blocklist -----------------------------------------------------------------------------


async def blocklist(db: Database) -> list[tuple[str, str]]:
    """(folded word, label as typed) pairs."""
    return [(r["word"], r["label"]) for r in await db.fetchall(SELECT_BLOCKLIST)]


async def blocklist_words(conn: Connection) -> list[str]:
    """The folded words, read inside a caller's transaction (ingest's fan-out)."""
    async with conn.execute(SELECT_BLOCKLIST) as cur:
        return [r["word"] for r in await cur.fetchall()]


def blocked_by(words: list[str], text: str) -> str | None:
    """The first blocklist word found in text, matched like keyword subscriptions."""
    folded = fold(text)
    return next((w for w in words if keyword_matches(w, folded)), None)


async def blocklist_add(db: Database, *, words: str, actor: int, now: float) -> bool:
    word = fold(" ".join(words.split()))
    async with db.transaction() as conn:
        cursor = await conn.execute(INSERT_BLOCKWORD, (word, words.strip(), actor, now))
        if cursor.rowcount:
            await audit(conn, actor=actor, action="blocklist add", target=words.strip(), details="", now=now)
        return bool(cursor.rowcount)


async def blocklist_remove(db: Database, *, words: str, actor: int, now: float) -> bool:
    word = fold(" ".join(words.split()))
    async with db.transaction() as conn:
        cursor = await conn.execute(DELETE_BLOCKWORD, (word,))
        if cursor.rowcount:
            await audit(
                conn, actor=actor, action="blocklist remove", target=words.strip(), details="", now=now
            )
        return bool(cursor.rowcount)


# --- review queue --------------------------------------------------------------------------


async def hold_push(conn: Connection, *, article_id: int, reason: str, now: float) -> None:
    """Hold a push the blocklist caught (inside ingest's transaction)."""
    await conn.execute(INSERT_REVIEW, (article_id, None, reason, now))


async def hold_post(
    conn: Connection, *, article_id: int, post_id: int, reason: str, now: float
) -> None:
    await conn.execute(INSERT_REVIEW, (article_id, post_id, reason, now))


async def get_review(db: Database, *, review_id: int) -> Review | None:
    row = await db.fetchone(SELECT_REVIEW, (review_id,))
    return None if row is None else _review(row)


async def pending(db: Database, *, limit: int = 50) -> list[Review]:
    return [_review(r) for r in await db.fetchall(SELECT_PENDING, (limit,))]


async def count_pending(db: Database) -> int:
    return int(await db.scalar(COUNT_PENDING) or 0)


async def cardless(db: Database) -> list[Review]:
    """Pending reviews whose card has not reached the review chat yet."""
    return [_review(r) for r in await db.fetchall(SELECT_CARDLESS)]


async def set_card(db: Database, *, review_id: int, chat_id: int, message_id: int) -> None:
    await db.write(SET_CARD, (chat_id, message_id, review_id))


async def set_prompt(db: Database, *, review_id: int, message_id: int, field: str) -> bool:
    return bool(await db.write(SET_PROMPT, (message_id, field, review_id)))


async def review_for_prompt(db: Database, *, message_id: int) -> tuple[int, str] | None:
    row = await db.fetchone(SELECT_BY_PROMPT, (message_id,))
    return None if row is None else (row["id"], row["prompt_field"])


async def edit_review(
    db: Database, *, review_id: int, field: str, value: str, actor: int, now: float
) -> bool:
    """Store a moderator's new headline or summary for a pending card."""
    async with db.transaction() as conn:
        sql = SET_EDIT_TITLE if field == "title" else SET_EDIT_SUMMARY
        cursor = await conn.execute(sql, (value, review_id))
        if cursor.rowcount:
            await audit(
                conn,
                actor=actor,
                action=f"edit {field}",
                target=f"review {review_id}",
                details=value,
                now=now,
            )
        return bool(cursor.rowcount)


@dataclass(frozen=True, slots=True)
class Decision:
    review: Review
    won: bool  # False: someone else decided first, and this press changed nothing


async def decide(
    db: Database, *, review_id: int, approve: bool, actor: int, actor_name: str, now: float
) -> Decision | None:
    """Approve or reject once; the loser of a race learns who won. None: no such review."""
    state = "approved" if approve else "rejected"
    async with db.transaction() as conn:
        cursor = await conn.execute(
            DECIDE, {"state": state, "user": actor, "name": actor_name, "now": now, "id": review_id}
        )
        won = cursor.rowcount == 1
        if won:
            async with conn.execute(SELECT_REVIEW, (review_id,)) as cur:
                row = await cur.fetchone()
            assert row is not None
            if row["post_id"] is not None:
                if approve:
                    await conn.execute(POST_APPROVED, (row["title"], row["summary"], row["post_id"]))
                else:
                    await conn.execute(POST_REJECTED, (row["post_id"],))
            elif approve:
                await _release_push(conn, row["article_id"], now)
            await audit(
                conn,
                actor=actor,
                action="approve" if approve else "reject",
                target=f"review {review_id}",
                details=json.dumps({"article": row["article_id"]}),
                now=now,
            )
    review = await get_review(db, review_id=review_id)
    return None if review is None else Decision(review, won)


async def _release_push(conn: Connection, article_id: int, now: float) -> None:
    """Queue a held story for its readers now that a moderator approved it."""
    async with conn.execute(SELECT_FOR_FANOUT, (article_id,)) as cur:
        row = await cur.fetchone()
    if row is None:
        return
    await outbox.fan_out(
        conn,
        article_id=article_id,
        priority=1 if row["breaking"] else 0,
        category=fold(row["category"] or ""),
        source=row["source_id"],
        text=fold(f"{row['title']}\n{row['lead']}"),
        now=now,
    )
