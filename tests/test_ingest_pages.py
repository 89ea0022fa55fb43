"""Polling stores items, then reads their article pages; changes, duplicates and pruning."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.models import Source
from bot.news.fetcher import Fetcher
from bot.news.ingest import fetch_pages, poll_source
from bot.storage import articles, sources
from bot.storage.interface import Database
from tests.conftest import FeedItemSpec, FeedServer

UTC_ZONE = ZoneInfo("UTC")


def _page(feed_server: FeedServer, *, canonical: str, published: str = "2024-04-20T12:30:00+00:00") -> str:
    return f"""<html><head><title>Storm hits the coast</title>
<link rel="canonical" href="{canonical}">
<meta name="author" content="Ada Writer">
<meta property="article:published_time" content="{published}">
<meta property="article:section" content="Weather">
<meta property="article:tag" content="Storm">
<meta property="og:image" content="/img/storm.jpg">
<meta property="og:description" content="A strong storm reached the coast on Monday.">
</head><body><article><h1>Storm hits the coast</h1>
<p>A strong storm reached the coast on Monday night, cutting power to thousands of homes
along the shore and closing the main harbour for the day.</p>
<p>Rescue teams worked through the night and the harbour is expected to reopen on Wednesday
once the damage to the piers has been assessed by engineers.</p>
</article>
<div class="read-also"><h3>Read also</h3><ul>
<li><a href="{feed_server.url("/news/old-1")}">Last year's flood in review</a></li>
<li><a href="{feed_server.url("/news/old-2?utm_source=x")}">How harbours prepare</a></li>
</ul></div></body></html>"""


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Fetcher() as client:
        yield client


async def _source(db: Database, source_id: str, url: str, *, now: float) -> Source:
    await sources.sync_configured(
        db,
        sources=[{"id": source_id, "name": source_id.title(), "url": url, "kind": "feed", "interval": 60}],
        now=now,
    )
    found = await sources.get_source(db, source_id=source_id)
    assert found is not None
    return found


async def _poll(db: Database, fetcher: Fetcher, source_id: str, now: float) -> None:
    source = await sources.get_source(db, source_id=source_id)
    assert source is not None
    report = await poll_source(db, fetcher, source, now=now, tz=UTC_ZONE, max_backoff=3600)
    assert report.error is None


async def _article_id(db: Database, url: str) -> int:
    found = [a for a in await articles.latest(db, limit=50) if a.url == url]
    assert len(found) == 1, f"{url} stored {len(found)} times"
    return found[0].id


async def test_new_item_page_is_fetched_once_and_kept(
    db: Database, fetcher: Fetcher, feed_server: FeedServer
) -> None:
    now = time.time()
    link = feed_server.url("/news/storm")
    # No pubDate: the page's published time must replace the time we first saw the item.
    feed_server.set(
        "/rss.xml",
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><item><title>Storm</title>'
        f"<link>{link}</link><guid>storm</guid><description>Lead.</description></item></channel></rss>",
        content_type="application/rss+xml",
    )
    feed_server.set("/news/storm", _page(feed_server, canonical=link))
    source = await _source(db, "site", feed_server.url("/rss.xml"), now=now)
    await _poll(db, fetcher, "site", now)

    report = await fetch_pages(db, fetcher, source, now=now)
    again = await fetch_pages(db, fetcher, source, now=now)

    assert (report.stored, report.failed) == (1, 0)
    assert (again.stored, again.failed) == (0, 0)
    assert feed_server.hits["/news/storm"] == 1
    article = await articles.get_article(db, article_id=await _article_id(db, link))
    assert article is not None
    assert article.body is not None and "A strong storm reached the coast on Monday" in article.body
    assert "harbour is expected to reopen" in article.body
    assert "Last year's flood" not in article.body
    assert article.author == "Ada Writer"
    assert article.published_at == datetime(2024, 4, 20, 12, 30, tzinfo=UTC)
    assert article.tags == ("Storm",)
    assert article.image_url == feed_server.url("/img/storm.jpg")
    links = await articles.read_also(db, article_id=article.id)
    assert [(x.title, x.url) for x in links] == [
        ("Last year's flood in review", feed_server.url("/news/old-1")),
        ("How harbours prepare", feed_server.url("/news/old-2")),
    ]
    page = await articles.page_state(db, article_id=article.id)
    assert page is not None
    assert page.description == "A strong storm reached the coast on Monday."
    assert page.canonical_url == link
    assert page.error is None and page.duplicate_of is None


async def test_feed_date_is_kept_and_failed_page_is_recorded_not_retried(
    db: Database, fetcher: Fetcher, feed_server: FeedServer
) -> None:
    now = time.time()
    published = datetime(2025, 1, 2, 3, 4, tzinfo=UTC)
    items = [
        FeedItemSpec("a", "Dated story", feed_server.url("/news/a"), published=published),
        FeedItemSpec("b", "Missing page", feed_server.url("/news/b"), published=published),
    ]
    feed_server.set_rss("/rss.xml", items)
    feed_server.set("/news/a", _page(feed_server, canonical=feed_server.url("/news/a")))
    feed_server.set("/news/b", "gone", status=500)
    source = await _source(db, "site", feed_server.url("/rss.xml"), now=now)
    await _poll(db, fetcher, "site", now)

    report = await fetch_pages(db, fetcher, source, now=now)
    await fetch_pages(db, fetcher, source, now=now)

    assert (report.stored, report.failed) == (1, 1)
    assert feed_server.hits["/news/b"] == 1
    dated = await articles.get_article(db, article_id=await _article_id(db, feed_server.url("/news/a")))
    assert dated is not None and dated.published_at == published
    failed = await articles.page_state(db, article_id=await _article_id(db, feed_server.url("/news/b")))
    assert failed is not None and failed.error == "HTTP 500"


async def test_page_on_another_host_is_fetched_untrusted(
    db: Database, fetcher: Fetcher, feed_server: FeedServer
) -> None:
    now = time.time()
    # "localhost" is not the configured source's host, so the fetcher must refuse the loopback address.
    other_host = feed_server.url("/news/x").replace("127.0.0.1", "localhost")
    feed_server.set_rss("/rss.xml", [FeedItemSpec("x", "Elsewhere", other_host)])
    feed_server.set("/news/x", _page(feed_server, canonical=other_host))
    source = await _source(db, "site", feed_server.url("/rss.xml"), now=now)
    await _poll(db, fetcher, "site", now)

    report = await fetch_pages(db, fetcher, source, now=now)

    assert (report.stored, report.failed) == (0, 1)
    assert "/news/x" not in feed_server.hits
    state = await articles.page_state(db, article_id=await _article_id(db, other_host))
    assert state is not None and state.error is not None and "BlockedAddress" in state.error


async def test_same_story_in_two_feeds_with_tracking_parameters_is_one_row_and_the_merge_is_counted(
    db: Database, fetcher: Fetcher, feed_server: FeedServer
) -> None:
    now = time.time()
    story = feed_server.url("/news/story")
    for source_id in ("one", "two"):
        await _source(db, source_id, feed_server.url(f"/{source_id}.xml"), now=now)
        feed_server.set_rss(f"/{source_id}.xml", [])
        await _poll(db, fetcher, source_id, now)  # the first poll only seeds
    feed_server.set_rss("/one.xml", [FeedItemSpec("g1", "Story", story)])
    feed_server.set_rss("/two.xml", [FeedItemSpec("other-guid", "Story", story + "?utm_source=tg")])
    await _poll(db, fetcher, "one", now + 1)
    await _poll(db, fetcher, "two", now + 2)
    # Polled again: the merge is remembered, not counted twice.
    await _poll(db, fetcher, "two", now + 3)

    assert await _article_id(db, story)
    assert len(await articles.latest(db, limit=50)) == 1
    two = await sources.get_source(db, source_id="two")
    assert two is not None and two.items_merged == 1


async def test_two_items_of_one_source_with_different_guids_are_never_merged_by_link(
    db: Database, fetcher: Fetcher, feed_server: FeedServer
) -> None:
    now = time.time()
    page = feed_server.url("/podcast")
    await _source(db, "pod", feed_server.url("/pod.xml"), now=now)
    # A podcast whose episodes all link to the show's page; a blog whose items differ by fragment.
    feed_server.set_rss(
        "/pod.xml",
        [
            FeedItemSpec("ep-1", "Episode 1", page),
            FeedItemSpec("ep-2", "Episode 2", page),
            FeedItemSpec("ep-3", "Episode 3", page + "/"),
            FeedItemSpec("p-1", "Note 1", page + "#a1"),
            FeedItemSpec("p-2", "Note 2", page + "#a2"),
        ],
    )
    await _poll(db, fetcher, "pod", now)

    stored = await articles.latest(db, limit=50)
    assert len(stored) == 5
    assert {a.url for a in stored} == {page, page + "/", page + "#a1", page + "#a2"}
    pod = await sources.get_source(db, source_id="pod")
    assert pod is not None and pod.items_merged == 0


async def test_page_canonical_address_is_recognised(
    db: Database, fetcher: Fetcher, feed_server: FeedServer
) -> None:
    now = time.time()
    original = feed_server.url("/news/original")
    mobile = feed_server.url("/m/original")
    amp = feed_server.url("/amp/original")
    source = await _source(db, "site", feed_server.url("/rss.xml"), now=now)
    feed_server.set_rss("/rss.xml", [FeedItemSpec("1", "Original", original)])
    feed_server.set("/news/original", _page(feed_server, canonical=original))
    await _poll(db, fetcher, "site", now)
    await fetch_pages(db, fetcher, source, now=now)

    # A mobile copy whose page says it is the original: stored (it was already pushed), marked.
    feed_server.set_rss(
        "/rss.xml", [FeedItemSpec("2", "Mobile", mobile), FeedItemSpec("1", "Original", original)]
    )
    feed_server.set("/m/original", _page(feed_server, canonical=original))
    await _poll(db, fetcher, "site", now + 1)
    await fetch_pages(db, fetcher, source, now=now + 1)
    copy = await articles.page_state(db, article_id=await _article_id(db, mobile))
    assert copy is not None and copy.duplicate_of == await _article_id(db, original)

    # An amp copy whose page named itself canonical is known by that address: no new row.
    feed_server.set("/amp/original", _page(feed_server, canonical=amp))
    feed_server.set_rss("/rss.xml", [FeedItemSpec("3", "Amp", amp + "?utm_medium=x")])
    await _poll(db, fetcher, "site", now + 2)
    await fetch_pages(db, fetcher, source, now=now + 2)
    # Another feed with the amp address: the same page, merged (the same source's other guid
    # would be another story).
    await _source(db, "other", feed_server.url("/other.xml"), now=now)
    feed_server.set_rss("/other.xml", [FeedItemSpec("4", "Amp again", amp)])
    await _poll(db, fetcher, "other", now + 3)
    assert len(await articles.latest(db, limit=50)) == 3


async def test_changed_title_and_lead_are_updated_in_place_and_recorded(
    db: Database, fetcher: Fetcher, feed_server: FeedServer
) -> None:
    now = time.time()
    link = feed_server.url("/news/1")
    await _source(db, "site", feed_server.url("/rss.xml"), now=now)
    feed_server.set_rss("/rss.xml", [FeedItemSpec("1", "Fire in the city", link, description="Two hurt.")])
    await _poll(db, fetcher, "site", now)
    feed_server.set_rss(
        "/rss.xml", [FeedItemSpec("1", "Fire in the old city", link, description="Two hurt.")]
    )
    await _poll(db, fetcher, "site", now + 10)
    feed_server.set_rss(
        "/rss.xml", [FeedItemSpec("1", "Fire in the old city", link, description="Five hurt.")]
    )
    await _poll(db, fetcher, "site", now + 20)
    await _poll(db, fetcher, "site", now + 30)  # unchanged: nothing more recorded

    article_id = await _article_id(db, link)
    article = await articles.get_article(db, article_id=article_id)
    assert article is not None and (article.title, article.lead) == ("Fire in the old city", "Five hurt.")
    recorded = await articles.changes(db, article_id=article_id)
    assert [(c.field, c.old, c.new, c.changed_at) for c in recorded] == [
        ("title", "Fire in the city", "Fire in the old city", now + 10),
        ("lead", "Two hurt.", "Five hurt.", now + 20),
    ]


async def test_prune_takes_links_changes_and_deliveries_along(
    db: Database, fetcher: Fetcher, feed_server: FeedServer
) -> None:
    old = time.time() - 90 * 86400
    link = feed_server.url("/news/old")
    published = datetime.fromtimestamp(old, tz=UTC)
    source = await _source(db, "site", feed_server.url("/rss.xml"), now=old)
    feed_server.set_rss("/rss.xml", [])
    await _poll(db, fetcher, "site", old)
    await db.write("INSERT INTO chats (id, type, created_at, updated_at) VALUES (7, 'private', 0, 0)")
    await db.write("INSERT INTO subscriptions (chat_id, kind, value, created_at) VALUES (7, 'all', '', 0)")
    feed_server.set_rss("/rss.xml", [FeedItemSpec("o", "Old", link, description="a", published=published)])
    await _poll(db, fetcher, "site", old + 1)
    feed_server.set("/news/old", _page(feed_server, canonical=link))
    await fetch_pages(db, fetcher, source, now=old + 1)
    feed_server.set_rss("/rss.xml", [FeedItemSpec("o", "Old", link, description="b", published=published)])
    await _poll(db, fetcher, "site", old + 2)
    article_id = await _article_id(db, link)

    async def count(table: str) -> int:
        row = await db.fetchone(f"SELECT count(*) FROM {table} WHERE article_id = ?", (article_id,))
        assert row is not None
        return int(row[0])

    before = [await count(t) for t in ("outbox", "article_links", "article_changes")]
    removed = await articles.prune(db, older_than=time.time() - 30 * 86400)
    after = [await count(t) for t in ("outbox", "article_links", "article_changes")]

    assert before == [1, 2, 1]
    assert removed == 1
    assert after == [0, 0, 0]


async def test_everything_the_page_says_is_stored_with_the_publishers_offset(
    db: Database, fetcher: Fetcher, feed_server: FeedServer
) -> None:
    now = time.time()
    link = feed_server.url("/news/quake")
    feed_server.set(
        "/rss.xml",
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><item><title>Quake</title>'
        f"<link>{link}</link><guid>quake</guid><description>Lead.</description></item></channel></rss>",
        content_type="application/rss+xml",
    )
    # The feed's title stays on the article; the page's own headline, without the site's name and
    # the kicker glued into its h1, goes beside it with the date as the publisher wrote it.
    page_html = (
        _page(feed_server, canonical=link, published="2024-04-20T16:30:00+04:00")
        .replace(
            "<title>Storm hits the coast</title>",
            "<title>Storm hits the coast - Coast Daily</title>"
            '<meta property="og:site_name" content="Coast Daily">',
        )
        .replace(
            "<h1>Storm hits the coast</h1>",
            '<h1><span class="subtitle">Weather alert</span> Storm hits the coast</h1>',
        )
    )
    feed_server.set("/news/quake", page_html)
    source = await _source(db, "site", feed_server.url("/rss.xml"), now=now)
    await _poll(db, fetcher, "site", now)

    await fetch_pages(db, fetcher, source, now=now)

    article_id = await _article_id(db, link)
    facts = await articles.page_facts(db, article_id=article_id)
    assert facts is not None
    assert facts.title == "Storm hits the coast"
    assert facts.kicker == "Weather alert"
    assert facts.category == "Weather"
    assert facts.author == "Ada Writer"
    assert facts.site_name == "Coast Daily"
    assert facts.published_local == "2024-04-20T16:30:00+04:00"
    assert facts.utc_offset == 240
    assert facts.published_at == datetime(2024, 4, 20, 12, 30, tzinfo=UTC).timestamp()
    assert facts.image_url == feed_server.url("/img/storm.jpg")
    assert facts.tags == ("Storm",)
    assert [link.title for link in facts.read_also] == ["Last year's flood in review", "How harbours prepare"]
    article = await articles.get_article(db, article_id=article_id)
    assert article is not None and article.title == "Quake"
