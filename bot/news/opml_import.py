"""Import the sources an OPML file names, as admin sources (the same kind /source_add makes)."""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.i18n import _
from bot.models import Source
from bot.news.adding import DEFAULT_INTERVAL, Refused, fetch_refusal, find_source, source_id_for
from bot.news.fetcher import Fetcher
from bot.news.opml import OpmlEntry, parse_opml
from bot.storage import sources
from bot.storage.interface import Database
from bot.urls import host_of, url_key

logger = logging.getLogger(__name__)

DISCOVERY_CONCURRENCY = 4  # pages fetched at once to find their feeds (the fetcher caps per host too)


@dataclass(frozen=True, slots=True)
class ImportReport:
    added: tuple[Source, ...]
    present: tuple[str, ...]  # the names (or addresses) of outlines already polled, matched by URL key
    failed: tuple[tuple[str, Refused], ...]  # (name or address, why: .reason in English, .translated(tr))


def source_id_from_title(title: str, url: str, taken: set[str]) -> str:
    """A short id from the title ("BBC News — World" -> "bbc-news-world"), else the host; unique."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii").lower()
    base = re.sub(r"[^a-z0-9]+", "-", ascii_title)[:40].strip("-")
    if not base:
        return source_id_for(url, taken)
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


@dataclass(frozen=True, slots=True)
class _Found:
    entry: OpmlEntry
    url: str
    kind: str
    name: str
    html_url: str | None


async def _discover(
    db: Database, fetcher: Fetcher, entry: OpmlEntry, tz: ZoneInfo, gate: asyncio.Semaphore
) -> _Found | Refused:
    async with gate:
        found = await find_source(db, fetcher, url=entry.url, name=entry.name or None, tz=tz)
    if isinstance(found, Refused):
        return found
    return _Found(entry, found.poll_url, found.kind, found.name, entry.url if found.kind == "feed" else None)


async def import_opml(
    db: Database,
    fetcher: Fetcher,
    data: bytes,
    *,
    now: float,
    tz: ZoneInfo,
    interval: float = DEFAULT_INTERVAL,
) -> ImportReport:
    """Add every source the file names that is not polled yet; OpmlError when it is not OPML."""
    document = parse_opml(data)
    known = await sources.list_sources(db)
    keys = {url_key(s.url) for s in known}
    taken = {s.id for s in known}
    present: list[str] = []
    failed: list[tuple[str, Refused]] = list(document.invalid)
    ready: list[_Found] = []
    to_discover: list[OpmlEntry] = []
    for entry in document.entries:
        label = entry.name or entry.url
        if url_key(entry.url) in keys:
            present.append(label)
            continue
        keys.add(url_key(entry.url))
        if (refusal := fetcher.refusal(entry.url)) is not None:
            # Not fetched at import, but stored it would fail at every poll and nag the admins.
            failed.append((label, fetch_refusal(entry.url, refusal)))
        elif entry.kind == "discover":
            to_discover.append(entry)
        else:
            name = entry.name or host_of(entry.url)
            ready.append(_Found(entry, entry.url, entry.kind, name, entry.html_url))
    gate = asyncio.Semaphore(DISCOVERY_CONCURRENCY)
    # One page whose reading fails in an unforeseen way is one failed line, not the whole import.
    outcomes = await asyncio.gather(
        *(_discover(db, fetcher, e, tz, gate) for e in to_discover), return_exceptions=True
    )
    for entry, outcome in zip(to_discover, outcomes, strict=True):
        label = entry.name or entry.url
        if isinstance(outcome, BaseException):
            if not isinstance(outcome, Exception):
                raise outcome  # a cancellation or an interrupt is not the page's fault
            logger.warning("OPML import: reading %s failed", entry.url, exc_info=outcome)
            failed.append(
                (label, Refused(_("could not be read ({error})"), (("error", type(outcome).__name__),)))
            )
        elif isinstance(outcome, Refused) and outcome.existing is not None:
            present.append(label)
        elif isinstance(outcome, Refused):
            failed.append((label, outcome))
        elif url_key(outcome.url) in keys and url_key(outcome.url) != url_key(entry.url):
            present.append(label)  # two pages of the file lead to one feed
        else:
            keys.add(url_key(outcome.url))
            ready.append(outcome)
    rows = []
    for found in ready:
        source_id = source_id_from_title(found.name, found.url, taken)
        taken.add(source_id)
        rows.append(
            {
                "source_id": source_id,
                "name": found.name,
                "url": found.url,
                "kind": found.kind,
                "interval": interval,
                "category": found.entry.category,
                "options": {"html_url": found.html_url} if found.html_url else {},
            }
        )
    # One transaction: a file of 5,000 feeds is one commit, and all of it or none.
    added_ids = await sources.add_sources(db, sources=rows, now=now)
    free = set(added_ids)
    for row in rows:
        if row["source_id"] not in free:
            taken_id = Refused(_("the id {id} was taken meanwhile"), (("id", str(row["source_id"])),))
            failed.append((str(row["name"]), taken_id))
    by_id = {s.id: s for s in await sources.list_sources(db)}
    added = tuple(by_id[i] for i in added_ids if i in by_id)
    logger.info("OPML import: %d added, %d already present, %d failed", len(added), len(present), len(failed))
    return ImportReport(added=added, present=tuple(present), failed=tuple(failed))
