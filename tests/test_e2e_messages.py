"""End to end: what a pushed item says, the /settings options and unknown commands, against the emulator."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bot.app import NewsApp
from bot.config import Settings, SourceSettings
from bot.emulator import EmulatorClient
from bot.storage import chats, outbox
from bot.storage.interface import inserted_id
from bot.text import fold
from tests.conftest import FeedServer
from tests.test_e2e_delivery import buttons, command, wait_answered, wait_news

READER = 5101
GROUP = -4101
ADMIN, MEMBER = 7101, 7102
BOT = "newsbot_demo_bot"  # the emulator's bot username
IMAGE = "https://img.news.example/lead.jpg"  # the emulator takes any http(s) address as a photo

_guid = iter(range(1, 1_000_000))


@pytest.fixture
def source(feed_server: FeedServer) -> SourceSettings:
    feed_server.set_rss("/rss.xml", [])  # articles are put in the way ingest does, without polling
    return SourceSettings(
        id="site", name="Test Site", url=feed_server.url("/rss.xml"), interval=3600, category="World"
    )


@pytest.fixture
async def app(
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[NewsApp]],
    source: SourceSettings,
) -> NewsApp:
    return await start_bot(make_settings(source))


async def publish(
    app: NewsApp,
    title: str,
    *,
    category: str | None = None,
    lead: str = "",
    image: str | None = None,
    age: float = 0.0,
) -> None:
    """Store an article published ``age`` seconds ago and fan it out, as ingest does."""
    db = app.bot_data.db
    assert db is not None and app.bot_data.dispatcher is not None
    n = next(_guid)
    now = time.time()
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "INSERT INTO articles (source_id, guid, url, title, category, lead, image_url, published_at,"
            " fetched_at) VALUES ('site', ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (f"g{n}", f"https://news.example/{n}", title, category, lead, image, now - age, now),
        )
        article_id = await inserted_id(cursor)
        assert article_id is not None
        await outbox.fan_out(
            conn,
            article_id=article_id,
            priority=0,
            category=fold(category or "World"),
            source="site",
            text=fold(f"{title}\n{lead}"),
            now=now,
        )
    app.bot_data.dispatcher.wake()


async def subscribed(control: EmulatorClient, chat_id: int = READER, user: int | None = None) -> None:
    await command(control, chat_id, "/start", user=user)
    reply = await command(control, chat_id, "/subscribe all", user=user)
    assert "Subscribed" in reply["text"]


async def settings_menu(
    control: EmulatorClient, chat_id: int = READER, user: int | None = None
) -> dict[str, Any]:
    menu = await command(control, chat_id, "/settings", user=user)
    assert menu["text"].startswith("How news arrives in this chat.")
    return menu


async def press(
    control: EmulatorClient,
    menu: dict[str, Any],
    label_start: str,
    *,
    chat_id: int = READER,
    user: int = READER,
) -> dict[str, Any]:
    """Press the /settings button whose label starts so; return the answered callback."""
    [data] = [d for text, d in buttons(menu).items() if text.startswith(label_start)]
    return await wait_answered(control, await control.press_button(chat_id, user, menu["message_id"], data))


async def current(control: EmulatorClient, chat_id: int, message_id: int) -> dict[str, Any]:
    return next(m for m in await control.messages(chat_id) if m["message_id"] == message_id)


# --- what an item says -----------------------------------------------------------------------------


async def test_item_shows_source_category_and_a_relative_time_when_recent_else_the_zoned_time(
    app: NewsApp, control: EmulatorClient
) -> None:
    await subscribed(control)
    # No category of its own: the source's is shown. 5.5 minutes old: said relatively.
    await publish(app, "Fresh story", lead="Lead.", age=330)
    [fresh] = await wait_news(control, READER, "Fresh story")
    meta = fresh["text"].split("\n")[1]
    assert meta == "Test Site · World · 5 min ago"

    await command(control, READER, "/timezone Asia/Baku")
    await publish(app, "Older story", category="Sport", age=3 * 3600)
    [older] = await wait_news(control, READER, "Older story")
    meta = older["text"].split("\n")[1]
    assert meta.startswith("Test Site · Sport · ")
    assert re.search(r"\d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d \+04$", meta)  # Baku's time, zone named


# --- the options ------------------------------------------------------------------------------------


async def test_defaults_keep_todays_messages_and_silent_sets_disable_notification(
    app: NewsApp, control: EmulatorClient
) -> None:
    await subscribed(control)
    await publish(app, "Loud story", lead="The lead.", image=IMAGE)
    [loud] = await wait_news(control, READER, "Loud story")
    assert loud["method"] == "sendMessage" and not loud["silent"]
    assert loud["link_preview_options"] == {"is_disabled": False}  # a picture to preview
    assert "The lead." in loud["text"]

    menu = await settings_menu(control)
    answered = await press(control, menu, "🔔 Notifications: with sound")
    assert answered["answer_text"] == "Saved."
    redrawn = await current(control, READER, menu["message_id"])
    assert "🔕 Notifications: silent" in buttons(redrawn)

    await publish(app, "Quiet story")
    [quiet] = await wait_news(control, READER, "Quiet story")
    assert quiet["silent"]


async def test_preview_off_disables_the_link_preview(app: NewsApp, control: EmulatorClient) -> None:
    await subscribed(control)
    await press(control, await settings_menu(control), "🌐 Link preview: on")
    await publish(app, "Pictured story", image=IMAGE)
    [item] = await wait_news(control, READER, "Pictured story")
    assert item["link_preview_options"] == {"is_disabled": True}


async def test_short_form_leaves_the_lead_out(app: NewsApp, control: EmulatorClient) -> None:
    await subscribed(control)
    await press(control, await settings_menu(control), "📰 Form: long")
    await publish(app, "Short story", lead="A lead nobody sees.", age=3600)
    [item] = await wait_news(control, READER, "Short story")
    assert "A lead nobody sees." not in item["text"]
    assert item["text"].split("\n")[1].startswith("Test Site · World · ")  # title, source, time stay


async def test_photo_option_sends_a_captioned_photo_and_falls_back_to_text_once_when_refused(
    app: NewsApp, control: EmulatorClient
) -> None:
    await subscribed(control)
    await press(control, await settings_menu(control), "🖼 With photo: off")
    title = "Photo story " + "word " * 55  # a long title: with the lead it cannot all fit a caption
    await publish(app, title, lead="Long & lead. " * 100, image=IMAGE)
    [photo] = await wait_news(control, READER, "Photo story")
    assert photo["kind"] == "photo" and photo["method"] == "sendPhoto"
    assert len(photo["text"]) <= 1024
    assert "Long &amp; lead." in photo["html"]  # the lead, shortened to fit, escaped
    assert photo["reply_markup"]["inline_keyboard"]  # the reading buttons come along

    since = (await control.transcript())[-1]["seq"]
    await control.set_fault("photo_url", READER, count=1)  # Telegram cannot download this picture
    await publish(app, "Refused picture", lead="Still here.", image=IMAGE)
    [text] = await wait_news(control, READER, "Refused picture")
    assert text["kind"] == "text" and "Still here." in text["text"]
    calls = [
        (c["method"], c["status"]) for c in await control.transcript(since) if c["method"].startswith("send")
    ]
    assert calls == [("sendPhoto", 400), ("sendMessage", 200)]

    await publish(app, "No picture at all")  # nothing to show: text, as before
    [plain] = await wait_news(control, READER, "No picture at all")
    assert plain["kind"] == "text"
    assert len(await wait_news(control, READER, "Refused picture")) == 1  # no double


async def test_only_group_admins_change_settings_and_buttons_survive_a_restart(
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[NewsApp]],
    source: SourceSettings,
    control: EmulatorClient,
) -> None:
    settings = make_settings(source)
    first = await start_bot(settings)
    await control.add_chat(GROUP, "group", title="Readers", admins=[ADMIN])
    refused = await command(control, GROUP, "/settings", user=MEMBER)
    assert refused["text"] == "Only the group's administrators can change its settings."
    menu = await settings_menu(control, GROUP, user=ADMIN)

    answered = await press(control, menu, "🔔", chat_id=GROUP, user=MEMBER)
    assert answered["show_alert"] and answered["answer_text"] == refused["text"]
    db = first.bot_data.db
    assert db is not None
    chat = await chats.get_chat(db, chat_id=GROUP)
    assert chat is not None and not chat.options.silent

    await first.updater.stop()  # type: ignore[union-attr]
    await first.stop()
    second = await start_bot(settings)
    answered = await press(control, menu, "🔔", chat_id=GROUP, user=ADMIN)
    assert answered["answer_text"] == "Saved."
    db = second.bot_data.db
    assert db is not None
    chat = await chats.get_chat(db, chat_id=GROUP)
    assert chat is not None and chat.options.silent


# --- unknown commands -------------------------------------------------------------------------------


async def test_unknown_command_points_to_help_in_private(app: NewsApp, control: EmulatorClient) -> None:
    reply = await command(control, READER, "/frobnicate now")
    assert reply["text"] == "I don't know that command. /help lists what I can do."


async def test_unknown_command_in_a_group_is_answered_only_when_addressed_to_this_bot(
    app: NewsApp, control: EmulatorClient
) -> None:
    await control.add_chat(GROUP, "group", title="Readers", admins=[ADMIN])
    # A group's updates are handled in order: the reply to the last one comes after any other.
    await control.send_text(GROUP, MEMBER, "/frobnicate")
    await control.send_text(GROUP, MEMBER, "/frobnicate@OtherBot")
    reply = await command(control, GROUP, f"/frobnicate@{BOT}", user=MEMBER)
    assert reply["text"] == "I don't know that command. /help lists what I can do."
    assert len(await control.messages(GROUP)) == 1
    # A real command addressed to this bot is still that command.
    helped = await command(control, GROUP, f"/help@{BOT}", user=MEMBER)
    assert "/settings" in helped["text"]
