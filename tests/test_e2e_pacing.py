"""End to end: pacing that earns no 429, prompt replies in order, a poll's items oldest first."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from bot.app import NewsApp
from bot.config import Settings, SourceSettings
from bot.emulator import EmulatorClient
from tests.conftest import FeedItemSpec, FeedServer
from tests.test_e2e_delivery import command, publish, wait_news
from tests.test_e2e_first_push import _wait_for_poll

READER = 5001
GROUP = -4001
ADMIN = 7001
ZONES = ["Europe/Istanbul", "Asia/Tokyo", "America/Lima", "Africa/Cairo", "Europe/Oslo"]


@pytest.fixture
def source(feed_server: FeedServer) -> SourceSettings:
    feed_server.set_rss("/rss.xml", [])
    return SourceSettings(id="site", name="Test Site", url=feed_server.url("/rss.xml"), interval=1)


@pytest.fixture
async def app(
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[NewsApp]],
    source: SourceSettings,
) -> NewsApp:
    return await start_bot(make_settings(source))


async def test_several_items_for_one_reader_and_one_group_arrive_in_order_without_a_429(
    app: NewsApp, control: EmulatorClient
) -> None:
    await control.add_chat(GROUP, "group", title="Readers", admins=[ADMIN])
    await command(control, READER, "/start")
    await command(control, READER, "/subscribe all")
    await command(control, GROUP, "/subscribe all", user=ADMIN)

    titles = [f"Bulletin {n}" for n in range(1, 4)]
    for title in titles:  # three items at once, as one poll brings them
        await publish(app, title)
    for chat in (READER, GROUP):
        received = await wait_news(control, chat, "Bulletin", 3)
        assert [m["text"].split("\n")[0] for m in received] == titles

    stats = await control.stats()
    assert stats["429"] == 0, stats["429_by_scope"]
    sends = [c for c in await control.transcript() if c["params"].get("chat_id") == READER and c["ok"]]
    gaps = [b["t"] - a["t"] for a, b in itertools.pairwise(sends[-3:])]
    assert min(gaps) >= 1.0  # a reader's broadcasts keep Telegram's 1/s


@pytest.mark.parametrize(("chat", "user"), [(READER, READER), (GROUP, ADMIN)], ids=["private", "group"])
async def test_five_quick_commands_are_answered_promptly_and_in_order(
    app: NewsApp, control: EmulatorClient, chat: int, user: int
) -> None:
    if chat == GROUP:
        await control.add_chat(GROUP, "group", title="Readers", admins=[ADMIN])
    await command(control, chat, "/start", user=user)
    before = len(await control.messages(chat))

    asked = time.time()
    for zone in ZONES:
        await control.send_text(chat, user, f"/timezone {zone}", first_name="Reader")
        await asyncio.sleep(0.1)
    replies = (await control.wait_for_messages(chat, before + len(ZONES), timeout=10))[before:]

    assert [next(z for z in ZONES if z in r["text"]) for r in replies] == ZONES
    # Paced at one message a second (or 3 s in a group) the last would come after 4 s or 12 s.
    assert replies[-1]["t"] - asked < 2.5
    assert (await control.stats())["429"] == 0


async def test_a_polls_new_items_reach_the_reader_oldest_first(
    app: NewsApp, control: EmulatorClient, feed_server: FeedServer
) -> None:
    await command(control, READER, "/start")
    await command(control, READER, "/subscribe all")
    await _wait_for_poll(feed_server, "/rss.xml", 2)  # the first poll (of an empty feed) seeded it

    now = datetime.now(UTC)
    feed_server.set_rss(
        "/rss.xml",
        [  # newest on top, as feeds list them
            FeedItemSpec(guid=f"g{n}", title=f"Story {n}", link=feed_server.url(f"/n/{n}"), published=when)
            for n, when in ((3, now), (2, now - timedelta(minutes=1)), (1, now - timedelta(minutes=2)))
        ],
    )
    received = await wait_news(control, READER, "Story", 3)
    assert [m["text"].split("\n")[0] for m in received] == ["Story 1", "Story 2", "Story 3"]
    assert (await control.stats())["429"] == 0


async def test_a_readers_reply_never_waits_behind_another_readers_replies(
    app: NewsApp, control: EmulatorClient
) -> None:
    busy, other = READER, READER + 1
    await command(control, busy, "/start")
    await command(control, other, "/start")
    before = len(await control.messages(busy))
    for n in range(10):  # more than a private chat's burst: these go out at 1/s
        await control.send_text(busy, busy, f"/timezone {ZONES[n % len(ZONES)]}", first_name="Busy")
    reply = await command(control, other, "/timezone Asia/Tokyo")

    assert "Asia/Tokyo" in reply["text"]
    busy_replies = (await control.wait_for_messages(busy, before + 10, timeout=15))[before:]
    assert reply["t"] < busy_replies[-1]["t"] - 2.0, "the other reader waited for the busy one"
    assert (await control.stats())["429"] == 0
