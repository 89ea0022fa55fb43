"""Summaries and related reads on demand: the stored ones, or fetched through the safe fetcher."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from bot.models import Article
from bot.news.article import ArticlePage, extract_article
from bot.news.fetcher import Fetcher, FetchError
from bot.news.ingest import article_selectors, page_facts
from bot.news.presets import ArticleSelectors
from bot.reading.related import MAX_RELATED, RelatedRead, related_reads, similar_articles
from bot.reading.summarize import Summary, summarize
from bot.storage import articles, search, sources
from bot.storage.interface import Database
from bot.urls import normalize_url, origin_of

logger = logging.getLogger(__name__)


def is_web_address(url: str) -> bool:
    return url.startswith(("http://", "https://"))


@dataclass(frozen=True, slots=True)
class ArticleSummary:
    article: Article
    sentences: tuple[str, ...]
    from_lead: bool  # the page could not be had; the feed's lead stood in


async def _fetch_article_page(db: Database, fetcher: Fetcher, article: Article) -> ArticlePage:
    """Fetch a stored article's page as ingestion would: read with its source's preset selectors
    and zone, and trusted only for the operator's configured source (its exact scheme, host and
    port)."""
    source = await sources.get_source(db, source_id=article.source_id)
    if source is None:
        return await fetch_page(fetcher, article.url)
    origin = origin_of(article.url)
    trusted = source.origin == "config" and origin is not None and origin == origin_of(source.url)
    selectors, site_tz = article_selectors(source)
    return await fetch_page(fetcher, article.url, trusted=trusted, selectors=selectors, tz=site_tz)


async def fetch_page(
    fetcher: Fetcher,
    url: str,
    *,
    trusted: bool = False,
    selectors: ArticleSelectors | None = None,
    tz: tzinfo = UTC,
) -> ArticlePage:
    """Fetch and extract a page; FetchError when it cannot be had."""
    result = await fetcher.fetch(url, trusted=trusted)
    read = functools.partial(extract_article, url=result.url, selectors=selectors, tz=tz)
    return await asyncio.to_thread(read, result.content)


async def _store_fetched(db: Database, article: Article, page: ArticlePage) -> Summary:
    summary = await asyncio.to_thread(summarize, page.text, title=article.title)
    facts = page_facts(page, summary=summary.text if summary.sentences else None, lang=summary.lang)
    await articles.store_page(db, article_id=article.id, page=facts, now=time.time())
    return summary


async def needs_fetch(db: Database, *, article_id: int) -> bool:
    """Whether the article has no summary yet and its page was never tried."""
    facts = await search.reading_facts(db, article_id=article_id)
    return (
        facts is not None
        and not facts.summary
        and not facts.page_fetched
        and is_web_address(facts.article.url)
    )


async def article_summary(db: Database, fetcher: Fetcher, *, article_id: int) -> ArticleSummary | None:
    """The stored summary; else the page fetched and summarised now; else the lead summarised."""
    facts = await search.reading_facts(db, article_id=article_id)
    if facts is None:
        return None
    article = facts.article
    if facts.summary:
        # A summary kept from the lead after the page failed still says so on later presses.
        return ArticleSummary(article, facts.summary, not article.body and facts.page_error is not None)
    if not facts.page_fetched and is_web_address(article.url):
        try:
            page = await _fetch_article_page(db, fetcher, article)
        except FetchError as exc:
            logger.info("Page of article %d not fetched for a summary: %s", article.id, exc)
            await articles.record_page_failure(
                db, article_id=article.id, error=f"{type(exc).__name__}: {exc}", now=time.time()
            )
        else:
            summary = await _store_fetched(db, article, page)
            # What the page added (a kicker, a category, the publisher's time) shows at once.
            fetched = await search.reading_facts(db, article_id=article_id)
            article = fetched.article if fetched is not None else article
            if summary.sentences:
                return ArticleSummary(article, summary.sentences, False)
    text = article.body or article.lead
    summary = await asyncio.to_thread(summarize, text, title=article.title)
    sentences = summary.sentences or ((article.lead,) if article.lead else ())
    if sentences:
        await search.save_summary(db, article_id=article.id, summary="\n".join(sentences), lang=summary.lang)
    return ArticleSummary(article, sentences, not article.body)


@dataclass(frozen=True, slots=True)
class PageSummary:
    url: str
    title: str
    sentences: tuple[str, ...]
    page: ArticlePage


async def summarize_url(fetcher: Fetcher, url: str) -> PageSummary:
    """Fetch a reader's URL as untrusted and summarise it; FetchError when it cannot be had."""
    page = await fetch_page(fetcher, url, trusted=False)
    summary = await asyncio.to_thread(summarize, page.text, title=page.title or "")
    return PageSummary(page.url, page.title or page.url, summary.sentences, page)


async def related_for_url(
    db: Database, fetcher: Fetcher, url: str, *, limit: int = MAX_RELATED
) -> tuple[str, list[RelatedRead]]:
    """Related reads of a page we do not hold: its own "Read also" links, then similar stored articles."""
    page = await fetch_page(fetcher, url, trusted=False)
    title = page.title or url
    reads = [RelatedRead(link, name or link, None, True) for name, link in page.read_also[:limit]]
    if len(reads) < limit:
        transient = Article(
            id=0,
            source_id="",
            guid=url,
            url=normalize_url(url),
            title=title,
            lead=page.description or "",
            published_at=page.published or datetime.now(UTC),
            category=page.category,
            body=page.text,
        )
        seen = {r.url for r in reads}
        more = await similar_articles(
            db, article=transient, body=page.text, lang=None, limit=limit - len(reads) + 2
        )
        reads += [r for r in more if r.url not in seen][: limit - len(reads)]
    return title, reads


__all__ = [
    "ArticleSummary",
    "PageSummary",
    "article_summary",
    "fetch_page",
    "is_web_address",
    "needs_fetch",
    "related_for_url",
    "related_reads",
    "summarize_url",
]
