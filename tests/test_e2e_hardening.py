"""End to end (issue 7): what a new reader, a channel and an attacker meet, against the emulator."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest

from bot.app import NewsApp
from bot.config import CommandSettings, Settings, SourceSettings
from bot.emulator import EmulatorClient
from bot.storage import articles
from tests.conftest import TOKEN, FeedServer
from tests.test_e2e_delivery import command, news, publish, wait_answered, wait_news

READER, OTHER = 5101, 5102
ADMIN = 7101
CHANNEL = -1005001
CHANNEL_ADMIN, STRANGER = 7201, 7202


@pytest.fixture
def source(feed_server: FeedServer) -> SourceSettings:
    feed_server.set_rss("/rss.xml", [])
    return SourceSettings(id="site", name="Test Site", url=feed_server.url("/rss.xml"), interval=3600)


@pytest.fixture
async def app(
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[NewsApp]],
    source: SourceSettings,
) -> NewsApp:
    return await start_bot(make_settings(source, admins=(ADMIN,)))


async def replies(control: EmulatorClient, chat_id: int, count: int) -> list[dict[str, Any]]:
    return await control.wait_for_messages(chat_id, count, timeout=20)


# --- 1. unknown values ----------------------------------------------------------------------------


async def test_subscribe_to_an_unknown_source_is_refused_with_the_valid_choices(
    app: NewsApp, control: EmulatorClient
) -> None:
    answer = await command(control, READER, "/subscribe source nosuch")
    assert "There is no source «nosuch»" in answer["text"]
    assert "Sources: site (Test Site)" in answer["text"]
    near = await command(control, READER, "/subscribe source sitte")
    assert "Did you mean /subscribe source site?" in near["text"]
    assert "Subscribed" in (await command(control, READER, "/subscribe source test site"))["text"]
    db = app.bot_data.db
    assert db is not None
    rows = await db.fetchall("SELECT kind, value FROM subscriptions WHERE chat_id = ?", (READER,))
    assert [tuple(r) for r in rows] == [("source", "site")]


async def test_misspelled_category_is_refused_with_the_closest_suggestion(
    app: NewsApp, control: EmulatorClient
) -> None:
    await publish(app, "Derby", category="Sport")
    await publish(app, "Budget", category="Politics")
    answer = await command(control, READER, "/subscribe category Sprot")
    assert "There is no category «Sprot»" in answer["text"]
    assert "Did you mean /subscribe category Sport?" in answer["text"]
    assert "Categories: Politics, Sport" in answer["text"]
    excluded = await command(control, READER, "/subscribe not category Politcs")
    assert "Did you mean /subscribe category Politics?" in excluded["text"]
    db = app.bot_data.db
    assert db is not None
    assert await db.fetchall("SELECT * FROM subscriptions") == []
    assert (
        "Subscribed: category «Sport»"
        in (await command(control, READER, "/subscribe category sport"))["text"]
    )


async def test_unsubscribe_from_something_never_subscribed_names_what_there_is(
    app: NewsApp, control: EmulatorClient
) -> None:
    await command(control, READER, "/subscribe keyword Baku")
    answer = await command(control, READER, "/unsubscribe keyword Bakou")
    assert "There was no such subscription" in answer["text"]
    assert "Did you mean /unsubscribe keyword Baku?" in answer["text"]
    assert "Subscriptions here: keyword: Baku" in answer["text"]


# --- 2. what readers expect -----------------------------------------------------------------------


async def test_subscribe_not_all_gets_a_clear_answer(app: NewsApp, control: EmulatorClient) -> None:
    answer = await command(control, READER, "/subscribe not all")
    assert "would leave nothing to receive" in answer["text"]
    assert "Stop all news here" in answer["text"] and "Usage" not in answer["text"]


async def test_pushed_item_and_latest_name_the_source_and_a_time_in_the_chats_zone(
    app: NewsApp, control: EmulatorClient
) -> None:
    await command(control, READER, "/timezone Asia/Baku")
    await command(control, READER, "/subscribe all")
    await publish(app, "Parliament votes", category="Politics")
    [item] = await wait_news(control, READER, "Parliament votes")
    meta = item["text"].splitlines()[1]
    # A fresh item says how old it is (an older one the zoned time: test_e2e_messages); /latest
    # gives the time in the chat's zone.
    assert meta == "Test Site · Politics · just now", meta
    latest = await command(control, READER, "/latest 1")
    assert "Test Site" in latest["text"] and "+04" in latest["text"]


async def test_control_characters_in_stored_titles_never_reach_the_reader(
    app: NewsApp, control: EmulatorClient
) -> None:
    await command(control, READER, "/subscribe all")
    await publish(
        app, "Rates\x00 rise\x1b[2J \u202eeert\u202c today", lead="Bell\x07 and\u2066 isolate\u2069"
    )
    [item] = await wait_news(control, READER, "Rates")
    assert item["text"].startswith("Rates rise[2J eert today\n")
    assert "Bell and isolate" in item["text"]
    latest = await command(control, READER, "/latest 1")
    assert "Rates rise[2J eert today" in latest["text"]


# --- 3. channels ----------------------------------------------------------------------------------


async def test_channel_post_by_the_channel_subscribes_it_and_items_arrive_there(
    app: NewsApp, control: EmulatorClient
) -> None:
    await control.add_chat(CHANNEL, "channel", title="News Channel", admins=[CHANNEL_ADMIN])
    await control.send_text(CHANNEL, 0, "/subscribe all", chat_type="channel")
    [reply] = await replies(control, CHANNEL, 1)
    assert "Subscribed: all news" in reply["text"]
    await publish(app, "Channel readers see this")
    [item] = await wait_news(control, CHANNEL, "Channel readers see this")
    assert item["chat_id"] == CHANNEL


async def test_signed_channel_post_is_checked_against_the_channels_administrators(
    app: NewsApp, control: EmulatorClient
) -> None:
    await control.add_chat(CHANNEL, "channel", title="News Channel", admins=[CHANNEL_ADMIN])
    await control.send_text(CHANNEL, STRANGER, "/subscribe all", chat_type="channel", signed=True)
    refused = (await replies(control, CHANNEL, 1))[0]
    assert "Only the channel's administrators" in refused["text"]
    await control.send_text(CHANNEL, CHANNEL_ADMIN, "/subscribe all", chat_type="channel", signed=True)
    accepted = (await replies(control, CHANNEL, 2))[1]
    assert "Subscribed: all news" in accepted["text"]
    checks = [c for c in await control.transcript() if c["method"] == "getChatMember"]
    assert {int(c["params"]["user_id"]) for c in checks} == {STRANGER, CHANNEL_ADMIN}


def _group_post(
    chat: dict[str, Any], sender_chat: dict[str, Any], text: str, message_id: int
) -> dict[str, Any]:
    """A group message sent as a chat: by an anonymous administrator, or as a channel."""
    anonymous_bot = {"id": 1087968824, "is_bot": True, "first_name": "Group", "username": "GroupAnonymousBot"}
    return {
        "message": {
            "message_id": message_id,
            "date": 0,
            "chat": chat,
            "from": anonymous_bot,
            "sender_chat": sender_chat,
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}],
        }
    }


async def test_group_message_sent_as_the_group_counts_as_an_admins_but_as_another_chat_does_not(
    app: NewsApp, control: EmulatorClient
) -> None:
    group = {"id": -1006001, "type": "supergroup", "title": "Readers"}
    other_channel = {"id": -1006002, "type": "channel", "title": "Someone's channel"}
    await control.add_chat(group["id"], "supergroup", title="Readers", admins=[CHANNEL_ADMIN])
    await control.inject_update(_group_post(group, other_channel, "/subscribe all", 9001))
    [refused] = await replies(control, group["id"], 1)
    assert "Only the group's administrators" in refused["text"]
    await control.inject_update(_group_post(group, group, "/subscribe all", 9002))
    accepted = (await replies(control, group["id"], 2))[1]
    assert "Subscribed: all news" in accepted["text"]


# --- 4. hostile input -----------------------------------------------------------------------------

HOSTILE = [
    "",
    "9" * 30,
    "²",
    "٣",
    "-1",
    "\x00",
    "\x1b[2J",
    "\u202egnp.exe",
    "a" * 5000,
    "💥" * 300,
    "<b>&amp;",
    "x y z",
]
# Each script runs in a chat of its own, so Telegram's per-chat pace does not stretch the test.
READER_SCRIPTS = [
    ["/latest"],
    ["/timezone"],
    ["/digest"],
    ["/quiet"],
    ["/subscribe"],
    ["/subscribe keyword", "/mysubs"],  # /mysubs lists what was stored, escaped whatever it holds
    ["/subscribe category"],
    ["/subscribe source"],
    ["/unsubscribe"],
    ["/unsubscribe keyword"],
]
ADMIN_COMMANDS = ["/source_remove", "/source_pause", "/source_resume"]
ADMINS = tuple(range(7300, 7300 + len(HOSTILE)))


def _no_faults(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "handlers.errors" and r.levelno >= logging.ERROR
    ]


async def test_hostile_command_arguments_get_an_answer_and_never_reach_the_admins(
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[NewsApp]],
    source: SourceSettings,
    control: EmulatorClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # This test is about input, not pacing: a paid-broadcast pace lets 160 answers go in a second.
    await control.set_limits(global_per_second=None)
    app = await start_bot(make_settings(source, admins=(*ADMINS, ADMIN), global_per_second=300))
    expected: dict[int, int] = {}
    chat = 6000
    for argument, admin in zip(HOSTILE, ADMINS, strict=True):
        for script in READER_SCRIPTS:
            chat += 1
            for name in script:
                await control.send_text(chat, chat, f"{name} {argument}")
            expected[chat] = len(script)
        for name in ADMIN_COMMANDS:
            await control.send_text(admin, admin, f"{name} {argument}")
        expected[admin] = len(ADMIN_COMMANDS)
    # Refused before any fetch: nothing here may reach the network.
    for argument in ("a" * 5000, "http://\x00.example/", ""):
        await control.send_text(ADMIN, ADMIN, f"/source_add {argument}")
    expected[ADMIN] = 3

    for chat_id, count in expected.items():
        answers = await control.wait_for_messages(chat_id, count, timeout=30)
        assert all(a["text"] for a in answers)
        assert not any("went wrong" in a["text"] or "newsbot error" in a["text"] for a in answers), answers
        if chat_id in (*ADMINS, ADMIN):
            assert all("Usage" in a["text"] or "No source" in a["text"] for a in answers), answers
    await asyncio.sleep(0.5)
    for admin in (*ADMINS, ADMIN):  # exactly the answers: no fault report came on top
        assert len(await control.messages(admin)) == expected[admin]
    assert _no_faults(caplog) == []
    db = app.bot_data.db
    assert db is not None
    assert await db.fetchall("SELECT * FROM subscriptions WHERE kind != 'keyword'") == []


FORGED = [
    "unsub:99999999999999999999",
    "unsub:-1",
    "unsub:0",
    "unsub:²",
    "unsub:",
    "unsub:" + "9" * 58,
    "sub:",
    "sub:category:",
    "sub:category:Nosuch",
    "sub:source:nosuch",
    "sub:all:extra",
    "sub:category:\x00",
    "sub:" + "x" * 100,
    "other:1",
    "nocolon",
]


async def test_forged_callbacks_are_all_answered_and_never_reach_the_admins(
    app: NewsApp, control: EmulatorClient, caplog: pytest.LogCaptureFixture
) -> None:
    await command(control, ADMIN, "/start")
    admin_seen = len(await control.messages(ADMIN))
    menu = await command(control, READER, "/subscribe")
    ids = [await control.press_button(READER, READER, menu["message_id"], d, force=True) for d in FORGED]
    for callback_id in ids:
        answered = await wait_answered(control, callback_id)
        assert answered["answer_text"] == "This button no longer works."
    await asyncio.sleep(0.3)
    assert len(await control.messages(ADMIN)) == admin_seen
    assert _no_faults(caplog) == []
    # The real buttons still work after all that.
    await wait_answered(control, await control.press_button(READER, READER, menu["message_id"], "sub:all"))
    assert "Subscribed" in (await wait_news(control, READER, "New items will arrive"))[0]["text"]


async def test_a_real_fault_reaches_the_admins_once_with_a_count(
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[NewsApp]],
    source: SourceSettings,
    control: EmulatorClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_settings(source, admins=(ADMIN,))
    app = await start_bot(replace(settings, commands=CommandSettings(error_report_window=2.0)))
    await command(control, ADMIN, "/start")
    admin_seen = len(await control.messages(ADMIN))

    async def broken(*args: object, **kwargs: object) -> list[object]:
        raise RuntimeError(f"disk on fire https://api.telegram.org/bot{TOKEN}/x")

    monkeypatch.setattr(articles, "latest", broken)
    for _ in range(4):
        await control.send_text(READER, READER, "/latest")
    answers = await control.wait_for_messages(READER, 4, timeout=20)
    assert all("Something went wrong" in a["text"] for a in answers)
    await asyncio.sleep(2.1)  # past the window
    reports = (await control.messages(ADMIN))[admin_seen:]
    assert len(reports) == 1 and "RuntimeError: disk on fire" in reports[0]["text"], [
        r["text"][:80] for r in reports
    ]
    assert app.job_queue is not None
    [job] = app.job_queue.get_jobs_by_name("error-reports")
    await job.run(app)
    [summary] = (await control.wait_for_messages(ADMIN, admin_seen + 2, timeout=10))[admin_seen + 1 :]
    assert (
        "RuntimeError: disk on fire https://api.telegram.org/bot<redacted>/x — 3 more times"
        in summary["text"]
    )
    assert TOKEN not in reports[0]["text"] and TOKEN not in summary["text"]


# --- 5. one user's flood --------------------------------------------------------------------------


async def test_flooding_user_gets_one_notice_and_another_users_help_is_answered_promptly(
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[NewsApp]],
    source: SourceSettings,
    control: EmulatorClient,
) -> None:
    settings = make_settings(source)
    await start_bot(replace(settings, commands=CommandSettings(per_minute=3)))
    # More commands than PTB runs at once (256): without a budget, /help would queue behind them.
    await asyncio.gather(*(control.send_text(READER, READER, "/help") for _ in range(300)))
    await control.send_text(OTHER, OTHER, "/help")
    [help_reply] = await control.wait_for_messages(OTHER, 1, timeout=10)
    assert "Commands" in help_reply["text"]
    flood = await control.wait_for_messages(READER, 4, timeout=20)
    notices = [m for m in flood if "faster than I can answer" in m["text"]]
    assert len(notices) == 1
    await asyncio.sleep(1.0)
    assert len(await control.messages(READER)) == 4  # three answers and one notice; then silence
    assert not await news(control, READER, "newsbot error")


async def test_a_button_flood_spends_the_same_budget_and_every_press_is_answered(
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[NewsApp]],
    source: SourceSettings,
    control: EmulatorClient,
) -> None:
    settings = make_settings(source)
    await start_bot(replace(settings, commands=CommandSettings(per_minute=3)))
    menu = await command(control, READER, "/subscribe")  # one of the three
    presses = [await control.press_button(READER, READER, menu["message_id"], "sub:all") for _ in range(6)]
    answers = [(await wait_answered(control, p))["answer_text"] for p in presses]
    # Two presses within budget (they may run side by side, so either may be the first).
    assert sorted(answers[:2]) == ["Subscribed: all news.", "You already have this subscription: all news."]
    assert "faster than I can answer" in answers[2]
    assert answers[3:] == [None, None, None]  # answered, silently
