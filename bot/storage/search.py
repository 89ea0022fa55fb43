"""The full-text index (SQLite FTS5, PostgreSQL tsvector), summaries, and what reading needs of an article.

The index holds folded text (``bot.folding.search_fold``) and is written by the same
transactions that write articles; a trigger removes an article's row when the article goes.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.models import Article
from bot.storage.articles import article_from_row
from bot.storage.dialect import Dialect
from bot.storage.fulltext import Match
from bot.storage.interface import Database, inserted_id
from bot.storage.search_index import (
    DELETE_INDEX_ROW,
    INSERT_INDEX_ROW,
    index_values,
    reindex,
    set_summary,
)
from bot.urls import url_key

IMPORT_SOURCE = "import"

SELECT_UNINDEXED = """
SELECT id FROM articles WHERE id NOT IN (SELECT rowid FROM article_search) ORDER BY id LIMIT ?
"""
# A query that matches a large part of the collection is ranked among its newest matches only:
# BM25 scores every match, and a word in every other article tells little about which is best.
SEARCH_WINDOW = 2000
# Column weights: a match in the title says most about what an article is about.
SEARCH_WEIGHTS = (5.0, 2.0, 1.0)
RELATED_WEIGHTS = (3.0, 2.0, 1.0)
# Counting the FTS table itself reads every row; the articles table counts from its b-tree.
COUNT_INDEXED = "SELECT count(*) FROM articles"


@dataclass(frozen=True, slots=True)
class _Statements:
    """This module's statements in one back end's SQL (full-text conditions and scores differ)."""

    window_start: str
    search: str
    published: str
    related: str
    term_counts: str
    articles: str
    articles_with_texts: str


@functools.cache
def _statements(dialect: Dialect) -> _Statements:
    # The f-strings only join the dialect's fixed fragments; every value is a bound parameter.
    match = dialect.matches(":match")
    return _Statements(
        window_start=f"""
SELECT rowid FROM article_search WHERE {match} ORDER BY rowid DESC LIMIT 1 OFFSET :window
""",  # noqa: S608
        search=f"""
SELECT rowid AS id, {dialect.score(":match", SEARCH_WEIGHTS)} AS score FROM article_search
WHERE {match} AND rowid >= :since
ORDER BY score LIMIT :limit
""",  # noqa: S608
        published=f"SELECT id, published_at FROM articles WHERE id IN {dialect.ints('?')}",  # noqa: S608
        related=f"""
SELECT rowid AS id, {dialect.score(":match", RELATED_WEIGHTS)} AS score
FROM article_search WHERE {match} AND rowid != :id
ORDER BY score LIMIT :limit
""",  # noqa: S608
        term_counts=dialect.term_counts.format("?"),
        articles=f"""
SELECT a.*, s.name AS source_name FROM articles a JOIN sources s ON s.id = a.source_id
WHERE a.id IN {dialect.ints("?")} AND a.hidden = 0  -- a taken-down story is gone
""",  # noqa: S608
        articles_with_texts=f"""
SELECT a.*, s.name AS source_name, x.title AS folded_title, x.lead AS folded_lead,
       substr(x.body, 1, :body_chars) AS folded_body
FROM articles a JOIN sources s ON s.id = a.source_id JOIN article_search x ON x.rowid = a.id
WHERE a.id IN {dialect.ints(":ids")} AND a.hidden = 0
""",  # noqa: S608
    )


SELECT_BY_GUID = "SELECT id FROM articles WHERE source_id = :source AND guid = :guid"
# The link as given, the page's canonical address, or the same page by its matching key
# (scheme, tracking parameters and a trailing slash aside; see bot.urls).
SELECT_BY_URL = """
SELECT id FROM articles WHERE url = :url OR canonical_url = :url OR url_key = :key ORDER BY id LIMIT 1
"""
SELECT_READING = """
SELECT summary, lang, page_fetched_at, page_error, duplicate_of FROM articles WHERE id = ?
"""
SELECT_LINKS = "SELECT url, title FROM article_links WHERE article_id = ? ORDER BY position"
SELECT_NEWEST = """
SELECT a.*, s.name AS source_name FROM articles a JOIN sources s ON s.id = a.source_id
WHERE a.hidden = 0
ORDER BY a.published_at DESC, a.id DESC LIMIT :limit OFFSET :offset
"""
INSERT_SEARCH_QUERY = "INSERT INTO searches (query, created_at) VALUES (?, ?) RETURNING id"
SELECT_SEARCH_QUERY = "SELECT query FROM searches WHERE id = ?"
PRUNE_SEARCH_QUERIES = "DELETE FROM searches WHERE created_at < ?"
ENSURE_IMPORT_SOURCE = """
INSERT INTO sources (id, name, url, kind, interval, origin, paused, seeded, created_at)
VALUES (:id, 'Imported', 'file:import', 'feed', 86400, 'admin', 1, 1, :now)
ON CONFLICT (id) DO NOTHING
"""
UPSERT_IMPORTED = """
INSERT INTO articles (source_id, guid, url, title, category, lead, body, published_at, fetched_at,
                      fanout, summary, lang, page_fetched_at)
VALUES (:source, :guid, :url, :title, :category, :lead, :body, :published, :now, 'backlog',
        :summary, :lang, :now)
ON CONFLICT (source_id, guid) DO UPDATE SET
    url = excluded.url, title = excluded.title, category = excluded.category, lead = excluded.lead,
    body = excluded.body, published_at = excluded.published_at, summary = excluded.summary,
    lang = excluded.lang
RETURNING id
"""


@dataclass(frozen=True, slots=True)
class ReadLink:
    url: str
    title: str


@dataclass(frozen=True, slots=True)
class ReadingFacts:
    """Everything reading uses about one article, gathered by one function (``reading_facts``)."""

    article: Article
    summary: tuple[str, ...]
    lang: str | None
    read_also: tuple[ReadLink, ...]
    page_fetched: bool
    page_error: str | None
    duplicate_of: int | None


@dataclass(frozen=True, slots=True)
class Hit:
    article_id: int
    score: float  # BM25 (SQLite) or negated ts_rank (PostgreSQL): lower is better


@dataclass(frozen=True, slots=True)
class ImportRecord:
    guid: str
    url: str
    title: str
    lead: str
    body: str
    category: str | None
    published: float
    summary: str
    lang: str | None


async def save_summary(db: Database, *, article_id: int, summary: str, lang: str | None) -> None:
    """Keep a summary computed later (an article stored before summaries existed, or from its lead)."""
    async with db.transaction() as conn:
        await set_summary(conn, article_id=article_id, summary=summary, lang=lang)


async def index_missing(db: Database, *, batch: int = 500) -> int:
    """Index articles that have no index row (stored before this index existed); return how many."""
    done = 0
    while True:
        ids = [r["id"] for r in await db.fetchall(SELECT_UNINDEXED, (batch,))]
        if not ids:
            return done
        async with db.transaction() as conn:
            for article_id in ids:
                await reindex(conn, article_id=article_id)
        done += len(ids)


async def search(db: Database, *, match: Match, limit: int, offset: int = 0) -> list[Hit]:
    """Articles matching a query, best first, newer first among equals."""
    sql = _statements(db.dialect)
    text = db.dialect.render_match(match)
    since = await db.scalar(sql.window_start, {"match": text, "window": SEARCH_WINDOW - 1})
    rows = await db.fetchall(sql.search, {"match": text, "since": since or 0, "limit": offset + limit + 8})
    published = {
        r["id"]: r["published_at"]
        for r in await db.fetchall(sql.published, (json.dumps([r["id"] for r in rows]),))
    }
    # Scores equal to four places are a tie, which the newer article wins.
    ordered = sorted(rows, key=lambda r: (round(r["score"], 4), -published.get(r["id"], 0.0), -r["id"]))
    return [Hit(r["id"], r["score"]) for r in ordered[offset : offset + limit]]


async def related_candidates(db: Database, *, article_id: int, match: Match, limit: int) -> list[Hit]:
    """Other articles matching a query of an article's salient terms, best first."""
    text = db.dialect.render_match(match)
    rows = await db.fetchall(
        _statements(db.dialect).related, {"match": text, "id": article_id, "limit": limit}
    )
    return [Hit(r["id"], r["score"]) for r in rows]


async def document_counts(db: Database, *, terms: Sequence[str]) -> tuple[int, dict[str, int]]:
    """How many articles are indexed, and in how many each term occurs."""
    total = int(await db.scalar(COUNT_INDEXED) or 0)
    rows = await db.fetchall(
        _statements(db.dialect).term_counts, (json.dumps(list(terms), ensure_ascii=False),)
    )
    return total, {r["term"]: r["doc"] for r in rows}


async def articles_by_id(db: Database, *, ids: Iterable[int]) -> dict[int, Article]:
    rows = await db.fetchall(_statements(db.dialect).articles, (json.dumps(list(ids)),))
    return {r["id"]: article_from_row(r) for r in rows}


async def articles_with_texts(
    db: Database, *, ids: Iterable[int], body_chars: int
) -> dict[int, tuple[Article, tuple[str, str, str]]]:
    """Articles with the folded title, lead and start of body the index holds (one query)."""
    rows = await db.fetchall(
        _statements(db.dialect).articles_with_texts, {"ids": json.dumps(list(ids)), "body_chars": body_chars}
    )
    return {
        r["id"]: (article_from_row(r), (r["folded_title"], r["folded_lead"], r["folded_body"])) for r in rows
    }


async def newest(db: Database, *, limit: int, offset: int = 0) -> list[Article]:
    rows = await db.fetchall(SELECT_NEWEST, {"limit": limit, "offset": offset})
    return [article_from_row(r) for r in rows]


async def find_article(db: Database, *, ref: str) -> Article | None:
    """An article by an imported file's id, a stored id, or its (canonical) address."""
    row = await db.fetchone(SELECT_BY_GUID, {"source": IMPORT_SOURCE, "guid": ref})
    article_id = None if row is None else int(row["id"])
    if article_id is None and ref.isascii() and ref.isdigit() and len(ref) < 19:
        article_id = int(ref)
    if article_id is None and ref.startswith(("http://", "https://")):
        article_id = await find_by_url(db, url=ref)
    if article_id is None:
        return None
    return (await articles_by_id(db, ids=[article_id])).get(article_id)


async def find_by_url(db: Database, *, url: str) -> int | None:
    row = await db.fetchone(SELECT_BY_URL, {"url": url, "key": url_key(url)})
    return None if row is None else int(row["id"])


async def reading_facts(db: Database, *, article_id: int) -> ReadingFacts | None:
    """The article, its summary and language, its "Read also" links and its page's state."""
    found = await articles_by_id(db, ids=[article_id])
    article = found.get(article_id)
    row = await db.fetchone(SELECT_READING, (article_id,))
    if article is None or row is None:
        return None
    links = await db.fetchall(SELECT_LINKS, (article_id,))
    return ReadingFacts(
        article=article,
        summary=tuple(x for x in (row["summary"] or "").split("\n") if x),
        lang=row["lang"],
        read_also=tuple(ReadLink(r["url"], r["title"]) for r in links),
        page_fetched=row["page_fetched_at"] is not None,
        page_error=row["page_error"],
        duplicate_of=row["duplicate_of"],
    )


async def save_search_query(db: Database, *, query: str, now: float) -> int:
    async with db.transaction() as conn:
        cursor = await conn.execute(INSERT_SEARCH_QUERY, (query, now))
        query_id = await inserted_id(cursor)
        assert query_id is not None
        return query_id


async def search_query(db: Database, *, search_id: int) -> str | None:
    row = await db.fetchone(SELECT_SEARCH_QUERY, (search_id,))
    return None if row is None else str(row["query"])


async def prune_search_queries(db: Database, *, older_than: float) -> int:
    return await db.write(PRUNE_SEARCH_QUERIES, (older_than,))


async def import_batch(db: Database, *, records: Sequence[ImportRecord], now: float) -> list[int]:
    """Store imported articles with their summaries and index rows, in one transaction."""
    ids: list[int] = []
    async with db.transaction() as conn:
        await conn.execute(ENSURE_IMPORT_SOURCE, {"id": IMPORT_SOURCE, "now": now})
        for record in records:
            async with conn.execute(
                UPSERT_IMPORTED,
                {
                    "source": IMPORT_SOURCE,
                    "guid": record.guid,
                    "url": record.url,
                    "title": record.title,
                    "category": record.category,
                    "lead": record.lead,
                    "body": record.body,
                    "published": record.published,
                    "now": now,
                    "summary": record.summary or None,
                    "lang": record.lang,
                },
            ) as cur:
                row = await cur.fetchone()
            assert row is not None
            article_id = int(row[0])
            ids.append(article_id)
            await conn.execute(DELETE_INDEX_ROW, (article_id,))
            values = index_values(record.title, record.lead, record.body, None)
            await conn.execute(INSERT_INDEX_ROW, (article_id, *values))
    return ids
