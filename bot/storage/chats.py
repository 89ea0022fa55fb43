"""Chats: private readers, groups, supergroups and channels the bot knows."""

from __future__ import annotations

from bot.models import Chat, ChatStatus, ChatType, PushOptions
from bot.storage import outbox
from bot.storage.interface import Database, Row, dialect_of

UPSERT_CHAT = """
INSERT INTO chats (id, type, title, username, language, status, created_at, updated_at)
VALUES (:id, :type, :title, :username, :language, 'active', :now, :now)
ON CONFLICT (id) DO UPDATE SET
    type = excluded.type,
    title = COALESCE(excluded.title, chats.title),
    username = COALESCE(excluded.username, chats.username),
    language = COALESCE(chats.language, excluded.language),
    status = CASE WHEN :reactivate THEN 'active' ELSE chats.status END,
    updated_at = excluded.updated_at
"""
SELECT_CHAT = "SELECT * FROM chats WHERE id = ?"
SET_STATUS = "UPDATE chats SET status = :status, updated_at = :now WHERE id = :id"
# Deliveries still waiting for a chat that is gone will never go out: say so in the outbox.
BLOCK_QUEUED = """
UPDATE outbox SET state = 'blocked', last_error = :reason
WHERE chat_id = :id AND state IN ('queued', 'sending', 'digest')
"""
SET_TIMEZONE = "UPDATE chats SET timezone = :tz, updated_at = :now WHERE id = :id"
SET_LANGUAGE = "UPDATE chats SET language = :language, updated_at = :now WHERE id = :id"
GET_LANGUAGE = "SELECT language FROM chats WHERE id = :id"
SET_DIGEST = """
UPDATE chats SET digest_time = :at, last_digest_at = COALESCE(last_digest_at, :now), updated_at = :now
WHERE id = :id
"""
# Turning the digest off sends what was waiting for it through the normal queue (or to 'stale').
# The IN term repeats the partial index's condition so that SQLite uses outbox_pending.
UNDIGEST_QUEUE = """
UPDATE outbox SET state = 'queued', next_attempt_at = :now
WHERE chat_id = :id AND state IN ('queued', 'sending', 'digest') AND state = 'digest'
"""
SET_LAST_DIGEST = "UPDATE chats SET last_digest_at = :at WHERE id = :id"
SET_QUIET = "UPDATE chats SET quiet_start = :start, quiet_end = :end, updated_at = :now WHERE id = :id"
# One statement per option: a column name cannot be a bound parameter.
SET_OPTION = {
    "silent": "UPDATE chats SET push_silent = :on, updated_at = :now WHERE id = :id",
    "preview": "UPDATE chats SET push_preview = :on, updated_at = :now WHERE id = :id",
    "photo": "UPDATE chats SET push_photo = :on, updated_at = :now WHERE id = :id",
    "short": "UPDATE chats SET push_short = :on, updated_at = :now WHERE id = :id",
}
COPY_CHAT = """
INSERT INTO chats (id, type, title, username, status, language, timezone, digest_time, quiet_start,
                   quiet_end, last_digest_at, push_silent, push_preview, push_photo, push_short,
                   created_at, updated_at)
SELECT :new_id, 'supergroup', title, username, 'active', language, timezone, digest_time, quiet_start,
       quiet_end, last_digest_at, push_silent, push_preview, push_photo, push_short, created_at, :now
FROM chats WHERE id = :old_id
ON CONFLICT (id) DO UPDATE SET status = 'active', updated_at = excluded.updated_at
"""
# A row the new chat already has stays behind with the old one (it would break a UNIQUE key).
MOVE_SUBSCRIPTIONS = """
UPDATE subscriptions SET chat_id = :new_id
WHERE chat_id = :old_id AND NOT EXISTS (
    SELECT 1 FROM subscriptions AS n
    WHERE n.chat_id = :new_id AND n.thread_id = subscriptions.thread_id AND n.kind = subscriptions.kind
      AND n.value = subscriptions.value AND n.exclude = subscriptions.exclude
)
"""
MOVE_OUTBOX = """
UPDATE outbox SET chat_id = :new_id
WHERE chat_id = :old_id AND state IN ('queued', 'sending', 'digest') AND NOT EXISTS (
    SELECT 1 FROM outbox AS n
    WHERE n.article_id = outbox.article_id AND n.chat_id = :new_id AND n.thread_id = outbox.thread_id
)
"""
RETIRE_CHAT = (
    "UPDATE chats SET status = 'migrated', migrated_to = :new_id, updated_at = :now WHERE id = :old_id"
)

# /forget: the chat row goes, and with it (ON DELETE CASCADE) its subscriptions and every outbox
# row, queued or held, so the counters' triggers see each row leave. The stamp (when the row was
# made, in ms) names the row the confirmation button was drawn for: once it is gone, a second
# press, or one after the chat came back with /start, matches nothing.
SELECT_STAMP = "SELECT CAST(created_at * 1000 AS BIGINT) FROM chats WHERE id = ?"
FORGET_CHAT = "DELETE FROM chats WHERE id = :id AND CAST(created_at * 1000 AS BIGINT) = :stamp"
# The group this supergroup was before Telegram migrated it is the same readers' data.
FORGET_MIGRATED_FROM = "DELETE FROM chats WHERE migrated_to = :id AND status = 'migrated'"
IS_POSTING_CHANNEL = "SELECT 1 FROM channels WHERE chat_id = ?"
COUNT_WAITING = """
SELECT COUNT(*) FROM outbox WHERE chat_id = ? AND state IN ('queued', 'sending', 'digest')
"""
SELECT_CREATED = "SELECT created_at FROM chats WHERE id = ?"


def chat_from_row(row: Row) -> Chat:
    return Chat(
        id=row["id"],
        type=row["type"],
        title=row["title"],
        username=row["username"],
        status=row["status"],
        language=row["language"],
        timezone=row["timezone"],
        digest_time=row["digest_time"],
        quiet_start=row["quiet_start"],
        quiet_end=row["quiet_end"],
        last_digest_at=row["last_digest_at"],
        options=PushOptions(
            silent=bool(row["push_silent"]),
            preview=bool(row["push_preview"]),
            photo=bool(row["push_photo"]),
            short=bool(row["push_short"]),
        ),
    )


async def remember_chat(
    db: Database,
    *,
    chat_id: int,
    chat_type: ChatType,
    title: str | None,
    username: str | None,
    language: str | None,
    now: float,
    reactivate: bool = False,
) -> None:
    """Record a chat we heard from; ``reactivate`` marks it active again (a /start, an unblock)."""
    await db.write(
        UPSERT_CHAT,
        {
            "id": chat_id,
            "type": chat_type,
            "title": title,
            "username": username,
            "language": language,
            "now": now,
            "reactivate": reactivate,
        },
    )


async def get_chat(db: Database, *, chat_id: int) -> Chat | None:
    row = await db.fetchone(SELECT_CHAT, (chat_id,))
    return None if row is None else chat_from_row(row)


async def set_status(db: Database, *, chat_id: int, status: ChatStatus, now: float, reason: str = "") -> None:
    """Change a chat's status; a chat that is no longer active gets nothing more from the outbox."""
    async with db.transaction() as conn:
        await conn.execute(SET_STATUS, {"status": status, "now": now, "id": chat_id})
        if status != "active":
            await conn.execute(BLOCK_QUEUED, {"id": chat_id, "reason": reason or status})


async def set_timezone(db: Database, *, chat_id: int, timezone: str, now: float) -> None:
    await db.write(SET_TIMEZONE, {"tz": timezone, "now": now, "id": chat_id})


async def set_language(db: Database, *, chat_id: int, language: str, now: float) -> None:
    """The language every reply and push to this chat uses from now on."""
    await db.write(SET_LANGUAGE, {"language": language, "now": now, "id": chat_id})


async def language_of(db: Database, *, chat_id: int) -> str | None:
    """The chat's stored language; None for a chat we do not know or one that has none."""
    row = await db.fetchone(GET_LANGUAGE, {"id": chat_id})
    return row["language"] if row is not None else None


async def set_digest(db: Database, *, chat_id: int, at: str | None, now: float) -> None:
    """Set the chat's daily digest time, or turn the digest off (None)."""
    async with db.transaction() as conn:
        await conn.execute(SET_DIGEST, {"at": at, "now": now, "id": chat_id})
        if at is None:
            await conn.execute(UNDIGEST_QUEUE, {"now": now, "id": chat_id})


async def set_last_digest(db: Database, *, chat_id: int, at: float) -> None:
    await db.write(SET_LAST_DIGEST, {"at": at, "id": chat_id})


async def set_quiet_hours(
    db: Database, *, chat_id: int, start: str | None, end: str | None, now: float
) -> None:
    await db.write(SET_QUIET, {"start": start, "end": end, "now": now, "id": chat_id})


async def set_option(db: Database, *, chat_id: int, name: str, on: bool, now: float) -> bool:
    """Set one of a chat's push options (a name of ``PUSH_OPTIONS``); False when the chat is unknown."""
    return await db.write(SET_OPTION[name], {"on": int(on), "now": now, "id": chat_id}) > 0


async def migrate_chat(db: Database, *, old_id: int, new_id: int, now: float) -> None:
    """Move a group that became a supergroup: its settings, subscriptions and pending deliveries,
    and the stories a fan-out under way would otherwise pass it over for."""
    params = {"old_id": old_id, "new_id": new_id, "now": now}
    async with db.transaction() as conn:
        lock = dialect_of(conn).chat_move_lock
        if lock is not None:
            await conn.execute(lock)
        passed = await outbox.passed_over(conn, old_id=old_id, new_id=new_id)
        await conn.execute(COPY_CHAT, params)
        await conn.execute(MOVE_SUBSCRIPTIONS, params)
        await conn.execute(MOVE_OUTBOX, params)
        await outbox.queue_passed_over(conn, passed, new_id=new_id, now=now)
        await conn.execute(RETIRE_CHAT, params)


async def forget_stamp(db: Database, *, chat_id: int) -> int | None:
    """What a /forget button names the chat's current row by; None when the bot has no row for it."""
    value = await db.scalar(SELECT_STAMP, (chat_id,))
    return None if value is None else int(value)


async def forget_chat(db: Database, *, chat_id: int, stamp: int) -> bool:
    """Delete the chat, its subscriptions and its deliveries, once; False when already done."""
    async with db.transaction() as conn:
        cursor = await conn.execute(FORGET_CHAT, {"id": chat_id, "stamp": stamp})
        if cursor.rowcount == 0:
            return False
        await conn.execute(FORGET_MIGRATED_FROM, {"id": chat_id})
    return True


async def is_posting_channel(db: Database, *, chat_id: int) -> bool:
    """Whether the bot posts to this chat on its own (an admin's channel, not a reader's data)."""
    return await db.fetchone(IS_POSTING_CHANNEL, (chat_id,)) is not None


async def waiting_deliveries(db: Database, *, chat_id: int) -> int:
    return int(await db.scalar(COUNT_WAITING, (chat_id,)) or 0)


async def created_at(db: Database, *, chat_id: int) -> float | None:
    value = await db.scalar(SELECT_CREATED, (chat_id,))
    return None if value is None else float(value)
