"""End to end: what a feed's text looks like when it reaches a reader through Telegram."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot.config import Settings, SourceSettings
from bot.emulator import EmulatorClient
from tests.conftest import FeedItemSpec, FeedServer
from tests.test_e2e_first_push import READER, _subscribed_reader, _wait_for_poll


async def test_plain_text_title_with_markup_characters_reaches_the_reader_exactly(
    feed_server: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    source = SourceSettings(id="site", name="Site", url=feed_server.url("/rss.xml"), interval=1)
    feed_server.set_rss("/rss.xml", [])
    await start_bot(make_settings(source))
    await _subscribed_reader(control)
    await _wait_for_poll(feed_server, "/rss.xml", 2)

    # set_rss escapes the titles, as a feed carrying them as plain text does.
    tricky = '<script>alert(1)</script> & "Q" <b>bold'
    words = "Regulator reviews <electricity> tariffs"
    link = feed_server.url("/news/1/?b=2&a=1#top")
    feed_server.set_rss(
        "/rss.xml",
        [FeedItemSpec("1", tricky, link), FeedItemSpec("2", words, feed_server.url("/news/2"))],
    )
    messages = await control.wait_for_messages(READER, 4, timeout=10)

    texts = [m["text"] for m in messages[2:]]
    assert any(tricky in text for text in texts), texts
    assert any(words in text for text in texts), texts
    # The link the publisher wrote, trailing slash, query order and fragment included.
    assert any(link in str(m) for m in messages[2:]), messages[2:]
