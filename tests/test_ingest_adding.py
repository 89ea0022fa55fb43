"""Adding a source by URL: a feed, a page linking to one, a listing, or nothing usable."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

import httpx
import pytest

from bot.news.adding import Added, Candidate, Refused, add_from_url, find_source, source_id_for
from bot.news.fetcher import Fetcher
from bot.storage import open_database, pending, sources
from bot.storage.interface import Database
from tests.conftest import DatabaseTargets

RSS = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>Daily Ticker</title>'
    b"<item><title>A story</title><link>https://news.example/a</link><guid>a</guid></item>"
    b"</channel></rss>"
)
PAGES = {
    "/rss.xml": (RSS, "application/rss+xml"),
    "/home": (
        b'<html><head><link rel="alternate" type="application/rss+xml" href="/rss.xml"></head>'
        b"<body>Hello</body></html>",
        "text/html",
    ),
    "/about": (b"<html><body><p>Nothing to read here.</p></body></html>", "text/html"),
}


def _site(request: httpx.Request) -> httpx.Response:
    body, content_type = PAGES.get(request.url.path, (b"missing", "text/plain"))
    status = 200 if request.url.path in PAGES else 404
    return httpx.Response(status, content=body, headers={"Content-Type": content_type})


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Fetcher(transport=httpx.MockTransport(_site)) as client:
        yield client


async def _add(db: Database, fetcher: Fetcher, url: str, name: str | None = None) -> Added | Refused:
    return await add_from_url(db, fetcher, url=url, name=name, now=time.time(), tz=ZoneInfo("UTC"))


async def test_feed_url_is_added_as_feed_with_its_title(db: Database, fetcher: Fetcher) -> None:
    outcome = await _add(db, fetcher, "https://www.news.example/rss.xml")
    assert isinstance(outcome, Added)
    assert (outcome.source.id, outcome.source.kind, outcome.source.name) == (
        "news-example",
        "feed",
        "Daily Ticker",
    )
    assert (outcome.source.origin, outcome.source.interval) == ("admin", 300)


async def test_page_linking_a_feed_adds_the_feed_and_ids_stay_unique(db: Database, fetcher: Fetcher) -> None:
    await sources.add_source(
        db,
        source_id="news-example",
        name="x",
        url="https://other/",
        kind="feed",
        interval=60,
        options={},
        now=0,
    )
    outcome = await _add(db, fetcher, "https://news.example/home", "My name")
    assert isinstance(outcome, Added)
    assert (outcome.source.id, outcome.source.url, outcome.source.name) == (
        "news-example-2",
        "https://news.example/rss.xml",
        "My name",
    )
    again = await _add(db, fetcher, "https://news.example/rss.xml")
    assert isinstance(again, Refused) and again.reason == "That is already the source news-example-2."


async def test_page_without_feed_or_news_is_refused(db: Database, fetcher: Fetcher) -> None:
    about = await _add(db, fetcher, "https://news.example/about")
    assert (
        isinstance(about, Refused)
        and about.reason == "No feed or list of news found at https://news.example/about."
    )
    gone = await _add(db, fetcher, "https://news.example/gone")
    assert isinstance(gone, Refused) and gone.reason == "https://news.example/gone answered with HTTP 404."
    assert await sources.list_sources(db) == []


def test_source_id_from_host() -> None:
    assert source_id_for("https://www.Example.co.uk/feed", set()) == "example-co-uk"
    assert source_id_for("https://example.com/", {"example-com", "example-com-2"}) == "example-com-3"


async def test_feed_is_preferred_and_its_first_items_are_shown_before_anything_is_saved(
    db: Database, fetcher: Fetcher
) -> None:
    found = await find_source(db, fetcher, url="https://news.example/home", name=None, tz=ZoneInfo("UTC"))
    assert isinstance(found, Candidate)
    assert (found.kind, found.found, found.poll_url, found.name) == (
        "feed",
        "discovered feed",
        "https://news.example/rss.xml",
        "Daily Ticker",
    )
    assert [item.title for item in found.preview] == ["A story"]
    assert await sources.list_sources(db) == []


async def test_pending_source_survives_a_restart_and_is_taken_once(db_targets: DatabaseTargets) -> None:
    path = await db_targets()
    first = await open_database(path)
    try:
        pending_id = await pending.save_pending(
            first,
            url="https://n.example/",
            kind="html",
            poll_url="https://n.example/",
            name="N",
            found="page",
            now=100.0,
        )
    finally:
        await first.close()
    second = await open_database(path)
    try:
        taken = await pending.take_pending(second, pending_id=pending_id, now=200.0)
        assert taken is not None and (taken.kind, taken.poll_url, taken.found) == (
            "html",
            "https://n.example/",
            "page",
        )
        assert await pending.take_pending(second, pending_id=pending_id, now=200.0) is None
        late = await pending.save_pending(
            second, url="u", kind="feed", poll_url="https://m.example/f", name="M", found="feed", now=0.0
        )
        assert (
            await pending.take_pending(second, pending_id=late, now=pending.PENDING_TTL + 1) is None
        )  # expired
    finally:
        await second.close()


async def test_same_feed_written_another_way_is_refused_as_already_a_source(
    db: Database, fetcher: Fetcher
) -> None:
    assert isinstance(await _add(db, fetcher, "https://news.example/rss.xml"), Added)
    again = await _add(db, fetcher, "HTTP://news.example/rss.xml?utm_source=tg")
    assert isinstance(again, Refused) and again.reason == "That is already the source news-example."
