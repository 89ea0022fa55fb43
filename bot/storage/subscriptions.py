"""What each chat (or forum topic) wants to receive."""

from __future__ import annotations

from bot.models import Subscription, SubscriptionKind
from bot.storage.interface import Database, Row

INSERT_SUBSCRIPTION = """
INSERT INTO subscriptions (chat_id, thread_id, kind, value, label, exclude, created_at)
VALUES (:chat_id, :thread_id, :kind, :value, :label, :exclude, :now)
ON CONFLICT (chat_id, thread_id, kind, value, exclude) DO NOTHING
"""
DELETE_MATCHING = """
DELETE FROM subscriptions
WHERE chat_id = :chat_id AND thread_id = :thread_id AND kind = :kind AND value = :value AND exclude = :exclude
"""
DELETE_ALL = "DELETE FROM subscriptions WHERE chat_id = :chat_id AND thread_id = :thread_id"
DELETE_BY_ID = "DELETE FROM subscriptions WHERE id = :id AND chat_id = :chat_id"
LIST_FOR_CHAT = """
SELECT * FROM subscriptions WHERE chat_id = :chat_id AND thread_id = :thread_id
ORDER BY exclude, kind != 'all', kind, label
"""
LIST_ALL_FOR_CHAT = """
SELECT * FROM subscriptions WHERE chat_id = :chat_id ORDER BY thread_id, exclude, kind != 'all', kind, label
"""
# Categories readers can pick from: those seen on recent articles, most used first.
RECENT_CATEGORIES = """
SELECT category FROM articles
WHERE category IS NOT NULL AND category != '' AND published_at >= :since
GROUP BY category ORDER BY COUNT(*) DESC, category LIMIT :limit
"""
# Every category a reader may name: those on stored articles and those sources are configured with.
KNOWN_CATEGORIES = """
SELECT category FROM (
    SELECT category, COUNT(*) AS n FROM articles
    WHERE category IS NOT NULL AND category != '' GROUP BY category
    UNION ALL
    SELECT category, 0 FROM sources WHERE category IS NOT NULL AND category != ''
) AS seen GROUP BY category ORDER BY SUM(n) DESC, category LIMIT :limit
"""
GET_BY_ID = "SELECT * FROM subscriptions WHERE id = :id AND chat_id = :chat_id"
COUNT_FOR_CHAT = "SELECT COUNT(*) FROM subscriptions WHERE chat_id = :chat_id"
HAS_EXACTLY = """
SELECT 1 FROM subscriptions
WHERE chat_id = :chat_id AND thread_id = :thread_id AND kind = :kind AND value = :value AND exclude = :exclude
"""
# Kept by triggers (migration 0007): subscriptions of active chats, exclusions aside.
COUNT_ACTIVE = "SELECT n FROM subscription_count"


class TooManySubscriptions(Exception):
    """The chat already has as many subscriptions as a chat may have."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"a chat may have at most {limit} subscriptions")
        self.limit = limit


def _from_row(row: Row) -> Subscription:
    return Subscription(
        id=row["id"],
        chat_id=row["chat_id"],
        thread_id=row["thread_id"],
        kind=row["kind"],
        value=row["value"],
        label=row["label"],
        exclude=bool(row["exclude"]),
    )


async def subscribe(
    db: Database,
    *,
    chat_id: int,
    thread_id: int = 0,
    kind: SubscriptionKind,
    value: str = "",
    label: str = "",
    exclude: bool = False,
    now: float,
    limit: int | None = None,
) -> bool:
    """Add a subscription; return False when the chat already had exactly this one.

    With ``limit``, a chat (all its topics together) that already has that many is refused with
    ``TooManySubscriptions``: every subscription costs at each article's fan-out.
    """
    params = {
        "chat_id": chat_id,
        "thread_id": thread_id,
        "kind": kind,
        "value": value,
        "label": label or value,
        "exclude": int(exclude),
        "now": now,
    }
    async with db.transaction() as conn:
        if limit is not None:
            async with conn.execute(COUNT_FOR_CHAT, {"chat_id": chat_id}) as cur:
                row = await cur.fetchone()
            if row is not None and row[0] >= limit:
                async with conn.execute(HAS_EXACTLY, params) as cur:
                    if await cur.fetchone() is not None:
                        return False
                raise TooManySubscriptions(limit)
        cursor = await conn.execute(INSERT_SUBSCRIPTION, params)
        return cursor.rowcount > 0


async def unsubscribe(
    db: Database,
    *,
    chat_id: int,
    thread_id: int = 0,
    kind: SubscriptionKind | None = None,
    value: str = "",
    exclude: bool = False,
) -> int:
    """Remove one subscription, or all of a chat's (topic's) with ``kind=None``; return how many."""
    if kind is None:
        return await db.write(DELETE_ALL, {"chat_id": chat_id, "thread_id": thread_id})
    return await db.write(
        DELETE_MATCHING,
        {"chat_id": chat_id, "thread_id": thread_id, "kind": kind, "value": value, "exclude": int(exclude)},
    )


async def remove_by_id(db: Database, *, chat_id: int, subscription_id: int) -> bool:
    return await db.write(DELETE_BY_ID, {"id": subscription_id, "chat_id": chat_id}) > 0


async def list_for_chat(db: Database, *, chat_id: int, thread_id: int = 0) -> list[Subscription]:
    rows = await db.fetchall(LIST_FOR_CHAT, {"chat_id": chat_id, "thread_id": thread_id})
    return [_from_row(r) for r in rows]


async def list_all_for_chat(db: Database, *, chat_id: int) -> list[Subscription]:
    """Every subscription of the chat, in all its topics."""
    return [_from_row(r) for r in await db.fetchall(LIST_ALL_FOR_CHAT, {"chat_id": chat_id})]


async def count_active(db: Database) -> int:
    rows = await db.read(COUNT_ACTIVE)
    return int(rows[0][0]) if rows else 0


async def get_by_id(db: Database, *, chat_id: int, subscription_id: int) -> Subscription | None:
    row = await db.fetchone(GET_BY_ID, {"id": subscription_id, "chat_id": chat_id})
    return None if row is None else _from_row(row)


async def recent_categories(db: Database, *, since: float, limit: int = 20) -> list[str]:
    """Category names of articles published since a time, most common first."""
    rows = await db.fetchall(RECENT_CATEGORIES, {"since": since, "limit": limit})
    return [str(r["category"]) for r in rows]


async def known_categories(db: Database, *, limit: int = 1000) -> list[str]:
    """Every category name seen on an article or set on a source, most common first."""
    rows = await db.fetchall(KNOWN_CATEGORIES, {"limit": limit})
    return [str(r["category"]) for r in rows]
