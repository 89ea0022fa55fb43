"""A site that ignores conditional GET and serves the same bytes: nothing is parsed or stored again."""

from __future__ import annotations

import time
from zoneinfo import ZoneInfo

import pytest

from bot.news import ingest
from bot.news.fetcher import Fetcher
from bot.storage import sources
from bot.storage.interface import Database
from tests.conftest import FeedItemSpec, FeedServer


async def poll(db: Database, fetcher: Fetcher) -> ingest.PollReport:
    source = await sources.get_source(db, source_id="site")
    assert source is not None
    return await ingest.poll_source(db, fetcher, source, now=time.time(), tz=ZoneInfo("UTC"), max_backoff=60)


async def test_same_body_twice_is_not_parsed_again(
    db: Database, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed_server.set_rss("/rss.xml", [FeedItemSpec("a", "First", feed_server.url("/a"))])
    await sources.sync_configured(
        db,
        sources=[
            {"id": "site", "name": "Site", "url": feed_server.url("/rss.xml"), "kind": "feed", "interval": 60}
        ],
        now=time.time(),
    )
    parsed: list[str] = []
    real_parse = ingest.parse_source

    def counting_parse(*args: object, **kwargs: object) -> object:
        parsed.append(str(kwargs["url"]))
        return real_parse(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest, "parse_source", counting_parse)

    async with Fetcher() as fetcher:
        first = await poll(db, fetcher)
        again = await poll(db, fetcher)
        feed_server.set_rss(
            "/rss.xml",
            [
                FeedItemSpec("b", "Second", feed_server.url("/b")),
                FeedItemSpec("a", "First", feed_server.url("/a")),
            ],
        )
        changed = await poll(db, fetcher)

    assert first.new == 1 and not first.not_modified
    assert again.not_modified and again.new == 0
    assert changed.new == 1
    assert len(parsed) == 2, "the unchanged body was parsed again"


async def test_a_poll_that_ran_late_is_due_again_on_schedule(db: Database, feed_server: FeedServer) -> None:
    """Thousands of sources fall due at once and some run late: the next poll still comes on time."""
    feed_server.set_rss("/rss.xml", [])
    await sources.sync_configured(
        db,
        sources=[
            {"id": "site", "name": "Site", "url": feed_server.url("/rss.xml"), "kind": "feed", "interval": 60}
        ],
        now=1000.0,
    )
    source = await sources.get_source(db, source_id="site")
    assert source is not None
    async with Fetcher() as fetcher:
        # Scheduled at 1000, it only ran 20 s later; the next run is scheduled at 1060.
        report = await ingest.poll_source(
            db, fetcher, source, now=1020.0, due=1000.0, tz=ZoneInfo("UTC"), max_backoff=60
        )
    polled = await sources.get_source(db, source_id="site")

    assert report.error is None
    assert polled is not None and polled.next_poll_at == 1060.0, "the run at 1060 would be skipped"
