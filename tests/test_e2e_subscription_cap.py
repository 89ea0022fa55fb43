"""End to end: a chat's subscriptions are capped, and the refusal names the cap."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.app import NewsApp
from bot.config import Settings, SourceSettings
from bot.emulator import EmulatorClient
from bot.storage import subscriptions
from tests.conftest import FeedServer

READER = 5101


async def test_subscribing_past_the_cap_is_refused_naming_the_cap(
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[NewsApp]],
    control: EmulatorClient,
    feed_server: FeedServer,
) -> None:
    feed_server.set_rss("/rss.xml", [])
    source = SourceSettings(id="site", name="Site", url=feed_server.url("/rss.xml"), interval=3600)
    app = await start_bot(make_settings(source, max_subscriptions=3))
    replies = []
    for n, word in enumerate(("baku", "derby", "tariffs", "weather")):
        await control.send_text(READER, READER, f"/subscribe keyword {word}", None, first_name="Reader")
        replies.append((await control.wait_for_messages(READER, n + 1, timeout=10))[n]["text"])
    assert all(r.startswith("Subscribed") for r in replies[:3])
    assert "3 subscriptions" in replies[3] and "most a chat may have" in replies[3]
    assert app.bot_data.db is not None
    kept = await subscriptions.list_for_chat(app.bot_data.db, chat_id=READER)
    assert sorted(s.value for s in kept) == ["baku", "derby", "tariffs"]
