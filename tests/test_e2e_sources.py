"""End to end: failing sources, the same story in two feeds, and the admin's source commands."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from bot.config import Settings, SourceSettings
from bot.emulator import EmulatorClient
from bot.news.models import FeedItem
from bot.storage import articles, open_database, sources
from tests.conftest import FeedItemSpec, FeedServer
from tests.test_e2e_first_push import READER, _subscribed_reader, _wait_for_poll

ADMIN = 9001
STRANGER = 9002


async def _ask(control: EmulatorClient, user: int, text: str, answers: int) -> dict[str, Any]:
    """Send a command and return the reply, the ``answers``-th message in the user's chat."""
    await control.send_text(user, user, text)
    return (await control.wait_for_messages(user, answers, timeout=10))[-1]


async def test_failing_source_tells_admin_once_when_failing_and_once_on_recovery(
    feed_server: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    source = SourceSettings(id="site", name="Test Site", url=feed_server.url("/rss.xml"), interval=1)
    feed_server.set_rss("/rss.xml", [])
    settings = make_settings(source, admins=(ADMIN,))
    await start_bot(replace(settings, ingest=replace(settings.ingest, max_backoff=1.0)))
    await _ask(control, ADMIN, "/start", 1)  # Telegram lets a bot write only to users who started it
    await _wait_for_poll(feed_server, "/rss.xml", 1)
    feed_server.set("/rss.xml", "oops", status=500)
    await _wait_for_poll(feed_server, "/rss.xml", feed_server.hits["/rss.xml"] + 3)  # told only once

    feed_server.set_rss("/rss.xml", [FeedItemSpec("1", "Back", feed_server.url("/news/1"))])
    await _wait_for_poll(feed_server, "/rss.xml", feed_server.hits["/rss.xml"] + 2)

    texts = [m["text"] for m in await control.messages(ADMIN)][1:]
    assert len(texts) == 2, texts
    assert texts[0].startswith("⚠️ Source Test Site (site) is failing: HTTP 500")
    assert texts[1] == "✅ Source Test Site (site) has recovered."


async def test_same_story_in_two_feeds_reaches_reader_once(
    feed_server: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    one = SourceSettings(id="one", name="One", url=feed_server.url("/one.xml"), interval=1)
    two = SourceSettings(id="two", name="Two", url=feed_server.url("/two.xml"), interval=1)
    feed_server.set_rss("/one.xml", [])
    feed_server.set_rss("/two.xml", [])
    await start_bot(make_settings(one, two))
    await _subscribed_reader(control)
    await _wait_for_poll(feed_server, "/one.xml", 2)
    await _wait_for_poll(feed_server, "/two.xml", 2)

    story = feed_server.url("/news/big")
    feed_server.set("/news/big", "<html><body><article><p>Body.</p></article></body></html>")
    feed_server.set_rss("/one.xml", [FeedItemSpec("a", "Big story", story + "?utm_source=rss")])
    feed_server.set_rss("/two.xml", [FeedItemSpec("b", "Big story elsewhere", story + "/")])
    await control.wait_for_messages(READER, 3, timeout=10)
    await _wait_for_poll(feed_server, "/one.xml", feed_server.hits["/one.xml"] + 2)
    await _wait_for_poll(feed_server, "/two.xml", feed_server.hits["/two.xml"] + 2)

    news = [m for m in await control.messages(READER) if "Big story" in m["text"]]
    assert len(news) == 1
    assert feed_server.hits["/news/big"] == 1  # its page was read once, after the push


async def test_source_commands(
    feed_server: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    source = SourceSettings(id="site", name="Test <Site>", url=feed_server.url("/rss.xml"), interval=1)
    feed_server.set_rss("/rss.xml", [FeedItemSpec("1", "One", feed_server.url("/news/1"))])
    await start_bot(make_settings(source, admins=(ADMIN,)))
    await _wait_for_poll(feed_server, "/rss.xml", 1)

    for command in (
        "/sources",
        "/source_add http://example.com/",
        "/source_remove site",
        "/source_pause site",
    ):
        await control.send_text(STRANGER, STRANGER, command)
    listing = await _ask(control, ADMIN, "/sources", 1)
    assert "Test &lt;Site&gt;" in listing["html"] and "<code>site</code>" in listing["html"]
    assert "items: 1" in listing["text"] and "failures in a row: 0" in listing["text"]

    refused = await _ask(control, ADMIN, f"/source_add {feed_server.url('/rss.xml')}", 2)
    assert refused["text"].startswith("Not added:")
    assert "private or local address" in refused["text"]
    assert (await _ask(control, ADMIN, "/source_add", 3))["text"] == "Usage: /source_add URL [name]"
    assert (await _ask(control, ADMIN, "/source_pause", 4))["text"] == "Usage: /source_pause ID"
    assert (await _ask(control, ADMIN, "/source_remove a b", 5))["text"] == "Usage: /source_remove ID"
    unknown = (await _ask(control, ADMIN, "/source_pause sitr", 6))["text"]
    assert unknown == "No source sitr. Did you mean site?\nSources: site. See /sources"

    assert (await _ask(control, ADMIN, "/source_pause site", 7))["text"] == "Paused site."
    polls = feed_server.hits["/rss.xml"]
    assert "⏸ paused" in (await _ask(control, ADMIN, "/sources", 8))["text"]
    assert feed_server.hits["/rss.xml"] == polls
    assert (await _ask(control, ADMIN, "/source_resume site", 9))["text"] == "Resumed site."
    await _wait_for_poll(feed_server, "/rss.xml", polls + 1)
    kept = (await _ask(control, ADMIN, "/source_remove site", 10))["text"]
    assert kept.startswith("site comes from the config file: remove it there and restart")
    assert "Test <Site>" in (await _ask(control, ADMIN, "/sources", 11))["text"]

    assert await control.messages(STRANGER) == []
    await asyncio.sleep(0)


async def test_source_added_by_an_admin_is_removed_with_its_articles(
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    settings = make_settings(admins=(ADMIN,))
    db = await open_database(settings.bot.db)
    await sources.add_source(
        db,
        source_id="wire",
        name="Wire",
        url="https://news.example/rss",
        kind="feed",
        interval=3600,
        options={},
        now=time.time(),
    )
    await articles.store_items(
        db,
        source_id="wire",
        items=[FeedItem(guid="g", url="https://news.example/1", title="Old")],
        default_category=None,
        breaking=False,
        push=False,
        now=time.time(),
    )
    await db.close()
    await start_bot(settings)

    assert (await _ask(control, ADMIN, "/source_remove wire", 1))["text"] == "Removed wire and its articles."
    assert (await _ask(control, ADMIN, "/sources", 2))["text"].startswith("No sources yet.")
    assert (await _ask(control, ADMIN, "/latest", 3))["text"].startswith("No news yet")
