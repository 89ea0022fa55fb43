"""End to end: failing sources, the same story in two feeds, and the admin's source commands."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import httpx

from bot.app import NewsApp, build_application, running
from bot.config import Settings, SourceSettings
from bot.emulator import EmulatorClient
from bot.items import FeedItem
from bot.news.fetcher import Fetcher
from bot.storage import articles, leases, open_database, sources
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
    # Not due for an hour: a due source is polled at start-up, and this host does not resolve.
    await db.write("UPDATE sources SET next_poll_at = ? WHERE id = 'wire'", (time.time() + 3600,))
    await db.close()
    await start_bot(settings)

    assert (await _ask(control, ADMIN, "/source_remove wire", 1))["text"] == "Removed wire and its articles."
    assert (await _ask(control, ADMIN, "/sources", 2))["text"].startswith("No sources yet.")
    assert (await _ask(control, ADMIN, "/latest", 3))["text"].startswith("No news yet")


HOME = (
    "<html><head><title>Ticker Daily</title></head><body><nav><a href='/en/politics/'>Politics</a></nav>"
    "<main><ul class='stories'>"
    + "".join(
        f"<li><a href='/en/news/2024/07/story-number-{i}-of-the-day'>Story number {i} of a very long day</a>"
        f"<span class='date'>26.07.2024 1{i}:00</span></li>"
        for i in range(5)
    )
    + "</ul></main><footer><a href='/en/about-the-site-and-us'>About the site and all of us</a></footer>"
    "</body></html>"
)


def _site(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/en/":
        return httpx.Response(200, content=HOME.encode(), headers={"Content-Type": "text/html"})
    return httpx.Response(404)


async def _use_offline_site(app: NewsApp) -> None:
    """Admin URLs are fetched as untrusted; the site is an offline transport, not the network."""
    assert app.bot_data.fetcher is not None
    await app.bot_data.fetcher.aclose()
    app.bot_data.fetcher = Fetcher(transport=httpx.MockTransport(_site))


async def test_source_add_shows_what_it_chose_and_the_first_items_and_confirm_works_after_restart(
    control: EmulatorClient, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(admins=(ADMIN,))
    await control.send_text(ADMIN, ADMIN, "/start")
    async with running(build_application(settings)) as app:
        await control.wait_for_messages(ADMIN, 1, timeout=10)
        await _use_offline_site(app)
        offer = await _ask(control, ADMIN, "/source_add https://news.example/en/", 2)
        assert app.bot_data.fetcher is not None
        await app.bot_data.fetcher.aclose()
    # Nothing is saved before Confirm.
    db = await open_database(settings.bot.db)
    try:
        assert await sources.list_sources(db) == []
    finally:
        await db.close()
    assert "No feed found: newsbot will read the page itself as a list of news." in offer["text"]
    lines = offer["text"].splitlines()
    shown = [line for line in lines if line.startswith("• ")]
    assert shown == [
        "• Story number 0 of a very long day · 26 Jul 2024, 10:00",
        "• Story number 1 of a very long day · 26 Jul 2024, 11:00",
        "• Story number 2 of a very long day · 26 Jul 2024, 12:00",
    ]
    choices = {b["text"]: b["callback_data"] for row in offer["reply_markup"]["inline_keyboard"] for b in row}
    confirm = choices["✅ Confirm"]

    async with running(build_application(settings)):  # a restart between the offer and the press
        stranger = await control.press_button(ADMIN, STRANGER, offer["message_id"], confirm, force=True)
        pressed = await control.press_button(ADMIN, ADMIN, offer["message_id"], confirm)
        for _ in range(500):
            answered = {c["id"]: c for c in await control.callbacks()}
            if answered[pressed]["answered"] and answered[stranger]["answered"]:
                break
            await asyncio.sleep(0.02)
        assert answered[pressed]["answer_text"] == "Added."
        assert not answered[stranger].get("answer_text")
        # A second tap that raced the edit removing the buttons: the source is not added twice.
        again = await control.press_button(ADMIN, ADMIN, offer["message_id"], confirm, force=True)
        for _ in range(500):
            record = {c["id"]: c for c in await control.callbacks()}[again]
            if record["answered"]:
                break
            await asyncio.sleep(0.02)
        assert record["answer_text"] == "This button no longer works."
        for _ in range(500):
            edited = next(m for m in await control.messages(ADMIN) if m["message_id"] == offer["message_id"])
            if edited["edited"]:
                break
            await asyncio.sleep(0.02)
        assert edited["text"].startswith("Added:\nTicker Daily (news-example)")
    db = await open_database(settings.bot.db)
    try:
        [added] = await sources.list_sources(db)
    finally:
        await db.close()
    assert (added.id, added.kind, added.url) == ("news-example", "html", "https://news.example/en/")


async def test_after_a_restart_a_due_source_is_polled_at_once_and_the_others_at_their_own_time(
    feed_server: FeedServer, control: EmulatorClient, make_settings: Callable[..., Settings]
) -> None:
    hourly = [
        SourceSettings(id=name, name=name.title(), url=feed_server.url(f"/{name}.xml"), interval=3600)
        for name in ("overdue", "soon")
    ]
    for source in hourly:
        feed_server.set_rss(f"/{source.id}.xml", [])
    settings = make_settings(*hourly)
    async with running(build_application(settings)):  # never polled: both polled at start-up
        await _wait_for_poll(feed_server, "/overdue.xml", 1)
        await _wait_for_poll(feed_server, "/soon.xml", 1)
    db = await open_database(settings.bot.db)
    try:
        # While the bot was down, one fell due; the other is due in two minutes.
        db_now = await leases.server_time(db)
        await db.write("UPDATE sources SET next_poll_at = ? WHERE id = 'overdue'", (db_now - 10,))
        await db.write("UPDATE sources SET next_poll_at = ? WHERE id = 'soon'", (db_now + 120,))
    finally:
        await db.close()
    async with running(build_application(settings)) as app:
        # Right after the start, not an hour later.
        await _wait_for_poll(feed_server, "/overdue.xml", 2)
        assert app.job_queue is not None
        [soon] = app.job_queue.get_jobs_by_name("source:soon")
        assert soon.next_t is not None
        # At its own time: in two minutes, not an interval (an hour) after the start.
        assert db_now + 100 < soon.next_t.timestamp() < db_now + 140
        assert feed_server.hits["/soon.xml"] == 1
