"""Polling one source: fetch (conditionally), parse, store, and queue new items for readers."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.items import ParsedFeed
from bot.models import Source
from bot.news import presets
from bot.news.article import ArticlePage, extract_article
from bot.news.feeds import parse_feed
from bot.news.fetcher import Fetcher, FetchError, HTTPStatusError
from bot.news.listing import DEFAULT_SELECTORS, ListingSelectors, parse_listing
from bot.news.presets import ArticleSelectors
from bot.storage import articles, leases, sources
from bot.storage.interface import Database
from bot.urls import origin_of

logger = logging.getLogger(__name__)

PAGES_AT_ONCE = 4
PAGES_PER_POLL = 50
# Pages of articles older than this are not worth fetching any more (e.g. after a long pause).
PAGE_MAX_AGE = 2 * 86400.0
# Bodies up to this size are parsed on the event loop (a 20-item feed of ~8 KB: a few ms).
INLINE_PARSE_BYTES = 16_384


@dataclass(frozen=True, slots=True)
class PollReport:
    """What one poll did; the job layer tells admins when a source starts failing or recovers."""

    source_id: str
    new: int = 0
    updated: int = 0
    queued: int = 0
    merged: int = 0
    skipped: int = 0
    not_modified: bool = False
    error: str | None = None
    failures: int = 0  # failed polls in a row, this one included (1: the source starts failing)
    recovered: bool = False  # this good poll ended a run of failures
    fan_outs: tuple[int, ...] = ()  # deliveries queued for each new pushed article


@dataclass(frozen=True, slots=True)
class PagesReport:
    """What fetching the article pages of one poll did."""

    stored: int = 0
    failed: int = 0


def backoff(interval: float, failures: int, cap: float) -> float:
    """Seconds until the next try after ``failures`` failures in a row: doubling, capped."""
    return float(min(interval * 2 ** min(failures, 16), max(cap, interval)))


def _selectors(source: Source) -> ListingSelectors:
    given = source.options.get("selectors") or {}
    if not given:
        return DEFAULT_SELECTORS
    defaults = {f: getattr(DEFAULT_SELECTORS, f) for f in DEFAULT_SELECTORS.__dataclass_fields__}
    return ListingSelectors(**{**defaults, **given})


def article_selectors(source: Source) -> tuple[ArticleSelectors | None, ZoneInfo]:
    """The source's preset article selectors (if it names a preset) and the zone its pages write in."""
    site_tz = ZoneInfo(source.options["timezone"]) if source.options.get("timezone") else ZoneInfo("UTC")
    name = source.options.get("preset")
    if not name:
        return None, site_tz
    try:
        return presets.load(name).article, site_tz
    except presets.PresetError:
        logger.warning("Source %s names preset %r, which no longer exists", source.id, name)
        return None, site_tz


def _trusted(source: Source, url: str) -> bool:
    """Only the operator's own config is trusted to point at private addresses (local test sites).

    Trust is for exactly the configured scheme, host and port: another port of the same host is
    another service, which a feed's content must not make us fetch.
    """
    origin = origin_of(url)
    return source.origin == "config" and origin is not None and origin == origin_of(source.url)


def parse_source(
    source: Source, content: bytes, *, url: str, content_type: str | None, tz: ZoneInfo
) -> ParsedFeed:
    """Turn a fetched body into items, by the source's kind."""
    if source.kind == "html":
        site_tz = ZoneInfo(source.options["timezone"]) if source.options.get("timezone") else tz
        return parse_listing(content, url=url, selectors=_selectors(source), tz=site_tz)
    return parse_feed(content, url=url, content_type=content_type)


async def poll_source(
    db: Database,
    fetcher: Fetcher,
    source: Source,
    *,
    now: float,
    tz: ZoneInfo,
    max_backoff: float,
    due: float | None = None,
    db_now: float | None = None,
) -> PollReport:
    """Poll one source once. Never raises for the web's failures: they are recorded on the source.

    ``now`` (this machine's clock) is recorded as the poll's time. The next poll is set on the
    database's clock, the one poll claims are judged by: ``due`` is when this poll was scheduled
    and ``db_now`` that clock as it starts (read when not given); the next one is due an interval
    after ``due`` (default ``db_now``). On this machine's clock, a worker whose clock ran ahead
    would set it late, and one running behind would set it early and have the source polled twice.
    """
    if due is None or db_now is None:
        db_now = await leases.server_time(db) if db_now is None else db_now
        due = db_now if due is None else due
    # From the schedule, not the clock: a poll that ran late in one busy cycle and on time in the
    # next would otherwise find itself not yet due and skip a whole interval.
    next_due = due + source.interval
    try:
        result = await fetcher.fetch(
            source.url,
            etag=source.etag,
            last_modified=source.last_modified,
            trusted=_trusted(source, source.url),
        )
        body_hash = (
            None if result.not_modified else hashlib.blake2b(result.content, digest_size=16).hexdigest()
        )
        # The same bytes as last time (a site that ignores conditional GET) hold nothing new.
        if result.not_modified or (source.seeded and body_hash == source.body_hash):
            recovered = await sources.record_success(
                db,
                source_id=source.id,
                etag=None,
                last_modified=None,
                now=now,
                next_poll_at=next_due,
            )
            return PollReport(source.id, not_modified=True, recovered=recovered)
        parse = functools.partial(
            parse_source, source, result.content, url=result.url, content_type=result.content_type, tz=tz
        )
        # A large body is parsed in a worker thread so the event loop (and Telegram updates) stays
        # responsive. A small one takes a few milliseconds: parsed here, since the thread hop and
        # the fight for the GIL with the event loop cost more CPU than the parse itself.
        parsed = parse() if len(result.content) <= INLINE_PARSE_BYTES else await asyncio.to_thread(parse)
        if parsed.error is not None and not parsed.items:
            raise _Unparsable(parsed.error)
    except (FetchError, _Unparsable) as exc:
        error = _describe(exc)
        retry_after = exc.retry_after if isinstance(exc, HTTPStatusError) else None
        delay = max(
            backoff(source.interval, source.consecutive_failures + 1, max_backoff), retry_after or 0.0
        )
        failures = await sources.record_failure(
            db, source_id=source.id, error=error, now=now, next_poll_at=db_now + delay
        )
        logger.warning("Source %s failed (%d in a row): %s", source.id, failures, error)
        return PollReport(source.id, error=error, failures=failures)
    stored = await articles.store_items(
        db,
        source_id=source.id,
        items=parsed.items,
        default_category=source.category,
        breaking=source.breaking,
        push=source.seeded,
        now=now,
        skipped=parsed.skipped,
        # The validators are kept with the items they describe: a poll killed before its commit
        # fetches the same body again rather than trusting a body it never stored.
        success=sources.PollSuccess(
            etag=result.etag,
            last_modified=result.last_modified,
            next_poll_at=next_due,
            body_hash=body_hash,
        ),
    )
    if stored.new:
        logger.info(
            "Source %s: %d new (%s), %d deliveries queued",
            source.id,
            len(stored.new),
            "pushed" if source.seeded else "backlog, not pushed",
            stored.queued,
        )
    return PollReport(
        source.id,
        new=len(stored.new),
        updated=len(stored.updated),
        queued=stored.queued,
        merged=stored.merged,
        skipped=stored.skipped,
        fan_outs=stored.fan_outs,
        recovered=stored.recovered,
    )


# (text, title) -> (summary or None, language or None). The reading package builds on news, so its
# summarizer is handed in by the job rather than imported here.
PageSummarizer = Callable[[str, str], tuple[str | None, str | None]]


async def fetch_pages(
    db: Database,
    fetcher: Fetcher,
    source: Source,
    *,
    now: float,
    at_once: int = PAGES_AT_ONCE,
    limit: int = PAGES_PER_POLL,
    summarizer: PageSummarizer | None = None,
) -> PagesReport:
    """Fetch and keep the page of every recent article of a source whose page was never fetched.

    Runs after the poll stored and queued its items, so a slow page never delays a push. Each
    page is tried once; a failure is recorded on the article and never fails the poll. The
    database is the queue: pages a killed run did not reach are picked up by the next one.
    """
    due = await articles.pages_due(db, source_id=source.id, since=now - PAGE_MAX_AGE, limit=limit)
    if not due:
        return PagesReport()
    gate = asyncio.Semaphore(max(1, at_once))
    outcomes = await asyncio.gather(
        *(_fetch_page(db, fetcher, source, gate, i, url, summarizer) for i, url in due)
    )
    report = PagesReport(stored=sum(outcomes), failed=len(outcomes) - sum(outcomes))
    logger.info("Source %s: %d article pages stored, %d failed", source.id, report.stored, report.failed)
    return report


async def _fetch_page(
    db: Database,
    fetcher: Fetcher,
    source: Source,
    gate: asyncio.Semaphore,
    article_id: int,
    url: str,
    summarizer: PageSummarizer | None,
) -> bool:
    async with gate:
        try:
            # Article addresses come from the feed's content: untrusted unless on the source's own host.
            result = await fetcher.fetch(url, trusted=_trusted(source, url))
            selectors, site_tz = article_selectors(source)
            page = await asyncio.to_thread(
                extract_article, result.content, url=result.url, selectors=selectors, tz=site_tz
            )
            # Summarised once, here, off the event loop; a reader's press never waits for scoring.
            summary, lang = (
                await asyncio.to_thread(summarizer, page.text, page.title or "")
                if summarizer
                else (None, None)
            )
        except FetchError as exc:
            logger.info("Article page %s of %s not fetched: %s", url, source.id, _describe(exc))
            await articles.record_page_failure(
                db, article_id=article_id, error=_describe(exc), now=time.time()
            )
            return False
    facts = page_facts(page, summary=summary, lang=lang)
    await articles.store_page(db, article_id=article_id, page=facts, now=time.time())
    return True


def page_facts(page: ArticlePage, *, summary: str | None, lang: str | None) -> articles.PageFacts:
    """Everything an extracted page says, as the article pages table keeps it."""
    offset = page.published.utcoffset() if page.published else None
    return articles.PageFacts(
        title=page.title,
        site_name=page.site_name,
        published_local=page.published.isoformat() if page.published else None,
        utc_offset=int(offset.total_seconds() // 60) if offset is not None else None,
        body=page.text,
        author=page.author,
        published=page.published.timestamp() if page.published else None,
        category=page.category,
        tags=page.tags,
        image_url=page.image_url,
        kicker=page.kicker,
        description=page.description,
        canonical_url=page.canonical_url,
        read_also=page.read_also,
        summary=summary,
        lang=lang,
    )


class _Unparsable(Exception):
    """The body was fetched but is not a feed or listing we can read."""


def _describe(exc: Exception) -> str:
    if isinstance(exc, HTTPStatusError):
        return f"HTTP {exc.status}"
    if isinstance(exc, _Unparsable):
        return f"unparsable: {exc}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
