"""End to end: the real application, the emulator, and a local news site."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bot.config import Settings, SourceSettings
from bot.emulator import EmulatorClient
from tests.conftest import FeedItemSpec, FeedServer

READER = 5001


async def _subscribed_reader(control: EmulatorClient, chat_id: int = READER) -> None:
    await control.send_text(chat_id, chat_id, "/start", first_name="Reader")
    await control.send_text(chat_id, chat_id, "/subscribe all")
    await control.wait_for_messages(chat_id, 2, timeout=10)


async def _wait_for_poll(feed_server: FeedServer, path: str, polls: int, timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while feed_server.hits.get(path, 0) < polls:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{path} was polled {feed_server.hits.get(path, 0)} times")
        await asyncio.sleep(0.05)


def _item(n: int, feed_server: FeedServer, **kwargs: Any) -> FeedItemSpec:
    return FeedItemSpec(
        guid=f"item-{n}", title=f"Story number {n}", link=feed_server.url(f"/news/{n}"), **kwargs
    )


@pytest.fixture
def source(feed_server: FeedServer) -> SourceSettings:
    return SourceSettings(id="site", name="Test Site", url=feed_server.url("/rss.xml"), interval=1)


async def test_new_item_reaches_subscriber_once_and_backlog_is_not_pushed(
    feed_server: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
    source: SourceSettings,
) -> None:
    feed_server.set_rss("/rss.xml", [_item(1, feed_server), _item(2, feed_server)])
    await start_bot(make_settings(source))
    await _subscribed_reader(control)
    await _wait_for_poll(feed_server, "/rss.xml", 2)

    feed_server.set_rss("/rss.xml", [_item(3, feed_server), _item(1, feed_server), _item(2, feed_server)])
    messages = await control.wait_for_messages(READER, 3, timeout=10)
    await _wait_for_poll(feed_server, "/rss.xml", feed_server.hits["/rss.xml"] + 2)  # later polls add nothing

    news = [m for m in await control.messages(READER) if "Story number" in m["text"]]
    assert [m["text"].split("\n")[0] for m in news] == ["Story number 3"]
    assert f'href="{feed_server.url("/news/3")}"' in news[0]["html"]
    assert len(messages) == 3


async def test_blocked_reader_is_deactivated_and_gets_nothing_more(
    feed_server: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
    source: SourceSettings,
) -> None:
    other = READER + 1
    feed_server.set_rss("/rss.xml", [_item(1, feed_server)])
    await start_bot(make_settings(source, admins=(other,)))
    await _subscribed_reader(control)
    await _subscribed_reader(control, other)
    await _wait_for_poll(feed_server, "/rss.xml", 2)
    await control.set_fault("blocked", READER)

    feed_server.set_rss("/rss.xml", [_item(2, feed_server), _item(1, feed_server)])
    await control.wait_for_messages(other, 3, timeout=10)
    feed_server.set_rss("/rss.xml", [_item(3, feed_server), _item(2, feed_server), _item(1, feed_server)])
    await control.wait_for_messages(other, 4, timeout=10)

    attempts = [
        c
        for c in await control.transcript()
        if c["method"] == "sendMessage" and c["params"]["chat_id"] == READER
    ]
    refused = [c for c in attempts if c["status"] == 403]
    assert len(refused) == 1, "after one 403 the bot must stop sending to the chat"
    assert len(attempts) == 3  # /start reply, /subscribe reply, the one refused item

    await control.send_text(other, other, "/stats")
    stats = (await control.wait_for_messages(other, 5, timeout=10))[-1]["text"]
    assert "blocked or left: 1" in stats


async def test_flood_wait_is_honoured_and_message_arrives_once(
    feed_server: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
    source: SourceSettings,
) -> None:
    feed_server.set_rss("/rss.xml", [_item(1, feed_server)])
    await start_bot(make_settings(source))
    await _subscribed_reader(control)
    await _wait_for_poll(feed_server, "/rss.xml", 2)
    await control.set_fault("flood", READER, count=1, retry_after=2)

    feed_server.set_rss("/rss.xml", [_item(2, feed_server), _item(1, feed_server)])
    messages = await control.wait_for_messages(READER, 3, timeout=15)
    await asyncio.sleep(1.5)

    calls = [
        c
        for c in await control.transcript()
        if c["method"] == "sendMessage" and "Story" in c["params"]["text"]
    ]
    assert [c["status"] for c in calls] == [429, 200]
    assert calls[1]["t"] - calls[0]["t"] >= 1.9, "the retry came before retry_after passed"
    assert sum("Story number 2" in m["text"] for m in await control.messages(READER)) == 1
    assert len(messages) == 3


async def test_markup_in_feed_title_arrives_escaped(
    feed_server: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
    source: SourceSettings,
) -> None:
    feed_server.set_rss("/rss.xml", [_item(1, feed_server)])
    await start_bot(make_settings(source))
    await _subscribed_reader(control)
    await _wait_for_poll(feed_server, "/rss.xml", 2)

    hostile = FeedItemSpec(
        guid="x",
        title='Tom & Jerry say "hi" <script>alert(1)</script> & <b>bold</b>',
        link=feed_server.url("/news/x?a=1&b=2"),
        description="Fish & chips <i>cost</i> 5 > 3",
    )
    feed_server.set_rss("/rss.xml", [hostile, _item(1, feed_server)])
    message = (await control.wait_for_messages(READER, 3, timeout=10))[-1]

    assert message["text"].startswith('Tom & Jerry say "hi"')
    assert "<script>" not in message["html"]
    assert "Fish & chips" in message["text"]
    rejected = [c for c in await control.transcript() if c["status"] == 400]
    assert rejected == []


async def test_paid_broadcast_is_asked_for_only_when_the_operator_turns_it_on(
    feed_server: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
    source: SourceSettings,
) -> None:
    feed_server.set_rss("/rss.xml", [_item(1, feed_server)])
    await start_bot(make_settings(source, paid_broadcast=True))
    await _subscribed_reader(control)
    await _wait_for_poll(feed_server, "/rss.xml", 2)
    feed_server.set_rss("/rss.xml", [_item(2, feed_server), _item(1, feed_server)])
    await control.wait_for_messages(READER, 3, timeout=10)

    sends = [c for c in await control.transcript() if c["method"].lower() == "sendmessage"]
    news = [c for c in sends if "Story number 2" in c["params"]["text"]]
    replies = [c for c in sends if "Story number" not in c["params"]["text"]]
    assert [str(c["params"].get("allow_paid_broadcast")).lower() for c in news] == ["true"]  # form-encoded
    assert all("allow_paid_broadcast" not in c["params"] for c in replies)
