"""Adding a source an admin named by URL: a feed, a page that links to one, or a news listing."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from bot.i18n import _
from bot.items import FeedItem
from bot.models import Source
from bot.news.discovery import discover_feeds
from bot.news.feeds import parse_feed
from bot.news.fetcher import BlockedAddress, Fetcher, FetchError, HTTPStatusError, InvalidURL
from bot.news.listing import DEFAULT_SELECTORS, parse_listing
from bot.storage import sources
from bot.storage.interface import Database
from bot.urls import host_of, normalize_url, url_key

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL = 300.0
MAX_NAME = 100


@dataclass(frozen=True, slots=True)
class Added:
    source: Source


@dataclass(frozen=True, slots=True)
class Refused:
    """Why a source was not added: a marked text and its values, translated for the admin who asked."""

    message: str  # an English msgid with {placeholders}
    values: tuple[tuple[str, str], ...] = ()
    # The source already polling that address, when that is the reason (an OPML import counts these apart).
    existing: str | None = field(default=None, compare=False)

    @property
    def reason(self) -> str:
        """The reason in English (logs, the command line)."""
        return self.message.format(**dict(self.values))

    def translated(self, translate: Callable[[str], str]) -> str:
        return translate(self.message).format(**dict(self.values))


def source_id_for(url: str, taken: set[str]) -> str:
    """A short id from the URL's host ("www.example.com" -> "example-com"), made unique."""
    host = host_of(url).removeprefix("www.")
    base = re.sub(r"[^a-z0-9]+", "-", host).strip("-")[:40] or "source"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def fetch_refusal(url: str, exc: FetchError) -> Refused:
    """Why a URL from an admin (a command, an OPML file) could not be used, for that admin."""
    if isinstance(exc, BlockedAddress):
        return Refused(
            _("{url} points at a private or local address, which is not allowed."), (("url", url),)
        )
    if isinstance(exc, InvalidURL):
        return Refused(_("{url} is not a valid web address."), (("url", url),))
    if isinstance(exc, HTTPStatusError):
        return Refused(_("{url} answered with HTTP {status}."), (("url", url), ("status", str(exc.status))))
    return Refused(_("{url} could not be fetched ({error})."), (("url", url), ("error", type(exc).__name__)))


async def _fetch(fetcher: Fetcher, url: str) -> tuple[str, bytes, str | None] | Refused:
    # The URL comes from a chat message: never trusted, so private addresses are refused.
    try:
        result = await fetcher.fetch(url, trusted=False)
    except FetchError as exc:
        return fetch_refusal(url, exc)
    return result.url, result.content, result.content_type


async def _existing(db: Database, url: str) -> Source | None:
    """The source already polling this address, written the same or differing only in form."""
    same = await sources.find_by_url(db, url=url)
    if same is not None:
        return same
    key = url_key(url)
    return next((s for s in await sources.list_sources(db) if url_key(s.url) == key), None)


@dataclass(frozen=True, slots=True)
class Candidate:
    """What /source_add found at a URL, before the admin confirms it."""

    url: str  # as the admin gave it
    kind: str  # "feed" or "html"
    poll_url: str
    name: str
    found: str  # "feed" (the URL is one), "discovered feed" (the page links one) or "page" (read as a list)
    preview: tuple[FeedItem, ...] = ()  # the first items it would push


PREVIEW_ITEMS = 3


async def find_source(
    db: Database, fetcher: Fetcher, *, url: str, name: str | None, tz: ZoneInfo
) -> Candidate | Refused:
    """Find what to poll at url: the URL as a feed, a feed the page links to, else the page as a list."""
    # Fetched as written: some sites answer only at their own spelling (a trailing slash, a query).
    url = url.strip()
    if not normalize_url(url).startswith(("http://", "https://")):
        return Refused(_("Give an http:// or https:// address."))
    fetched = await _fetch(fetcher, url)
    if isinstance(fetched, Refused):
        return fetched
    final_url, content, content_type = fetched
    parsed = await asyncio.to_thread(parse_feed, content, url=final_url, content_type=content_type)
    kind, poll_url, found = "feed", final_url, "feed"
    if parsed.error is not None:
        # A feed is preferred: the publisher's own list, with dates and leads.
        for feed_url in discover_feeds(content, url=final_url):
            got = await _fetch(fetcher, feed_url)
            if isinstance(got, Refused):
                continue
            feed = await asyncio.to_thread(parse_feed, got[1], url=got[0], content_type=got[2])
            if feed.error is None:
                parsed, poll_url, found = feed, got[0], "discovered feed"
                break
        else:
            parsed = await asyncio.to_thread(
                parse_listing, content, url=final_url, selectors=DEFAULT_SELECTORS, tz=tz
            )
            kind, found = "html", "page"
    if not parsed.items and (kind == "html" or parsed.error is not None):
        return Refused(_("No feed or list of news found at {url}."), (("url", url),))
    existing = await _existing(db, poll_url)
    if existing is not None:
        return Refused(_("That is already the source {id}."), (("id", existing.id),), existing.id)
    label = (name or parsed.title or host_of(poll_url) or "source").strip()[:MAX_NAME]
    return Candidate(
        url=url, kind=kind, poll_url=poll_url, name=label, found=found, preview=parsed.items[:PREVIEW_ITEMS]
    )


async def confirm_source(
    db: Database, candidate: Candidate, *, now: float, interval: float = DEFAULT_INTERVAL
) -> Added | Refused:
    """Store a found source; refuse when its address became a source meanwhile."""
    existing = await _existing(db, candidate.poll_url)
    if existing is not None:
        return Refused(_("That is already the source {id}."), (("id", existing.id),), existing.id)
    taken = {s.id for s in await sources.list_sources(db)}
    source_id = source_id_for(candidate.poll_url, taken)
    if not await sources.add_source(
        db,
        source_id=source_id,
        name=candidate.name,
        url=candidate.poll_url,
        kind=candidate.kind,
        interval=interval,
        options={},
        now=now,
    ):
        return Refused(_("The id {id} was taken meanwhile; try again."), (("id", source_id),))
    source = await sources.get_source(db, source_id=source_id)
    assert source is not None
    logger.info(
        "Admin added source %s (%s, %s) at %s", source.id, candidate.kind, candidate.found, source.url
    )
    return Added(source)


async def add_from_url(
    db: Database,
    fetcher: Fetcher,
    *,
    url: str,
    name: str | None,
    now: float,
    tz: ZoneInfo,
    interval: float = DEFAULT_INTERVAL,
) -> Added | Refused:
    """Find what to poll at url (feed, discovered feed, or listing) and store it at once."""
    found = await find_source(db, fetcher, url=url, name=name, tz=tz)
    if isinstance(found, Refused):
        return found
    return await confirm_source(db, found, now=now, interval=interval)
