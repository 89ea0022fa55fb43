"""Articles, and the one transaction that stores a poll's items and queues them for readers."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bot.items import FeedItem
from bot.models import Article, from_epoch
from bot.storage import moderation, outbox
from bot.storage import search_index as search
from bot.storage.dialect import Dialect
from bot.storage.interface import Connection, Database, Row, inserted_id
from bot.storage.sources import RECOVER, PollSuccess
from bot.text import fold
from bot.urls import normalize_url, url_key

logger = logging.getLogger(__name__)

# Edits kept per article; older ones are dropped as new ones come.
CHANGES_KEPT = 10
# A seen item is forgotten this long after the source last showed it.
SEEN_RETENTION = 365 * 86400.0
# One pruning step: at most this many articles, and this many of their deliveries deleted (a
# few milliseconds), then a pause that leaves the write lock to sends and polls.
PRUNE_STEP_ARTICLES = 20
PRUNE_STEP_ROWS = 250
PRUNE_PAUSE = 0.01
# A seen item still in its feed has its time refreshed at most this often.
SEEN_TOUCH_EVERY = 86400.0


# A poll's items are looked up together: a feed mostly repeats what it said last time, and one
# query per item made storage the largest cost of a 500-source poll cycle. The lists come as one
# JSON parameter; the dialect's fragment is fixed text, never data (hence the noqa: S608).
@functools.cache
def _find_by_guids(dialect: Dialect) -> str:
    return f"""
SELECT id, guid, title, lead FROM articles
WHERE source_id = :source_id AND guid IN {dialect.texts(":guids")}
"""  # noqa: S608


@functools.cache
def _find_seen(dialect: Dialect) -> str:
    return f"""
SELECT key, seen_at FROM seen_items
WHERE source_id = :source_id AND key IN {dialect.ints(":keys")}
"""  # noqa: S608


# Articles that may be the same page as a poll's items: the same link, the same matching key, or
# a page that named the link as its canonical address.
@functools.cache
def _find_by_links(dialect: Dialect) -> str:
    columns = "id, source_id, guid, url, url_key, canonical_url, publisher_guid"
    urls, keys = dialect.texts(":urls"), dialect.texts(":keys")
    return f"""
SELECT {columns} FROM articles WHERE url IN {urls} AND own_link = 1
UNION
SELECT {columns} FROM articles WHERE url_key IN {keys} AND own_link = 1
UNION
SELECT {columns} FROM articles WHERE canonical_url IN {urls}
"""  # noqa: S608


INSERT_ARTICLE = """
INSERT INTO articles (source_id, guid, url, url_key, publisher_guid, own_link, title, kicker, category,
                      author, image_url, tags, lead, breaking, published_at, published_guessed,
                      fetched_at, fanout)
VALUES (:source_id, :guid, :url, :url_key, :publisher_guid, :own_link, :title, :kicker, :category,
        :author, :image_url, :tags, :lead, :breaking, :published_at, :published_guessed, :now, :fanout)
RETURNING id
"""
REMEMBER_SEEN = """
INSERT INTO seen_items (source_id, key, seen_at) VALUES (:source_id, :key, :now)
ON CONFLICT (source_id, key) DO UPDATE SET seen_at = excluded.seen_at
"""
TOUCH_SEEN = "UPDATE seen_items SET seen_at = :now WHERE source_id = :source_id AND key = :key"
# Pruning goes a few articles at a time (see prune): each step is one short transaction.
SELECT_PRUNABLE = """
SELECT id, source_id, guid FROM articles WHERE published_at < :before AND fetched_at < :before
ORDER BY published_at LIMIT :limit
"""


# Totals, even empty, make fan-out refuse the article (outbox.FAN_OUT), so a moderation release
# between two steps can never queue again the deliveries the steps before deleted.
@functools.cache
def _prune_seal(dialect: Dialect) -> str:
    return f"""
INSERT INTO delivery_totals (article_id) SELECT value FROM {dialect.ints(":ids")} AS j WHERE true
ON CONFLICT (article_id) DO NOTHING
"""  # noqa: S608


# A broadcast article has a row per reader: deleting it at once cascades into all of them, which
# held the write lock for seconds; its rows go first, a bounded number per step.
@functools.cache
def _prune_deliveries(dialect: Dialect) -> str:
    return f"""
DELETE FROM outbox WHERE id IN (
    SELECT o.id FROM {dialect.ints(":ids")} AS j JOIN outbox AS o ON o.article_id = j.value LIMIT :limit
)
"""  # noqa: S608


@functools.cache
def _prune_articles(dialect: Dialect) -> str:
    return f"DELETE FROM articles WHERE id IN {dialect.ints(':ids')}"  # noqa: S608


FORGET_SEEN = """
DELETE FROM seen_items WHERE (source_id, key) IN (
    SELECT source_id, key FROM seen_items WHERE seen_at < :before LIMIT :limit
)
"""
TRIM_CHANGES = """
DELETE FROM article_changes WHERE article_id = :id AND id <= (
    SELECT id FROM article_changes WHERE article_id = :id ORDER BY id DESC LIMIT 1 OFFSET :keep
)
"""
UPDATE_CHANGED = "UPDATE articles SET title = :title, lead = :lead, updated_at = :now WHERE id = :id"
INSERT_CHANGE = """
INSERT INTO article_changes (article_id, field, old, new, changed_at) VALUES (:id, :field, :old, :new, :now)
"""
SELECT_CHANGES = """
SELECT field, old, new, changed_at FROM article_changes WHERE article_id = ? ORDER BY changed_at, id
"""
# An item without a link of its own points at the site's home page: there is no article page to read.
SELECT_PAGES_DUE = """
SELECT id, url FROM articles
WHERE source_id = :source_id AND page_fetched_at IS NULL AND fetched_at >= :since AND own_link = 1
ORDER BY id DESC LIMIT :limit
"""
# The page fills what the feed left out; it never overrides what the feed said. (PostgreSQL cannot
# tell the type of a parameter that is only tested for NULL: the CAST says it.)
UPDATE_PAGE = """
UPDATE articles SET
    body = :body,
    author = COALESCE(author, :author),
    published_at = CASE WHEN published_guessed = 1 AND CAST(:published AS DOUBLE PRECISION) IS NOT NULL
                        THEN :published ELSE published_at END,
    published_guessed = CASE WHEN CAST(:published AS DOUBLE PRECISION) IS NOT NULL
                             THEN 0 ELSE published_guessed END,
    category = COALESCE(category, :category),
    tags = CASE WHEN tags = '[]' THEN :tags ELSE tags END,
    image_url = COALESCE(image_url, :image_url),
    kicker = COALESCE(kicker, :kicker),
    description = :description,
    canonical_url = :canonical_url,
    duplicate_of = :duplicate_of,
    page_fetched_at = :now,
    page_error = NULL
WHERE id = :id
"""
FIND_EARLIER_WITH_URL = """
SELECT id FROM articles
WHERE id < :id AND (url = :url OR canonical_url = :url OR (url_key = :key AND own_link = 1))
ORDER BY id LIMIT 1
"""
RECORD_PAGE_FAILURE = "UPDATE articles SET page_fetched_at = :now, page_error = :error WHERE id = :id"
DELETE_LINKS = "DELETE FROM article_links WHERE article_id = ?"
INSERT_LINK = """
INSERT INTO article_links (article_id, position, url, title) VALUES (:id, :position, :url, :title)
ON CONFLICT (article_id, url) DO NOTHING
"""
SELECT_LINKS = "SELECT url, title FROM article_links WHERE article_id = ? ORDER BY position"
SELECT_PAGE = """
SELECT canonical_url, description, page_fetched_at, page_error, duplicate_of FROM articles WHERE id = ?
"""
UPSERT_PAGE_FACTS = """
INSERT INTO article_pages (article_id, title, kicker, category, author, published_at, published_local,
                           utc_offset, image_url, tags, description, site_name, canonical_url, fetched_at)
VALUES (:id, :title, :kicker, :category, :author, :published, :published_local, :utc_offset, :image_url,
        :tags, :description, :site_name, :canonical_url, :now)
ON CONFLICT (article_id) DO UPDATE SET
    title = excluded.title, kicker = excluded.kicker, category = excluded.category,
    author = excluded.author, published_at = excluded.published_at,
    published_local = excluded.published_local, utc_offset = excluded.utc_offset,
    image_url = excluded.image_url, tags = excluded.tags, description = excluded.description,
    site_name = excluded.site_name, canonical_url = excluded.canonical_url, fetched_at = excluded.fetched_at
"""
SELECT_PAGE_FACTS = "SELECT * FROM article_pages WHERE article_id = ?"
MARK_SEEDED = """
UPDATE sources SET seeded = 1, items_total = items_total + :added, items_merged = items_merged + :merged,
    items_skipped = items_skipped + :skipped
WHERE id = :id
"""
# MARK_SEEDED and sources.RECORD_SUCCESS in one statement: a poll that stored items keeps its
# bookkeeping in the transaction that stored them, one write instead of two.
MARK_SEEDED_POLLED = """
UPDATE sources SET seeded = 1, items_total = items_total + :added, items_merged = items_merged + :merged,
    items_skipped = items_skipped + :skipped,
    last_polled_at = :now, last_success_at = :now, last_error = NULL, consecutive_failures = 0,
    etag = COALESCE(:etag, etag), last_modified = COALESCE(:last_modified, last_modified),
    body_hash = COALESCE(:body_hash, body_hash), next_poll_at = :next_poll_at
WHERE id = :id
"""
SELECT_ARTICLE = """
SELECT a.*, s.name AS source_name, s.category AS source_category
FROM articles a JOIN sources s ON s.id = a.source_id WHERE a.id = ?
"""
SELECT_LATEST = """
SELECT a.*, s.name AS source_name FROM articles a JOIN sources s ON s.id = a.source_id
WHERE a.hidden = 0
ORDER BY a.published_at DESC, a.id DESC LIMIT ?
"""
# A taken-down story leaves /latest, search and related reads: they all filter on hidden = 0.
HIDE_ARTICLE = "UPDATE articles SET hidden = 1 WHERE id = ?"


@dataclass(frozen=True, slots=True)
class ArticleChange:
    field: str
    old: str
    new: str
    changed_at: float


@dataclass(frozen=True, slots=True)
class ArticleLink:
    url: str
    title: str


@dataclass(frozen=True, slots=True)
class PageState:
    """What fetching the article's own page left behind."""

    canonical_url: str | None
    description: str | None
    fetched_at: float | None
    error: str | None
    duplicate_of: int | None


@dataclass(frozen=True, slots=True)
class PageFacts:
    """The parts of an extracted article page that storage keeps."""

    body: str
    author: str | None = None
    published: float | None = None
    category: str | None = None
    tags: tuple[str, ...] = ()
    image_url: str | None = None
    kicker: str | None = None
    description: str | None = None
    canonical_url: str | None = None
    read_also: tuple[tuple[str, str], ...] = ()  # (title, url), as the page lists them
    summary: str | None = None  # extractive, one sentence a line (bot.reading.summarize)
    lang: str | None = None  # detected from the text
    title: str | None = None
    site_name: str | None = None
    published_local: str | None = None  # ISO 8601 with the publisher's offset
    utc_offset: int | None = None  # minutes east of UTC, as the publisher wrote the date


@dataclass(frozen=True, slots=True)
class StoredPage:
    """What an article's own page said, as stored (the feed's version stays on the article)."""

    title: str | None
    kicker: str | None
    category: str | None
    author: str | None
    published_at: float | None
    published_local: str | None
    utc_offset: int | None
    image_url: str | None
    tags: tuple[str, ...]
    description: str | None
    site_name: str | None
    canonical_url: str | None
    fetched_at: float
    read_also: tuple[ArticleLink, ...]


@dataclass(frozen=True, slots=True)
class StoreResult:
    new: tuple[int, ...]  # article ids stored by this call
    updated: tuple[int, ...]  # ids whose title or lead changed
    queued: int  # outbox rows created
    merged: int = 0  # items found to be a story already stored (logged and counted on the source)
    skipped: int = 0  # unreadable items seen for the first time (counted on the source)
    # deliveries queued for each new pushed article whose fan-out ended in this transaction, in order
    fan_outs: tuple[int, ...] = ()
    # The poll recorded with the items (``success``) ended a run of failures: its worker, and only
    # its, tells the admins the source works again.
    recovered: bool = False


@dataclass(frozen=True, slots=True)
class _Known:
    """An article an item may be the same page as."""

    id: int
    source_id: str
    url: str
    url_key: str | None
    canonical_url: str | None
    publisher_guid: bool


def _known_from_row(r: Row) -> _Known:
    return _Known(
        r["id"], r["source_id"], r["url"], r["url_key"], r["canonical_url"], bool(r["publisher_guid"])
    )


def seen_key(guid: str) -> int:
    """The compact key an item's guid is remembered by: 64 bits of its hash."""
    digest = hashlib.blake2b(guid.encode("utf-8", "replace"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _storable(item: FeedItem) -> bool:
    """Whether every text of the item can be stored (a lone surrogate cannot)."""
    texts = [item.guid, item.url, item.title, item.lead, *item.tags]
    texts += [t for t in (item.category, item.kicker, item.author, item.image_url) if t is not None]
    try:
        for text in texts:
            text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _same_page(item: FeedItem, known: _Known, *, source_id: str) -> bool:
    """Whether an item is the page of an article already stored.

    The same link, or links that differ only in what never changes the page, or a page that
    named the link as canonical. Never two items of one source whose publisher gave different
    guids: those are two stories, whatever their links say.
    """
    if known.source_id == source_id and known.publisher_guid and item.publisher_guid:
        return False
    if known.url == item.url or (known.url_key is not None and known.url_key == url_key(item.url)):
        return True
    return known.canonical_url is not None and known.canonical_url in (item.url, normalize_url(item.url))


def article_from_row(row: Row) -> Article:
    keys = set(row.keys())  # asyncpg's keys() is an iterator, good for one look only
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
        source_category=row["source_category"] if "source_category" in keys else None,
    )


def oldest_first(items: Sequence[FeedItem], *, now: float) -> list[FeedItem]:
    """A poll's items in the order they were published, so ids (and deliveries) follow it.

    Feeds list the newest first; stored in that order, a batch of new items reached readers
    newest first. Undated items count as published now (as they are stored); among equal
    times the feed's own order is reversed, since feeds put the newest on top.
    """
    return sorted(reversed(items), key=lambda i: i.published.timestamp() if i.published else now)


async def store_items(
    db: Database,
    *,
    source_id: str,
    items: Sequence[FeedItem],
    default_category: str | None,
    breaking: bool,
    push: bool,
    now: float,
    skipped: Sequence[str] = (),
    success: PollSuccess | None = None,
) -> StoreResult:
    """Store a poll's items and, when ``push``, queue the new ones for readers, all in one transaction.

    ``push`` is False on a source's first poll: what a feed already holds is backlog, and a
    new subscriber must not be flooded with it. An item is the story already stored under its
    guid, else a story this source showed before (its article may be pruned), else, when the
    link says so, a story stored from elsewhere: such a merge is logged and counted.
    ``skipped`` identifies items the parser could not read; each, like an item whose text
    cannot be stored, is counted on the source the first time only and remembered as seen.
    ``success``, when given, is recorded on the source in the same transaction (see
    sources.record_success).
    """
    new: list[int] = []
    updated: list[int] = []
    queued = merged = 0
    recovered = False
    fan_outs: list[int] = []
    good = [item for item in items if _storable(item)]
    if len(good) < len(items):
        logger.warning("Source %s: %d items with unstorable text skipped", source_id, len(items) - len(good))
    unreadable = {seen_key("unreadable:" + key) for key in skipped}
    unreadable |= {seen_key("unreadable:" + item.guid) for item in items if not _storable(item)}
    keys = {item.guid: seen_key(item.guid) for item in good}
    # execute_fetchall, no empty executemany and no query with nothing to find: each call is a
    # trip to aiosqlite's thread. A feed mostly repeats what it said last time: only the items not
    # stored under their guid need the seen and same-page lookups.
    async with db.transaction() as conn:
        found = await conn.execute_fetchall(
            _find_by_guids(db.dialect), {"source_id": source_id, "guids": json.dumps(list(keys))}
        )
        by_guid = {row["guid"]: row for row in found}
        unknown = [item for item in good if item.guid not in by_guid]
        seen: dict[int, float] = {}
        if unknown or unreadable:
            found = await conn.execute_fetchall(
                _find_seen(db.dialect),
                {"source_id": source_id, "keys": json.dumps([*(keys[i.guid] for i in unknown), *unreadable])},
            )
            seen = {row["key"]: row["seen_at"] for row in found}
        new_unreadable = [key for key in unreadable if key not in seen]
        if new_unreadable:
            await conn.executemany(
                REMEMBER_SEEN, [{"source_id": source_id, "key": key, "now": now} for key in new_unreadable]
            )
        linked = [item for item in unknown if item.own_link and keys[item.guid] not in seen]
        candidates: list[_Known] = []
        if linked:
            params = {
                "urls": json.dumps([i.url for i in linked] + [normalize_url(i.url) for i in linked]),
                "keys": json.dumps([url_key(i.url) for i in linked]),
            }
            found = await conn.execute_fetchall(_find_by_links(db.dialect), params)
            candidates = [_known_from_row(row) for row in found]
        for item in oldest_first(good, now=now):
            known = by_guid.get(item.guid)
            if known is not None:
                if (known["title"], known["lead"]) != (item.title, item.lead):
                    await _record_edit(conn, known, item, now)
                    updated.append(known["id"])
                    await search.reindex(conn, article_id=known["id"])
                continue
            key = keys[item.guid]
            if key in seen:
                # Shown before and pruned since (or merged): never pushed twice.
                if seen[key] < now - SEEN_TOUCH_EVERY:
                    await conn.execute(TOUCH_SEEN, {"source_id": source_id, "key": key, "now": now})
                continue
            same = next(
                (k for k in candidates if item.own_link and _same_page(item, k, source_id=source_id)), None
            )
            if same is not None:
                merged += 1
                logger.info(
                    "Source %s: item %r (%s) merged into article %d (%s, from %s)",
                    source_id,
                    item.guid,
                    item.url,
                    same.id,
                    same.url,
                    same.source_id,
                )
                await conn.execute(REMEMBER_SEEN, {"source_id": source_id, "key": key, "now": now})
                seen[key] = now
                continue
            article_id, rows = await _insert(
                conn, item, source_id=source_id, default_category=default_category, breaking=breaking,
                push=push, now=now,
            )  # fmt: skip
            new.append(article_id)
            queued += rows
            # A fan-out left to the fan-out job is counted whole when it ends, not by its first slice.
            if push and not await outbox.fanning_out(conn, article_id):
                fan_outs.append(rows)
            if item.own_link:
                candidates.append(
                    _Known(article_id, source_id, item.url, url_key(item.url), None, item.publisher_guid)
                )
        counts = {"added": len(new), "merged": merged, "skipped": len(new_unreadable), "id": source_id}
        if success is None:
            await conn.execute(MARK_SEEDED, counts)
        else:
            recovered = (await conn.execute(RECOVER, {"id": source_id})).rowcount == 1
            await conn.execute(
                MARK_SEEDED_POLLED,
                {
                    **counts,
                    "now": now,
                    "etag": success.etag,
                    "last_modified": success.last_modified,
                    "body_hash": success.body_hash,
                    "next_poll_at": success.next_poll_at,
                },
            )
    return StoreResult(
        tuple(new), tuple(updated), queued, merged, len(new_unreadable), tuple(fan_outs), recovered
    )


async def _record_edit(conn: Connection, known: Row, item: FeedItem, now: float) -> None:
    """Update an article's title and lead in place, keeping the last few edits."""
    await conn.execute(
        UPDATE_CHANGED, {"title": item.title, "lead": item.lead, "now": now, "id": known["id"]}
    )
    await conn.executemany(
        INSERT_CHANGE,
        [
            {"id": known["id"], "field": name, "old": known[name], "new": value, "now": now}
            for name, value in (("title", item.title), ("lead", item.lead))
            if known[name] != value
        ],
    )
    await conn.execute(TRIM_CHANGES, {"id": known["id"], "keep": CHANGES_KEPT})


async def _insert(
    conn: Connection,
    item: FeedItem,
    *,
    source_id: str,
    default_category: str | None,
    breaking: bool,
    push: bool,
    now: float,
) -> tuple[int, int]:
    """Insert one new article and fan it out when ``push``: (its id, outbox rows made)."""
    category = item.category or default_category
    is_breaking = breaking or any(fold(t) in {"breaking", "urgent"} for t in item.tags)
    # A date in the future is when we discovered the item; it must not top /latest for years.
    published = min(item.published.timestamp(), now) if item.published else now
    cursor = await conn.execute(
        INSERT_ARTICLE,
        {
            "source_id": source_id,
            "guid": item.guid,
            "url": item.url,
            "url_key": url_key(item.url) if item.own_link else None,
            "publisher_guid": int(item.publisher_guid),
            "own_link": int(item.own_link),
            "title": item.title,
            "kicker": item.kicker,
            "category": category,
            "author": item.author,
            "image_url": item.image_url,
            "tags": json.dumps(list(item.tags), ensure_ascii=False),
            "lead": item.lead,
            "breaking": int(is_breaking),
            "published_at": published,
            "published_guessed": int(item.published is None),
            "now": now,
            "fanout": "done" if push else "backlog",
        },
    )
    article_id = await inserted_id(cursor)
    assert article_id is not None
    await search.index_new(conn, article_id=article_id, title=item.title, lead=item.lead, kicker=item.kicker)
    if not push:
        return article_id, 0
    held = moderation.blocked_by(await moderation.blocklist_words(conn), f"{item.title}\n{item.lead}")
    if held:
        # A moderator decides; approving the card runs the same fan-out then.
        await moderation.hold_push(conn, article_id=article_id, reason=f"blocklist: {held}", now=now)
        return article_id, 0
    rows = await outbox.fan_out(
        conn,
        article_id=article_id,
        priority=1 if is_breaking else 0,
        category=fold(category or ""),
        source=source_id,
        text=fold(f"{item.title}\n{item.lead}"),
        now=now,
        fresh=True,
    )
    return article_id, rows


async def hide(conn: Connection, *, article_id: int) -> bool:
    """Hide a story from every reading query (a takedown), inside the caller's transaction."""
    cursor = await conn.execute(HIDE_ARTICLE, (article_id,))
    return bool(cursor.rowcount)


async def get_article(db: Database, *, article_id: int) -> Article | None:
    row = await db.fetchone(SELECT_ARTICLE, (article_id,))
    return None if row is None else article_from_row(row)


async def latest(db: Database, *, limit: int = 5) -> list[Article]:
    return [article_from_row(r) for r in await db.fetchall(SELECT_LATEST, (limit,))]


async def prune(
    db: Database,
    *,
    older_than: float,
    articles_per_step: int = PRUNE_STEP_ARTICLES,
    rows_per_step: int = PRUNE_STEP_ROWS,
    pause: float = PRUNE_PAUSE,
    target: float | None = outbox.STEP_TARGET,
) -> int:
    """Delete articles published and fetched before a time; their deliveries, links and changes go too.

    Each pruned article's guid is remembered as seen, so the item is not pushed again while its
    feed still lists it; what no feed has shown for a year is forgotten. The work is done in
    steps of at most ``articles_per_step`` articles and ``rows_per_step`` deleted rows, each its
    own transaction with ``pause`` seconds between them, so no send or poll waits long for it
    (with ``target``, the rows per step shrink or grow so that a step takes about that long);
    stopped between two steps, the next run goes on where this one was.
    """
    removed = 0
    size = rows_per_step
    while True:
        started = time.perf_counter()
        async with db.transaction() as conn:
            pick = {"before": older_than, "limit": articles_per_step}
            doomed = list(await conn.execute_fetchall(SELECT_PRUNABLE, pick))
            if not doomed:
                break
            ids = json.dumps([r["id"] for r in doomed])
            await conn.execute(_prune_seal(db.dialect), {"ids": ids})
            cursor = await conn.execute(_prune_deliveries(db.dialect), {"ids": ids, "limit": size})
            if cursor.rowcount < size:
                # The last of their rows are gone: what cascades from the articles now is small.
                await conn.executemany(
                    REMEMBER_SEEN,
                    [{"source_id": s, "key": seen_key(g), "now": older_than} for _, s, g in doomed],
                )
                await conn.execute(_prune_articles(db.dialect), {"ids": ids})
                removed += len(doomed)
        took = time.perf_counter() - started
        size = outbox.step_size(
            size, took, target=target, smallest=outbox.BATCH_SMALLEST, largest=rows_per_step
        )
        await asyncio.sleep(pause)
    forget = {"before": older_than - SEEN_RETENTION, "limit": rows_per_step}
    while True:
        if await db.write(FORGET_SEEN, forget) < rows_per_step:
            return removed
        await asyncio.sleep(pause)


async def changes(db: Database, *, article_id: int) -> list[ArticleChange]:
    """The recorded edits of an article's title and lead, oldest first."""
    rows = await db.fetchall(SELECT_CHANGES, (article_id,))
    return [ArticleChange(r["field"], r["old"], r["new"], r["changed_at"]) for r in rows]


async def pages_due(db: Database, *, source_id: str, since: float, limit: int) -> list[tuple[int, str]]:
    """Articles of a source stored since ``since`` whose page was never fetched: (id, url), newest first."""
    rows = await db.fetchall(SELECT_PAGES_DUE, {"source_id": source_id, "since": since, "limit": limit})
    return [(r["id"], r["url"]) for r in rows]


async def store_page(db: Database, *, article_id: int, page: PageFacts, now: float) -> None:
    """Keep what an article's page said, and its "Read also" links, in one transaction."""
    async with db.transaction() as conn:
        duplicate_of = None
        if page.canonical_url is not None:
            async with conn.execute(
                FIND_EARLIER_WITH_URL,
                {"id": article_id, "url": page.canonical_url, "key": url_key(page.canonical_url)},
            ) as cur:
                row = await cur.fetchone()
            duplicate_of = None if row is None else row["id"]
        await conn.execute(
            UPDATE_PAGE,
            {
                "id": article_id,
                "body": page.body or None,
                "author": page.author,
                "published": page.published,
                "category": page.category,
                "tags": json.dumps(list(page.tags), ensure_ascii=False),
                "image_url": page.image_url,
                "kicker": page.kicker,
                "description": page.description,
                "canonical_url": page.canonical_url,
                "duplicate_of": duplicate_of,
                "now": now,
            },
        )
        await conn.execute(
            UPSERT_PAGE_FACTS,
            {
                "id": article_id,
                "title": page.title,
                "kicker": page.kicker,
                "category": page.category,
                "author": page.author,
                "published": page.published,
                "published_local": page.published_local,
                "utc_offset": page.utc_offset,
                "image_url": page.image_url,
                "tags": json.dumps(list(page.tags), ensure_ascii=False),
                "description": page.description,
                "site_name": page.site_name,
                "canonical_url": page.canonical_url,
                "now": now,
            },
        )
        await conn.execute(DELETE_LINKS, (article_id,))
        await conn.executemany(
            INSERT_LINK,
            [
                {"id": article_id, "position": position, "url": url, "title": title}
                for position, (title, url) in enumerate(page.read_also)
            ],
        )
        if page.summary is not None:
            await search.set_summary(conn, article_id=article_id, summary=page.summary, lang=page.lang)
        await search.reindex(conn, article_id=article_id)


async def record_page_failure(db: Database, *, article_id: int, error: str, now: float) -> None:
    """Remember that the page could not be had; it is not tried again."""
    await db.write(RECORD_PAGE_FAILURE, {"id": article_id, "error": error[:500], "now": now})


async def read_also(db: Database, *, article_id: int) -> list[ArticleLink]:
    """The page's "Read also" links, in page order."""
    return [ArticleLink(r["url"], r["title"]) for r in await db.fetchall(SELECT_LINKS, (article_id,))]


async def page_state(db: Database, *, article_id: int) -> PageState | None:
    row = await db.fetchone(SELECT_PAGE, (article_id,))
    if row is None:
        return None
    return PageState(
        row["canonical_url"],
        row["description"],
        row["page_fetched_at"],
        row["page_error"],
        row["duplicate_of"],
    )


async def page_facts(db: Database, *, article_id: int) -> StoredPage | None:
    """Everything the article's page said, with its "Read also" links; None before it was fetched."""
    row = await db.fetchone(SELECT_PAGE_FACTS, (article_id,))
    if row is None:
        return None
    return StoredPage(
        title=row["title"],
        kicker=row["kicker"],
        category=row["category"],
        author=row["author"],
        published_at=row["published_at"],
        published_local=row["published_local"],
        utc_offset=row["utc_offset"],
        image_url=row["image_url"],
        tags=tuple(json.loads(row["tags"])),
        description=row["description"],
        site_name=row["site_name"],
        canonical_url=row["canonical_url"],
        fetched_at=row["fetched_at"],
        read_also=tuple(await read_also(db, article_id=article_id)),
    )
