"""Which items are one story: identity, pruning memory, future dates, edits, unreadable items, trust."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from bot.items import FeedItem
from bot.news.feeds import parse_feed
from bot.news.fetcher import Fetcher
from bot.news.ingest import fetch_pages, poll_source
from bot.render.sources import source_line
from bot.storage import articles, sources
from bot.storage.interface import Database
from tests.conftest import FeedItemSpec, FeedServer

CORPUS_FEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "feeds"
UTC_ZONE = ZoneInfo("UTC")


async def _source(db: Database, source_id: str, url: str = "https://site.example/rss", *, now: float) -> None:
    await sources.sync_configured(
        db,
        sources=[{"id": source_id, "name": source_id.title(), "url": url, "kind": "feed", "interval": 60}],
        now=now,
    )


async def _store(
    db: Database, source_id: str, items: list[FeedItem], *, now: float, push: bool = True
) -> articles.StoreResult:
    return await articles.store_items(
        db, source_id=source_id, items=items, default_category=None, breaking=False, push=push, now=now
    )


async def _count(db: Database, source_id: str) -> int:
    return sum(1 for a in await articles.latest(db, limit=10_000) if a.source_id == source_id)


def _corpus_feeds() -> list[Path]:
    if not CORPUS_FEEDS.is_dir():
        return []
    return [
        path
        for path in sorted(CORPUS_FEEDS.rglob("*"))
        if path.is_file() and not path.name.endswith((".serde.json", ".md")) and "output" not in path.parts
    ]


@pytest.mark.skipif(not CORPUS_FEEDS.is_dir(), reason="shared corpus not present")
async def test_every_corpus_feed_stores_every_distinct_item_it_parses(db: Database) -> None:
    now = time.time()
    checked = 0
    for number, path in enumerate(_corpus_feeds()):
        feed = parse_feed(path.read_bytes(), url=f"https://corpus.example/{path.parent.name}/{path.name}")
        if not feed.items:
            continue
        source_id = f"feed{number}"
        await _source(db, source_id, now=now)
        stored = await _store(db, source_id, list(feed.items), now=now, push=False)
        assert (len(stored.new), stored.merged, stored.skipped) == (len(feed.items), 0, 0), path
        assert await _count(db, source_id) == len(feed.items), path
        await sources.remove_source(db, source_id=source_id)  # each feed on its own, as the issue counts
        checked += 1
    assert checked > 100


@pytest.mark.parametrize(
    ("name", "expected"),
    [("netnewswire/scriptingNews.rss", 48), ("rss-parser/input/itunes-missing-image.rss", 130)],
)
async def test_items_with_fragment_links_or_one_shared_link_are_all_stored(
    db: Database, name: str, expected: int
) -> None:
    path = CORPUS_FEEDS / name
    if not path.is_file():
        pytest.skip("shared corpus not present")
    now = time.time()
    feed = parse_feed(path.read_bytes(), url="https://corpus.example/feed")
    await _source(db, "s", now=now)
    await _store(db, "s", list(feed.items), now=now, push=False)
    assert len(feed.items) == expected
    assert await _count(db, "s") == expected


async def test_reader_gets_the_link_the_publisher_wrote(db: Database) -> None:
    now = time.time()
    written = "https://News.example/a/story/?b=2&a=%7e1#part-2"
    await _source(db, "s", now=now)
    await _store(db, "s", [FeedItem(guid="1", url=written, title="Story", publisher_guid=True)], now=now)
    (article,) = await articles.latest(db)
    assert article.url == written


async def test_same_link_from_two_sources_is_merged_logged_and_counted(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.storage.articles")
    now = time.time()
    await _source(db, "one", now=now)
    await _source(db, "two", now=now)
    await _store(
        db, "one", [FeedItem(guid="a", url="https://x.example/s", title="S", publisher_guid=True)], now=now
    )
    item = FeedItem(guid="b", url="http://x.example/s?utm_source=feed", title="S", publisher_guid=True)
    first = await _store(db, "two", [item], now=now + 1)
    again = await _store(db, "two", [item], now=now + 2)

    assert (first.new, first.merged) == ((), 1)
    assert (again.new, again.merged) == ((), 0)  # remembered, not counted every poll
    assert "merged into article" in caplog.text
    two = await sources.get_source(db, source_id="two")
    assert two is not None and two.items_merged == 1
    assert "merged into other stories: 1" in source_line(two, UTC_ZONE)  # what /sources shows admins


async def test_linkless_items_are_stored_each_under_its_own_guid(db: Database) -> None:
    now = time.time()
    await _source(db, "s", now=now)
    site = "https://site.example/"
    items = [
        FeedItem(
            guid=f"g{n}", url=site, title=f"Note {n}", lead="Some text.", publisher_guid=True, own_link=False
        )
        for n in range(3)
    ]
    stored = await _store(db, "s", items, now=now, push=False)
    assert (len(stored.new), stored.merged) == (3, 0)
    # Their url is the site's home page, not an article page to read.
    assert await articles.pages_due(db, source_id="s", since=0, limit=10) == []


async def test_old_item_still_in_the_feed_is_not_pushed_again_after_the_prune(db: Database) -> None:
    now = time.time()
    await _source(db, "s", now=now)
    old = FeedItem(
        guid="old", url="https://x.example/old", title="Old", published=datetime(2020, 1, 1, tzinfo=UTC)
    )
    await _store(db, "s", [old], now=now - 40 * 86400, push=False)
    assert await articles.prune(db, older_than=now - 30 * 86400) == 1

    again = await _store(db, "s", [old], now=now)

    assert (again.new, again.queued) == ((), 0)
    assert await _count(db, "s") == 0


async def test_item_dated_in_the_future_is_clamped_to_its_discovery_and_pruned(db: Database) -> None:
    now = time.time()
    await _source(db, "s", now=now)
    future = FeedItem(
        guid="f", url="https://x.example/f", title="F", published=datetime(2099, 1, 1, tzinfo=UTC)
    )
    await _store(db, "s", [future], now=now - 40 * 86400)
    (article,) = await articles.latest(db)
    assert article.published_at.timestamp() == pytest.approx(now - 40 * 86400)
    assert await articles.prune(db, older_than=now - 30 * 86400) == 1


async def test_article_changes_keep_only_the_last_ten_edits(db: Database) -> None:
    now = time.time()
    await _source(db, "s", now=now)
    for n in range(30):
        item = FeedItem(guid="g", url="https://x.example/live", title=f"Live: {n} dead", publisher_guid=True)
        await _store(db, "s", [item], now=now + n)
    (article,) = await articles.latest(db)
    edits = await articles.changes(db, article_id=article.id)
    assert len(edits) == articles.CHANGES_KEPT
    assert edits[-1].new == "Live: 29 dead"


async def test_item_with_unstorable_text_is_skipped_counted_and_the_others_kept(db: Database) -> None:
    now = time.time()
    await _source(db, "s", now=now)
    bad = FeedItem(guid="bad", url="https://x.example/bad", title="Bad \ud800 title")
    good = FeedItem(guid="good", url="https://x.example/good", title="Good")
    stored = await _store(db, "s", [bad, good], now=now)
    again = await _store(db, "s", [bad, good], now=now + 60)
    assert (len(stored.new), stored.skipped) == (1, 1)
    assert (again.new, again.skipped) == ((), 0)  # the same bad item is counted once
    # An item the parser could not read at all, reported by its id, twice: counted once too.
    for poll in (1, 2):
        await articles.store_items(
            db, source_id="s", items=[good], default_category=None, breaking=False, push=True,
            now=now + 60 * poll, skipped=("urn:broken",),
        )  # fmt: skip
    source = await sources.get_source(db, source_id="s")
    assert source is not None and source.items_skipped == 2


async def test_poisoned_json_feed_item_does_not_stop_the_source(
    db: Database, feed_server: FeedServer
) -> None:
    now = time.time()
    good, bad = feed_server.url("/news/good"), feed_server.url("/news/bad")
    body = (
        '{"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": ['
        f'{{"id": "\\ud800", "url": "{bad}", "title": "Bad \\ud800 one", "content_text": "x\\udfff"}},'
        f'{{"id": "2", "url": "{good}", "title": "Good one"}}]}}'
    )
    feed_server.set("/feed.json", body, content_type="application/feed+json")
    await _source(db, "j", feed_server.url("/feed.json"), now=now)
    source = await sources.get_source(db, source_id="j")
    assert source is not None
    async with Fetcher() as fetcher:
        report = await poll_source(db, fetcher, source, now=now, tz=UTC_ZONE, max_backoff=60)
    assert report.error is None and report.new == 2
    titles = {a.title for a in await articles.latest(db)}
    assert titles == {"Bad \ufffd one", "Good one"}


async def test_config_feeds_host_is_not_trusted_on_another_port(
    db: Database, feed_server: FeedServer
) -> None:
    hits: list[str] = []

    async def secret(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text="<html><body><p>internal</p></body></html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/secret", secret)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    other = f"http://127.0.0.1:{runner.addresses[0][1]}/secret"
    try:
        now = time.time()
        feed_server.set_rss("/rss.xml", [FeedItemSpec("1", "Elsewhere", other)])
        await _source(db, "site", feed_server.url("/rss.xml"), now=now)
        source = await sources.get_source(db, source_id="site")
        assert source is not None
        async with Fetcher() as fetcher:
            await poll_source(db, fetcher, source, now=now, tz=UTC_ZONE, max_backoff=60)
            report = await fetch_pages(db, fetcher, source, now=now)
    finally:
        await runner.cleanup()
    assert (report.stored, report.failed) == (0, 1)
    assert hits == []
