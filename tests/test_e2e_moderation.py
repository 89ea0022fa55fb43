"""End to end: staff roles, bans, the audit log, the review queue, the blocklist and takedowns."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from bot.config import Settings, SourceSettings
from bot.delivery.dispatcher import FLUSH_EVERY
from bot.emulator import EmulatorClient
from bot.storage import open_database
from tests.conftest import FeedItemSpec, FeedServer
from tests.test_e2e_first_push import _subscribed_reader, _wait_for_poll

OWNER = 9001
MODERATOR = 9002
STRANGER = 9003
READER = 5001
REVIEW_CHAT = -100777


async def _said(control: EmulatorClient, chat: int, text: str, *, user: int | None = None) -> str:
    """Send a command and return the bot's next message in that chat."""
    before = len(await control.messages(chat))
    await control.send_text(chat, user or chat, text)
    return str((await control.wait_for_messages(chat, before + 1, timeout=10))[before]["text"])


async def _quiet_for(control: EmulatorClient, chat: int, text: str, *, user: int | None = None) -> None:
    """Send a command and check the bot stays silent (after a later command of the owner is answered)."""
    before = len(await control.messages(chat))
    await control.send_text(chat, user or chat, text)
    await _said(control, OWNER, "/admins")  # handled after the command above: updates are in order
    await asyncio.sleep(0.2)
    assert len(await control.messages(chat)) == before, text


def _story(n: int, feed_server: FeedServer, title: str | None = None) -> FeedItemSpec:
    return FeedItemSpec(
        f"s{n}", title or f"Story number {n}", feed_server.url(f"/news/{n}"), description=f"Lead {n}."
    )


async def _start(
    feed_server: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
    **bot: Any,
) -> Settings:
    source = SourceSettings(id="site", name="Test Site", url=feed_server.url("/rss.xml"), interval=1)
    feed_server.set_rss("/rss.xml", [])
    settings = make_settings(source, admins=(OWNER,))
    settings = replace(
        settings, bot=replace(settings.bot, **bot), ingest=replace(settings.ingest, fetch_articles=False)
    )
    await start_bot(settings)
    for user in (OWNER, MODERATOR, STRANGER):
        await control.send_text(user, user, "/start")
        await control.wait_for_messages(user, 1, timeout=10)
    await _wait_for_poll(feed_server, "/rss.xml", 1)
    return settings


async def test_roles_a_moderator_is_refused_admin_commands_and_the_audit_records_everything(
    feed_server: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    await _start(feed_server, control, make_settings, start_bot)
    assert await _said(control, OWNER, f"/promote {MODERATOR} moderator") == f"{MODERATOR} is now moderator."
    moderator_help = await _said(control, MODERATOR, "/help")
    assert "/takedown" in moderator_help and "/promote" not in moderator_help
    assert "/takedown" not in await _said(control, STRANGER, "/help")
    # A moderator may not make people staff, nor manage sources or channels.
    refusal = await _said(control, MODERATOR, f"/promote {STRANGER} moderator")
    assert refusal == "Only admins and above can do that; you are a moderator."
    assert (await _said(control, MODERATOR, "/source_remove site")).startswith("Only admins")
    assert (await _said(control, MODERATOR, "/channel_add @news")).startswith("Only admins")
    assert "moderator" in await _said(control, OWNER, "/admins")
    assert STRANGER not in {int(w) for w in (await _said(control, OWNER, "/admins")).split() if w.isdigit()}
    # An admin can appoint moderators but not admins; only owners make admins.
    assert await _said(control, OWNER, f"/promote {MODERATOR} admin") == f"{MODERATOR} is now admin."
    assert await _said(control, MODERATOR, f"/promote {STRANGER} admin") == "Only owners can make admins."
    assert (
        await _said(control, MODERATOR, f"/promote {STRANGER} moderator") == f"{STRANGER} is now moderator."
    )
    assert await _said(control, MODERATOR, f"/demote {STRANGER}") == f"{STRANGER} is no longer moderator."
    assert await _said(control, MODERATOR, f"/demote {OWNER}") == "You cannot change that person's role."
    # Roles are read on every call: the demoted admin loses the commands at once.
    assert await _said(control, OWNER, f"/demote {MODERATOR}") == f"{MODERATOR} is no longer admin."
    await _quiet_for(control, MODERATOR, "/admins")

    audit = await _said(control, OWNER, "/audit 10")
    lines = audit.split("\n")[1:]
    # Each line: "<date and time> · <actor> <action> <target>…"; the date's shape follows the language.
    assert [" ".join(line.split(" · ", 1)[1].split(" ")[1:3]) for line in lines] == [
        f"demote {MODERATOR}",
        f"demote {STRANGER}",
        f"promote {STRANGER}",
        f"promote {MODERATOR}",
        f"promote {MODERATOR}",
    ]
    assert await _said(control, OWNER, "/source_pause site") == "Paused site."
    assert (await _said(control, OWNER, "/audit 1")).split("\n")[1].endswith(f"· {OWNER} source pause site")


async def test_non_staff_get_no_effect_and_no_reply_from_any_staff_command(
    feed_server: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    settings = await _start(feed_server, control, make_settings, start_bot)
    for command in (
        "/admins",
        f"/promote {STRANGER} admin",
        f"/demote {OWNER}",
        "/audit",
        f"/ban {OWNER}",
        f"/unban {STRANGER}",
        "/banned",
        "/queue",
        "/approve 1",
        "/reject 1",
        "/blocklist add war",
        "/takedown 1",
        "/channels",
        "/channel_add @news",
        "/channel_remove @news",
        "/stats",
        "/sources",
        "/source_remove site",
    ):
        await control.send_text(STRANGER, STRANGER, command)
    # Every command above was fetched before this one; an answer to any would be there by now.
    await _quiet_for(control, STRANGER, "/admins")
    assert len(await control.messages(STRANGER)) == 1  # the /start welcome only
    db = await open_database(settings.bot.db)
    try:
        assert await db.scalar("SELECT COUNT(*) FROM staff") == 0
        assert await db.scalar("SELECT COUNT(*) FROM bans") == 0
        assert await db.scalar("SELECT COUNT(*) FROM blocklist") == 0
        assert await db.scalar("SELECT COUNT(*) FROM audit") == 0
        assert await db.scalar("SELECT COUNT(*) FROM sources WHERE id = 'site'") == 1
    finally:
        await db.close()


async def test_ban_stops_commands_and_deliveries_and_unban_resumes_them(
    feed_server: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    await _start(feed_server, control, make_settings, start_bot)
    await _subscribed_reader(control, READER)
    assert await _said(control, OWNER, f"/promote {MODERATOR} moderator") == f"{MODERATOR} is now moderator."
    assert (await _said(control, MODERATOR, f"/ban {READER} spam")).startswith(f"Banned {READER}")
    assert f"{READER}" in await _said(control, MODERATOR, "/banned")
    # Staff cannot be banned by a lower or equal rank.
    assert await _said(control, MODERATOR, f"/ban {OWNER}") == "You cannot ban staff of your rank or above."

    feed_server.set_rss("/rss.xml", [_story(1, feed_server)])
    await _wait_for_poll(feed_server, "/rss.xml", feed_server.hits["/rss.xml"] + 3)
    await _quiet_for(control, READER, "/mysubs")
    assert not [m for m in await control.messages(READER) if "Story number 1" in m["text"]]

    assert await _said(control, MODERATOR, f"/unban {READER}") == f"Unbanned {READER}."
    feed_server.set_rss("/rss.xml", [_story(2, feed_server), _story(1, feed_server)])
    before = len(await control.messages(READER))
    await control.wait_for_messages(READER, before + 1, timeout=10)
    news = [m["text"].split("\n")[0] for m in await control.messages(READER) if "Story number" in m["text"]]
    assert news == ["Story number 2"]
    assert "help" in (await _said(control, READER, "/help")).lower()

    audit = await _said(control, OWNER, "/audit 3")
    assert [line.split(" · ", 1)[1].split(" ")[1] for line in audit.split("\n")[1:]] == [
        "unban",
        "ban",
        "promote",
    ]


async def test_broadcast_is_confirmed_then_queued_once_and_cancel_sends_nothing(
    feed_server: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    await _start(feed_server, control, make_settings, start_bot)
    await _subscribed_reader(control, READER)
    await _said(control, OWNER, f"/promote {MODERATOR} moderator")
    assert (await _said(control, MODERATOR, "/broadcast hi")).startswith("Only admins")

    preview = await _said(control, OWNER, "/broadcast Maintenance <tonight> at 22:00")
    assert preview == "Maintenance <tonight> at 22:00"
    message = (await control.messages(OWNER))[-1]
    buttons = [b for row in message["reply_markup"]["inline_keyboard"] for b in row]
    # Owner, moderator, stranger and reader have started the bot: four chats.
    assert [b["text"] for b in buttons] == ["📣 Send to 4 chats", "Cancel"]
    await control.press_button(OWNER, STRANGER, message["message_id"], buttons[0]["callback_data"])
    await control.press_button(OWNER, OWNER, message["message_id"], buttons[0]["callback_data"])
    await control.press_button(OWNER, OWNER, message["message_id"], buttons[0]["callback_data"])
    got = (await control.wait_for_messages(READER, 3, timeout=10))[2]
    assert got["text"] == "Maintenance <tonight> at 22:00"
    await control.wait_for_messages(STRANGER, 2, timeout=10)
    await asyncio.sleep(1)
    assert len(await control.messages(READER)) == 3  # the second press queued nothing
    edited = next(m for m in await control.messages(OWNER) if m["message_id"] == message["message_id"])
    assert edited["text"].endswith("📣 Queued for 4 chats by User 9001.")

    await _said(control, OWNER, "/broadcast Never mind")
    draft = (await control.messages(OWNER))[-1]
    cancel = draft["reply_markup"]["inline_keyboard"][0][1]["callback_data"]
    await control.press_button(OWNER, OWNER, draft["message_id"], cancel)
    await asyncio.sleep(1.5)
    assert not [m for m in await control.messages(READER) if m["text"] == "Never mind"]
    audit = await _said(control, OWNER, "/audit 2")
    assert [line.split(" · ", 1)[1].split(" ")[1] for line in audit.split("\n")[1:]] == [
        "broadcast",
        "broadcast",
    ]


async def test_stats_adds_chats_subscriptions_queues_and_a_chart_photo(
    feed_server: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    await _start(feed_server, control, make_settings, start_bot)
    await _subscribed_reader(control, READER)
    await control.send_text(READER, READER, "/subscribe not keyword football")
    feed_server.set_rss("/rss.xml", [_story(1, feed_server)])
    await control.wait_for_messages(READER, 4, timeout=10)
    # The dispatcher records outcomes in batches, at most FLUSH_EVERY after a send.
    await asyncio.sleep(FLUSH_EVERY * 2)

    before = len(await control.messages(OWNER))
    await control.send_text(OWNER, OWNER, "/stats")
    text, photo = (await control.wait_for_messages(OWNER, before + 2, timeout=20))[before:]
    assert "Chats by kind\nprivate 4" in text["text"]
    assert "Subscriptions by kind\nall 1, not keyword 1" in text["text"]
    assert "Last 24 hours\nsent 1, failed 0" in text["text"]
    assert "Queues\nchannel posts waiting 0, review cards pending 0" in text["text"]
    assert photo["kind"] == "photo" and photo["text"] == "Deliveries per hour, last 24 hours"
    upload = [c for c in await control.transcript() if c["method"] == "sendPhoto"][-1]
    assert upload["status"] == 200


async def test_ban_by_replying_to_a_forwarded_message_names_its_original_sender(
    feed_server: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    await _start(feed_server, control, make_settings, start_bot)
    now = int(time.time())
    owner = {"id": OWNER, "is_bot": False, "first_name": "Owner"}
    culprit = {"id": READER, "is_bot": False, "first_name": "Spammer"}
    chat = {"id": OWNER, "type": "private", "first_name": "Owner"}
    forwarded = {
        "message_id": 900,
        "date": now,
        "chat": chat,
        "from": owner,
        "text": "buy now",
        "forward_origin": {"type": "user", "date": now - 60, "sender_user": culprit},
    }
    before = len(await control.messages(OWNER))
    await control.inject_update(
        {
            "message": {
                "message_id": 901,
                "date": now,
                "chat": chat,
                "from": owner,
                "text": "/ban spam",
                "entities": [{"type": "bot_command", "offset": 0, "length": 4}],
                "reply_to_message": forwarded,
            }
        }
    )
    reply = (await control.wait_for_messages(OWNER, before + 1, timeout=10))[before]["text"]
    assert reply.startswith(f"Banned {READER};")
    banned = await _said(control, OWNER, "/banned")
    assert f"{READER} by {OWNER}" in banned and banned.endswith("— spam")
