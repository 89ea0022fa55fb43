"""Articles, and the one transaction that stores a poll's items and queues them for readers."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from bot.models import Article, from_epoch
from bot.news.models import FeedItem
from bot.storage import outbox
from bot.storage.connection import Database
from bot.text import fold

FIND_BY_GUID = "SELECT id, title, lead FROM articles WHERE source_id = ? AND guid = ?"
FIND_BY_URL = "SELECT id FROM articles WHERE url = ?"
INSERT_ARTICLE = """
INSERT INTO articles (source_id, guid, url, title, kicker, category, author, image_url, tags, lead,
                      breaking, published_at, fetched_at, fanout)
VALUES (:source_id, :guid, :url, :title, :kicker, :category, :author, :image_url, :tags, :lead,
        :breaking, :published_at, :now, :fanout)
"""
UPDATE_CHANGED = "UPDATE articles SET title = :title, lead = :lead, updated_at = :now WHERE id = :id"
MARK_SEEDED = "UPDATE sources SET seeded = 1, items_total = items_total + :added WHERE id = :id"
SELECT_ARTICLE = """
SELECT a.*, s.name AS source_name FROM articles a JOIN sources s ON s.id = a.source_id WHERE a.id = ?
"""
SELECT_LATEST = """
SELECT a.*, s.name AS source_name FROM articles a JOIN sources s ON s.id = a.source_id
ORDER BY a.published_at DESC, a.id DESC LIMIT ?
"""
PRUNE_OLDER = "DELETE FROM articles WHERE published_at < ? AND fetched_at < ?"


@dataclass(frozen=True, slots=True)
class StoreResult:
    new: tuple[int, ...]  # article ids stored by this call
    updated: tuple[int, ...]  # ids whose title or lead changed
    queued: int  # outbox rows created


def article_from_row(row: sqlite3.Row) -> Article:
    keys = row.keys()
    return Article(
        id=row["id"],
        source_id=row["source_id"],
        guid=row["guid"],
        url=row["url"],
        title=row["title"],
        lead=row["lead"],
        published_at=from_epoch(row["published_at"]) or from_epoch(0.0),  # type: ignore[arg-type]
        category=row["category"],
        kicker=row["kicker"],
        author=row["author"],
        image_url=row["image_url"],
        tags=tuple(json.loads(row["tags"] or "[]")),
        body=row["body"],
        breaking=bool(row["breaking"]),
        source_name=row["source_name"] if "source_name" in keys else None,
    )


async def store_items(
    db: Database,
    *,
    source_id: str,
    items: Sequence[FeedItem],
    default_category: str | None,
    breaking: bool,
    push: bool,
    now: float,
) -> StoreResult:
    """Store a poll's items and, when ``push``, queue the new ones for readers, all in one transaction.

    ``push`` is False on a source's first poll: what a feed already holds is backlog, and a
    new subscriber must not be flooded with it.
    """
    new: list[int] = []
    updated: list[int] = []
    queued = 0
    async with db.transaction() as conn:
        for item in items:
            async with conn.execute(FIND_BY_GUID, (source_id, item.guid)) as cur:
                known = await cur.fetchone()
            if known is not None:
                if (known["title"], known["lead"]) != (item.title, item.lead):
                    await conn.execute(
                        UPDATE_CHANGED,
                        {"title": item.title, "lead": item.lead, "now": now, "id": known["id"]},
                    )
                    updated.append(known["id"])
                continue
            async with conn.execute(FIND_BY_URL, (item.url,)) as cur:
                if await cur.fetchone() is not None:
                    continue  # the same story reached us through another feed or guid
            category = item.category or default_category
            is_breaking = breaking or any(fold(t) in {"breaking", "urgent"} for t in item.tags)
            cursor = await conn.execute(
                INSERT_ARTICLE,
                {
                    "source_id": source_id,
                    "guid": item.guid,
                    "url": item.url,
                    "title": item.title,
                    "kicker": item.kicker,
                    "category": category,
                    "author": item.author,
                    "image_url": item.image_url,
                    "tags": json.dumps(list(item.tags), ensure_ascii=False),
                    "lead": item.lead,
                    "breaking": int(is_breaking),
                    "published_at": item.published.timestamp() if item.published else now,
                    "now": now,
                    "fanout": "done" if push else "backlog",
                },
            )
            article_id = cursor.lastrowid
            assert article_id is not None
            new.append(article_id)
            if push:
                queued += await outbox.fan_out(
                    conn,
                    article_id=article_id,
                    priority=1 if is_breaking else 0,
                    category=fold(category or ""),
                    source=source_id,
                    text=fold(f"{item.title}\n{item.lead}"),
                    now=now,
                )
        await conn.execute(MARK_SEEDED, {"added": len(new), "id": source_id})
    return StoreResult(tuple(new), tuple(updated), queued)


async def get_article(db: Database, *, article_id: int) -> Article | None:
    row = await db.fetchone(SELECT_ARTICLE, (article_id,))
    return None if row is None else article_from_row(row)


async def latest(db: Database, *, limit: int = 5) -> list[Article]:
    return [article_from_row(r) for r in await db.fetchall(SELECT_LATEST, (limit,))]


async def prune(db: Database, *, older_than: float) -> int:
    """Delete articles (and, by cascade, their deliveries) published and fetched before a time."""
    return await db.write(PRUNE_OLDER, (older_than, older_than))
