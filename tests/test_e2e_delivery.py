"""End to end: subscription buttons, groups, topics and the delivery rules, against the emulator."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import bot.supervisor
from bot.app import NewsApp
from bot.config import Settings, SourceSettings
from bot.emulator import EmulatorClient
from bot.storage import chats, outbox
from bot.storage.interface import Connection, inserted_id
from bot.text import fold
from tests.conftest import FeedServer, stop_abruptly

# The reader-facing pipeline on both back ends: a bot on PostgreSQL behaves as one on a file.
pytestmark = pytest.mark.parametrize("bot_database", ["sqlite", "postgresql"], indirect=True)

READER = 5001
GROUP = -4001
ADMIN, MEMBER = 7001, 7002
FORUM = -1009001
SPORT_TOPIC, POLITICS_TOPIC = 11, 12

_guid = iter(range(1, 1_000_000))


@pytest.fixture
def source(feed_server: FeedServer) -> SourceSettings:
    # The feed stays empty: these tests put articles in the way ingest does, without polling.
    feed_server.set_rss("/rss.xml", [])
    return SourceSettings(id="site", name="Test Site", url=feed_server.url("/rss.xml"), interval=3600)


@pytest.fixture
async def app(
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[NewsApp]],
    source: SourceSettings,
) -> NewsApp:
    return await start_bot(make_settings(source))


async def publish(app: NewsApp, title: str, *, category: str = "", lead: str = "") -> int:
    """Store an article and fan it out in one transaction, as ingest does; wake the dispatcher."""
    db = app.bot_data.db
    assert db is not None and app.bot_data.dispatcher is not None
    n = next(_guid)
    now = time.time()
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "INSERT INTO articles (source_id, guid, url, title, category, lead, published_at, fetched_at)"
            " VALUES ('site', ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (f"g{n}", f"https://news.example/{n}", title, category or None, lead, now, now),
        )
        article_id = await inserted_id(cursor)
        assert article_id is not None
        await outbox.fan_out(
            conn,
            article_id=article_id,
            priority=0,
            category=fold(category),
            source="site",
            text=fold(f"{title}\n{lead}"),
            now=now,
        )
    app.bot_data.dispatcher.wake()
    return article_id


def buttons(message: dict[str, Any]) -> dict[str, str]:
    """Button text -> callback data of a bot message."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return {b["text"]: b["callback_data"] for row in rows for b in row}


async def command(
    control: EmulatorClient, chat_id: int, text: str, *, user: int | None = None, thread: int | None = None
) -> dict[str, Any]:
    """Send a command and return the bot's reply (the next bot message in that chat)."""
    before = len(await control.messages(chat_id))
    await control.send_text(chat_id, user or chat_id, text, thread, first_name="Reader")
    return (await control.wait_for_messages(chat_id, before + 1, timeout=10))[before]


async def wait_answered(control: EmulatorClient, callback_id: str) -> dict[str, Any]:
    for _ in range(500):
        record = next(c for c in await control.callbacks() if c["id"] == callback_id)
        if record["answered"]:
            return record
        await asyncio.sleep(0.02)
    raise TimeoutError(f"callback {callback_id} was never answered")


async def wait_edited(control: EmulatorClient, chat_id: int, message_id: int) -> dict[str, Any]:
    for _ in range(500):
        message = next(m for m in await control.messages(chat_id) if m["message_id"] == message_id)
        if message["edited"]:
            return message
        await asyncio.sleep(0.02)
    raise TimeoutError(f"message {message_id} was never edited")


async def news(control: EmulatorClient, chat_id: int, word: str) -> list[dict[str, Any]]:
    return [m for m in await control.messages(chat_id) if word in (m["text"] or "")]


async def wait_news(control: EmulatorClient, chat_id: int, word: str, count: int = 1) -> list[dict[str, Any]]:
    for _ in range(750):
        found = await news(control, chat_id, word)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.02)
    raise TimeoutError(f"chat {chat_id}: {word!r} arrived {len(found)} times, wanted {count}")


async def test_an_audience_larger_than_a_slice_gets_the_story_once_each(
    app: NewsApp, control: EmulatorClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Queued two chats at a time: the first two with the story, the rest by the fan-out job.
    monkeypatch.setattr(outbox, "FAN_OUT_SLICE", 2)
    readers = [READER + n for n in range(7)]
    for reader in readers:
        await command(control, reader, "/start")
        await command(control, reader, "/subscribe all")
    await publish(app, "Storm warning")
    for reader in readers:
        assert len(await wait_news(control, reader, "Storm warning")) == 1
    await asyncio.sleep(1.5)  # a second run of the job finds nothing more to queue
    assert [len(await news(control, reader, "Storm warning")) for reader in readers] == [1] * 7
    db = app.bot_data.db
    assert db is not None
    assert await db.scalar("SELECT COUNT(*) FROM fanouts") == 0


async def test_a_fan_out_that_keeps_failing_does_not_hold_back_the_stories_after_it(
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[NewsApp]],
    source: SourceSettings,
    control: EmulatorClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(outbox, "FAN_OUT_SLICE", 2)
    monkeypatch.setattr(bot.supervisor, "FIRST_DELAY", 0.3)
    await control.add_chat(ADMIN, "private", first_name="Admin")
    app = await start_bot(make_settings(source, admins=(ADMIN,)))
    readers = [READER + n for n in range(5)]
    for reader in readers:
        await command(control, reader, "/start")
        await command(control, reader, "/subscribe all")
    broken: set[int] = set()
    hold_article = outbox.hold_article

    async def failing_for_one(conn: Connection, article_id: int) -> bool:
        if article_id in broken:
            raise sqlite3.IntegrityError("CHECK constraint failed: a bad row")
        return await hold_article(conn, article_id)

    monkeypatch.setattr(outbox, "hold_article", failing_for_one)
    # The older story is the more urgent one: each slice after its first fails.
    broken.add(await publish(app, "Storm warning"))
    await publish(app, "Calm seas")
    for reader in readers:
        assert len(await wait_news(control, reader, "Calm seas")) == 1
    assert sum([len(await news(control, reader, "Storm warning")) for reader in readers]) == 2
    [told] = await control.wait_for_messages(ADMIN, 1, timeout=10)
    assert "fan-out is failing" in told["text"] and "a bad row" in told["text"]

    broken.clear()  # fixed: the story's rest goes out after its back-off, and admins hear so
    for reader in readers:
        assert len(await wait_news(control, reader, "Storm warning")) == 1
    told_again = await control.wait_for_messages(ADMIN, 2, timeout=10)
    assert "fan-out has recovered" in told_again[1]["text"]


# --- subscriptions UX -------------------------------------------------------------------------------


async def test_subscribe_without_arguments_offers_buttons_and_everything_subscribes(
    app: NewsApp, control: EmulatorClient
) -> None:
    await publish(app, "Derby tonight", category="Sport")  # nobody subscribed yet: a known category
    await command(control, READER, "/start")
    menu = await command(control, READER, "/subscribe")

    choices = buttons(menu)
    assert choices["Everything"] == "sub:all"
    assert "sub:category:Sport" in choices.values()
    assert "sub:source:site" in choices.values()
    assert all(len(data.encode()) <= 64 for data in choices.values())

    callback_id = await control.press_button(READER, READER, menu["message_id"], "sub:all")
    answered = await wait_answered(control, callback_id)
    assert "all news" in answered["answer_text"]

    await publish(app, "Parliament votes")
    [item] = await wait_news(control, READER, "Parliament votes")
    assert item["chat_id"] == READER


async def test_category_button_subscribes_to_that_category_only(
    app: NewsApp, control: EmulatorClient
) -> None:
    await publish(app, "Old derby", category="Sport")
    await command(control, READER, "/start")
    menu = await command(control, READER, "/subscribe")
    await wait_answered(
        control, await control.press_button(READER, READER, menu["message_id"], "sub:category:Sport")
    )

    await publish(app, "Budget passes", category="Politics")
    await publish(app, "Cup final", category="sport")  # categories match case-insensitively
    await wait_news(control, READER, "Cup final")
    assert await news(control, READER, "Budget passes") == []


async def test_mysubs_lists_subscriptions_and_a_button_removes_one(
    app: NewsApp, control: EmulatorClient
) -> None:
    await command(control, READER, "/start")
    await command(control, READER, "/subscribe all")
    await command(control, READER, "/subscribe keyword Baku")
    listing = await command(control, READER, "/mysubs")
    assert "everything" in listing["text"] and "keyword: Baku" in listing["text"]

    remove_all = next(data for text, data in buttons(listing).items() if "everything" in text)
    answered = await wait_answered(
        control, await control.press_button(READER, READER, listing["message_id"], remove_all)
    )
    assert "Removed" in answered["answer_text"]
    edited = await wait_edited(control, READER, listing["message_id"])
    assert "everything" not in edited["text"] and "keyword: Baku" in edited["text"]

    await publish(app, "Weather is fine")
    await publish(app, "Festival opens in Baku")
    await wait_news(control, READER, "Festival opens in Baku")
    assert await news(control, READER, "Weather is fine") == []


async def test_button_press_after_restart_still_works(
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[NewsApp]],
    source: SourceSettings,
    control: EmulatorClient,
) -> None:
    settings = make_settings(source)
    first = await start_bot(settings)
    await command(control, READER, "/start")
    menu = await command(control, READER, "/subscribe")
    await stop_abruptly(first)

    second = await start_bot(settings)
    await wait_answered(control, await control.press_button(READER, READER, menu["message_id"], "sub:all"))
    await publish(second, "After the restart")
    await wait_news(control, READER, "After the restart")


async def test_only_group_admins_change_subscriptions_by_command_or_button(
    app: NewsApp, control: EmulatorClient
) -> None:
    await control.add_chat(GROUP, "group", title="Readers", admins=[ADMIN])
    refused = await command(control, GROUP, "/subscribe all", user=MEMBER)
    assert "Only the group's administrators" in refused["text"]

    menu = await command(control, GROUP, "/subscribe", user=ADMIN)
    answered = await wait_answered(
        control, await control.press_button(GROUP, MEMBER, menu["message_id"], "sub:all")
    )
    assert "Only the group's administrators" in answered["answer_text"] and answered["show_alert"]
    await publish(app, "Nobody asked for this")
    await asyncio.sleep(0.5)
    assert await news(control, GROUP, "Nobody asked") == []

    await wait_answered(control, await control.press_button(GROUP, ADMIN, menu["message_id"], "sub:all"))
    await publish(app, "The admin asked for this")
    await wait_news(control, GROUP, "The admin asked")


async def test_subscription_made_in_a_topic_delivers_into_that_topic(
    app: NewsApp, control: EmulatorClient
) -> None:
    await control.add_chat(FORUM, "supergroup", title="Forum", is_forum=True, admins=[ADMIN])
    await control.add_topic(FORUM, SPORT_TOPIC, "Sport")
    await control.add_topic(FORUM, POLITICS_TOPIC, "Politics")
    await publish(app, "Seed", category="Sport")  # categories a reader names must exist
    await publish(app, "Seed", category="Politics")
    await command(control, FORUM, "/subscribe category Sport", user=ADMIN, thread=SPORT_TOPIC)
    menu = await command(control, FORUM, "/subscribe", user=ADMIN, thread=POLITICS_TOPIC)
    assert menu["message_thread_id"] == POLITICS_TOPIC
    await wait_answered(
        control, await control.press_button(FORUM, ADMIN, menu["message_id"], "sub:category:Politics")
    )

    await publish(app, "Derby result", category="Sport")
    await publish(app, "Election called", category="Politics")
    [derby] = await wait_news(control, FORUM, "Derby result")
    [election] = await wait_news(control, FORUM, "Election called")
    assert derby["message_thread_id"] == SPORT_TOPIC
    assert election["message_thread_id"] == POLITICS_TOPIC


# --- delivery rules -------------------------------------------------------------------------------


async def test_group_that_became_a_supergroup_gets_the_item_there(
    app: NewsApp, control: EmulatorClient
) -> None:
    supergroup = -1004001
    await control.add_chat(GROUP, "group", title="Readers", admins=[ADMIN])
    await command(control, GROUP, "/subscribe all", user=ADMIN)
    await control.set_fault("migrate", GROUP, new_chat_id=supergroup)

    await publish(app, "Moved along")
    [item] = await wait_news(control, supergroup, "Moved along")
    assert item["chat_id"] == supergroup

    db = app.bot_data.db
    assert db is not None
    subs = await db.fetchall("SELECT chat_id FROM subscriptions")
    assert [r["chat_id"] for r in subs] == [supergroup]
    for _ in range(100):  # outcomes are written in batches a few milliseconds apart
        rows = await db.fetchall("SELECT chat_id, state FROM outbox")
        if rows[0]["state"] == "sent":
            break
        await asyncio.sleep(0.02)
    assert [(r["chat_id"], r["state"]) for r in rows] == [(supergroup, "sent")]
    await publish(app, "Second item")
    await wait_news(control, supergroup, "Second item")


async def test_a_group_move_the_database_refused_once_is_made_on_the_next_try(
    app: NewsApp, control: EmulatorClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    supergroup = -1004002
    await control.add_chat(GROUP, "group", title="Readers", admins=[ADMIN])
    await command(control, GROUP, "/subscribe all", user=ADMIN)
    await control.set_fault("migrate", GROUP, new_chat_id=supergroup)
    migrate_chat = chats.migrate_chat
    tries = []

    async def locked_once(*args: Any, **kwargs: Any) -> None:
        tries.append(kwargs["new_id"])
        if len(tries) == 1:
            raise sqlite3.OperationalError("database is locked")
        await migrate_chat(*args, **kwargs)

    monkeypatch.setattr(chats, "migrate_chat", locked_once)
    await publish(app, "Moved after all")
    [item] = await wait_news(control, supergroup, "Moved after all")
    assert item["chat_id"] == supergroup and tries == [supergroup, supergroup]


async def test_server_errors_are_retried_and_the_item_arrives_once(
    app: NewsApp, control: EmulatorClient
) -> None:
    await command(control, READER, "/start")
    await command(control, READER, "/subscribe all")
    await control.set_fault("server_error", READER, count=2, status=502)

    await publish(app, "Eventually delivered")
    await wait_news(control, READER, "Eventually delivered")
    await asyncio.sleep(1.0)

    calls = [
        c["status"]
        for c in await control.transcript()
        if c["method"] == "sendMessage" and "Eventually" in c["params"]["text"]
    ]
    assert calls == [502, 502, 200]
    assert len(await news(control, READER, "Eventually delivered")) == 1


async def test_a_message_telegram_refuses_is_recorded_failed_and_not_retried(
    app: NewsApp, control: EmulatorClient
) -> None:
    await control.add_chat(FORUM, "supergroup", title="Forum", is_forum=True, admins=[ADMIN])
    await command(control, FORUM, "/subscribe all", user=ADMIN, thread=SPORT_TOPIC)  # creates the topic
    db = app.bot_data.db
    assert db is not None
    # A subscription for a topic that no longer exists: Telegram answers 400 for these messages.
    await db.write(
        "INSERT INTO subscriptions (chat_id, thread_id, kind, value, label, exclude, created_at)"
        " VALUES (?, 999, 'all', '', '', 0, 0)",
        (FORUM,),
    )

    await publish(app, "Half lands")
    await wait_news(control, FORUM, "Half lands")
    await asyncio.sleep(6)  # past the dispatcher's nudge: a retry would have happened by now

    refused = [c for c in await control.transcript() if c["method"] == "sendMessage" and c["status"] == 400]
    assert len(refused) == 1
    rows = await db.fetchall("SELECT thread_id, state, last_error FROM outbox ORDER BY thread_id")
    assert [(r["thread_id"], r["state"]) for r in rows] == [(SPORT_TOPIC, "sent"), (999, "failed")]
    assert "thread not found" in rows[1]["last_error"]
    chat = await db.fetchone("SELECT status FROM chats WHERE id = ?", (FORUM,))
    assert chat is not None and chat["status"] == "active"


# --- settings ---------------------------------------------------------------------------------


async def test_settings_commands_store_settings_and_answer_bad_arguments_with_usage(
    app: NewsApp, control: EmulatorClient
) -> None:
    await command(control, READER, "/start")
    assert "Usage:" in (await command(control, READER, "/digest 25:00"))["text"]
    assert "Usage:" in (await command(control, READER, "/quiet 22:00"))["text"]
    assert "Usage:" in (await command(control, READER, "/timezone Mars/Olympus"))["text"]
    assert "Usage:" in (await command(control, READER, "/digest"))["text"]

    assert "Europe/Istanbul" in (await command(control, READER, "/timezone europe/istanbul"))["text"]
    assert "08:30 (Europe/Istanbul)" in (await command(control, READER, "/digest 8:30"))["text"]
    assert "22:00-07:00" in (await command(control, READER, "/quiet 22:00-07:00"))["text"]
    db = app.bot_data.db
    assert db is not None
    row = await db.fetchone(
        "SELECT timezone, digest_time, quiet_start, quiet_end FROM chats WHERE id = ?", (READER,)
    )
    assert row is not None and tuple(row) == ("Europe/Istanbul", "08:30", "22:00", "07:00")

    await command(control, READER, "/digest off")
    await command(control, READER, "/quiet off")
    row = await db.fetchone("SELECT digest_time, quiet_start FROM chats WHERE id = ?", (READER,))
    assert row is not None and tuple(row) == (None, None)


async def test_group_members_cannot_change_settings(app: NewsApp, control: EmulatorClient) -> None:
    await control.add_chat(GROUP, "group", title="Readers", admins=[ADMIN])
    refused = await command(control, GROUP, "/digest 08:00", user=MEMBER)
    assert "Only the group's administrators" in refused["text"]
    accepted = await command(control, GROUP, "/digest 08:00", user=ADMIN)
    assert "08:00" in accepted["text"]


async def test_unsubscribe_without_arguments_offers_each_subscription_and_stopping_all(
    app: NewsApp, control: EmulatorClient
) -> None:
    await publish(app, "Seed", category="Sport")
    await command(control, READER, "/start")
    await command(control, READER, "/subscribe category Sport")
    await command(control, READER, "/subscribe keyword Baku")
    offer = await command(control, READER, "/unsubscribe")
    assert "category: Sport" in offer["text"] and "keyword: Baku" in offer["text"]

    stop_all = buttons(offer)["✖ Stop all news here"]
    await wait_answered(control, await control.press_button(READER, READER, offer["message_id"], stop_all))
    edited = await wait_edited(control, READER, offer["message_id"])
    assert edited["text"].startswith("No subscriptions here.")

    await publish(app, "Derby in Baku", category="Sport")
    await asyncio.sleep(1.5)
    assert await news(control, READER, "Derby in Baku") == []
