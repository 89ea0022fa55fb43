"""A source that was failing before a restart: the admins are not told again, only of recovery."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from bot.app import build_application, running
from bot.config import Settings, SourceSettings
from bot.emulator import EmulatorClient
from tests.conftest import FeedItemSpec, FeedServer
from tests.test_e2e_first_push import _wait_for_poll

ADMIN = 9101


async def test_failure_is_not_announced_twice_across_a_restart(
    feed_server: FeedServer, control: EmulatorClient, make_settings: Callable[..., Settings]
) -> None:
    source = SourceSettings(id="site", name="Test Site", url=feed_server.url("/rss.xml"), interval=1)
    settings = make_settings(source, admins=(ADMIN,))
    settings = replace(settings, ingest=replace(settings.ingest, max_backoff=1.0))
    feed_server.set("/rss.xml", "down", status=503)
    await control.send_text(ADMIN, ADMIN, "/start")

    async with running(build_application(settings)):
        await control.wait_for_messages(ADMIN, 2, timeout=10)  # the welcome, then the failure
        await _wait_for_poll(feed_server, "/rss.xml", 2)
    async with running(build_application(settings)):
        await _wait_for_poll(feed_server, "/rss.xml", feed_server.hits["/rss.xml"] + 2)
        feed_server.set_rss("/rss.xml", [FeedItemSpec("1", "Back", feed_server.url("/news/1"))])
        await control.wait_for_messages(ADMIN, 3, timeout=10)
        await _wait_for_poll(feed_server, "/rss.xml", feed_server.hits["/rss.xml"] + 1)

    # The source is polled at start-up, so its failure may come before the welcome.
    texts = [m["text"] for m in await control.messages(ADMIN) if not m["text"].startswith("Welcome")]
    assert [t.split(":")[0] for t in texts] == [
        "⚠️ Source Test Site (site) is failing",
        "✅ Source Test Site (site) has recovered.",
    ]
