"""End-to-end tests of the Bot API emulator through a real PTB Bot on loopback."""

import os

# PTB warns (and warnings are errors here) unless retry_after is a timedelta.
os.environ.setdefault("PTB_TIMEDELTA", "1")

import asyncio
import datetime as dtm
import sys
from collections.abc import AsyncIterator

import httpx
import pytest
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    ChatMemberAdministrator,
    ChatMemberMember,
    ChatMemberOwner,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    MessageEntity,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Conflict, Forbidden, NetworkError, RetryAfter
from telegram.ext import Application, CommandHandler, ContextTypes

from bot.emulator import Emulator, EmulatorClient, RunningEmulator
from bot.emulator.client import ControlAPIError
from bot.emulator.entities import parse_html

TOKEN = "123456:TEST-token"
READER = 1001
GROUP = -4242


@pytest.fixture
async def running() -> AsyncIterator[RunningEmulator]:
    async with RunningEmulator(Emulator()) as server:
        yield server


@pytest.fixture
async def client(running: RunningEmulator) -> AsyncIterator[EmulatorClient]:
    async with EmulatorClient(running.control_url) as control:
        await control.add_chat(READER, "private", first_name="Ann")
        await control.add_chat(GROUP, "group", title="Readers", admins=[READER, 1002])
        yield control


@pytest.fixture
async def bot(running: RunningEmulator, client: EmulatorClient) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=running.base_url) as tg_bot:
        yield tg_bot


async def test_get_me_reports_token_id_and_username(bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == 123456
    assert me.is_bot
    assert me.username == "newsbot_demo_bot"


async def test_html_entities_use_utf16_offsets(bot: Bot, client: EmulatorClient) -> None:
    html = '😀 <b>Bold</b> &amp; <a href="https://example.org/x?a=1&amp;b=2">link</a> <i>it</i>'
    message = await bot.send_message(READER, html, parse_mode=ParseMode.HTML)
    assert message.text == "😀 Bold & link it"
    kinds = {(e.type, e.offset, e.length) for e in message.entities}
    # The emoji is two UTF-16 code units, so "Bold" starts at 3, not 2.
    assert kinds == {
        (MessageEntity.BOLD, 3, 4),
        (MessageEntity.TEXT_LINK, 10, 4),
        (MessageEntity.ITALIC, 15, 2),
    }
    link = next(e for e in message.entities if e.type == MessageEntity.TEXT_LINK)
    assert link.url == "https://example.org/x?a=1&b=2"
    stored = await client.messages(READER)
    assert stored[0]["text"] == "😀 Bold & link it"
    assert stored[0]["html"] == html
    assert stored[0]["message_id"] == message.message_id


async def test_pre_with_language_and_expandable_blockquote() -> None:
    text, entities = parse_html(
        '<pre><code class="language-python">x = 1</code></pre><blockquote expandable>q</blockquote>'
    )
    assert text == "x = 1q"
    assert entities == [
        {"type": "pre", "offset": 0, "length": 5, "language": "python"},
        {"type": "expandable_blockquote", "offset": 5, "length": 1},
    ]
    # Inline code keeps no language, and entities inside code are dropped as Telegram does.
    assert parse_html('<code class="language-sh"><b>ls</b></code>') == (
        "ls",
        [{"type": "code", "offset": 0, "length": 2}],
    )


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("<script>alert(1)</script>", 'Unsupported start tag "script" at byte offset 0'),
        ("<b>never closed", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>crossed</i>", "Unmatched end tag at byte offset 10"),
        ("stray</b>", "Unexpected end tag at byte offset 5"),
        ("Q&A", "Unsupported HTML entity"),
        ("&nbsp;", "Unsupported HTML entity"),
        ("1 < 2", 'Unsupported start tag ""'),
        ("<br>line", 'Unsupported start tag "br"'),
        ('<span class="x">s</span>', 'Tag "span" must have class "tg-spoiler"'),
        ("<blockquote><blockquote>x</blockquote></blockquote>", "can't be nested"),
    ],
)
async def test_bad_html_is_refused(bot: Bot, client: EmulatorClient, html: str, reason: str) -> None:
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities") as caught:
        await bot.send_message(READER, html, parse_mode=ParseMode.HTML)
    assert reason.lower() in caught.value.message.lower()
    # PTB re-cases the text, so check the exact wire description in the transcript.
    (call,) = [e for e in await client.transcript() if e["method"] == "sendMessage"]
    assert call["status"] == 400
    assert call["description"].startswith("Bad Request: can't parse entities: ")
    assert reason in call["description"]
    assert await client.messages(READER) == []


async def test_byte_offsets_count_utf8_bytes(bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)Unsupported start tag \"p\" at byte offset 3"):
        await bot.send_message(READER, "é <p>", parse_mode=ParseMode.HTML)


async def test_length_limit_counts_text_after_parsing(bot: Bot, client: EmulatorClient) -> None:
    await client.set_limits(chat_per_second=None)
    ok = await bot.send_message(READER, "<b>" + "a" * 4096 + "</b>", parse_mode=ParseMode.HTML)
    assert ok.text is not None and len(ok.text) == 4096
    assert ok.entities[0].length == 4096
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(READER, "<b>" + "a" * 4097 + "</b>", parse_mode=ParseMode.HTML)
    # Astral characters count twice: 2049 emoji are 4098 UTF-16 code units.
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(READER, "😀" * 2049)


async def test_empty_text_and_unknown_chat(bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(READER, "<b> </b>", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(777, "hi")


async def test_callback_data_is_limited_to_64_bytes(bot: Bot, client: EmulatorClient) -> None:
    await client.set_limits(chat_per_second=None)
    fits = InlineKeyboardMarkup([[InlineKeyboardButton("ok", callback_data="x" * 64)]])
    await bot.send_message(READER, "fits", reply_markup=fits)
    # 33 "é" are 66 bytes in UTF-8 although only 33 characters.
    for data in ("x" * 65, "é" * 33):
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("no", callback_data=data)]])
        with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
            await bot.send_message(READER, "too long", reply_markup=markup)
    wide = InlineKeyboardMarkup([[InlineKeyboardButton(str(i), callback_data=str(i)) for i in range(9)]])
    with pytest.raises(BadRequest, match=r"(?i)reply markup is too long"):
        await bot.send_message(READER, "nine in a row", reply_markup=wide)
    assert len(await client.messages(READER)) == 1


async def test_private_chat_takes_a_short_burst_then_answers_429(bot: Bot, client: EmulatorClient) -> None:
    for n in range(5):  # Telegram tolerates a short burst in a private chat
        await bot.send_message(READER, f"quick {n}")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(READER, "one too many")
    assert caught.value.retry_after == dtm.timedelta(seconds=1)  # then one a second
    stats = await client.stats()
    assert stats["429"] == 1
    assert stats["429_by_scope"] == {"chat": 1}
    assert stats["sent"] == 5
    # The refused message was not delivered.
    assert [m["text"] for m in await client.messages(READER)] == [f"quick {n}" for n in range(5)]


async def test_private_chat_without_burst_takes_one_a_second(bot: Bot, client: EmulatorClient) -> None:
    await client.set_limits(chat_burst=1)
    await bot.send_message(READER, "first")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(READER, "second")
    assert caught.value.retry_after == dtm.timedelta(seconds=1)


async def test_group_limit_is_per_minute(bot: Bot, client: EmulatorClient) -> None:
    await client.set_limits(group_per_minute=3, global_per_second=None)
    for i in range(3):
        await bot.send_message(GROUP, f"news {i}")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(GROUP, "one too many")
    retry_after = caught.value.retry_after
    assert isinstance(retry_after, dtm.timedelta)
    assert dtm.timedelta(seconds=59) <= retry_after <= dtm.timedelta(seconds=60)
    stats = await client.stats()
    assert stats["429_by_scope"] == {"group": 1}
    # Another chat is not affected by the group's window.
    await bot.send_message(READER, "private still fine")


async def test_global_limit_spans_chats(bot: Bot, client: EmulatorClient) -> None:
    await client.set_limits(global_per_second=4, chat_per_second=None)
    for chat_id in range(2001, 2005):
        await client.add_chat(chat_id)
        await bot.send_message(chat_id, "hi")
    await client.add_chat(2005)
    with pytest.raises(RetryAfter):
        await bot.send_message(2005, "hi")
    assert (await client.stats())["429_by_scope"] == {"global": 1}


async def test_blocked_user_is_forbidden_until_unblocked(bot: Bot, client: EmulatorClient) -> None:
    await client.chat_member_update(READER, READER, "member", "kicked")
    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        await bot.send_message(READER, "hello?")
    await client.chat_member_update(READER, READER, "kicked", "member")
    await bot.send_message(READER, "welcome back")
    updates = await bot.get_updates(timeout=0)
    changes = [u.my_chat_member for u in updates if u.my_chat_member is not None]
    statuses = [(c.old_chat_member.status, c.new_chat_member.status) for c in changes]
    assert statuses == [("member", "kicked"), ("kicked", "member")]
    assert (await client.stats())["errors"] == {"403": 1}


async def test_chat_faults(bot: Bot, client: EmulatorClient) -> None:
    await client.set_fault("deactivated", READER)
    with pytest.raises(Forbidden, match=r"(?i)user is deactivated"):
        await bot.send_message(READER, "x")
    await client.set_fault("kicked", GROUP)
    with pytest.raises(Forbidden, match=r"(?i)kicked from the group chat"):
        await bot.send_message(GROUP, "x")
    await client.clear_faults()
    await bot.send_message(GROUP, "back")


async def test_group_migration_raises_chat_migrated(bot: Bot, client: EmulatorClient) -> None:
    await client.set_fault("migrate", GROUP, new_chat_id=-1001234567890)
    with pytest.raises(ChatMigrated) as caught:
        await bot.send_message(GROUP, "hello group")
    assert caught.value.new_chat_id == -1001234567890
    moved = await bot.send_message(-1001234567890, "hello supergroup")
    assert moved.chat.type == "supergroup"


async def test_server_error_fault_is_a_network_error(bot: Bot, client: EmulatorClient) -> None:
    await client.set_fault("server_error", count=1, status=502)
    with pytest.raises(NetworkError) as caught:
        await bot.send_message(READER, "lost?")
    assert not isinstance(caught.value, BadRequest)
    assert "Bad Gateway" in caught.value.message
    await bot.send_message(READER, "retried")
    assert [m["text"] for m in await client.messages(READER)] == ["retried"]


async def test_flood_fault_forces_retry_after(bot: Bot, client: EmulatorClient) -> None:
    await client.set_fault("flood", count=1, retry_after=7)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(READER, "x")
    assert caught.value.retry_after == dtm.timedelta(seconds=7)
    await bot.send_message(READER, "y")
    assert (await client.stats())["429_by_scope"] == {"flood": 1}


async def test_delay_fault_still_delivers(bot: Bot, client: EmulatorClient) -> None:
    await client.set_fault("delay", delay=0.3, count=1)
    started = asyncio.get_running_loop().time()
    await bot.send_message(READER, "slow")
    assert asyncio.get_running_loop().time() - started >= 0.3


async def test_long_poll_returns_injected_command(bot: Bot, client: EmulatorClient) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    assert not poll.done()
    update_id = await client.send_text(READER, READER, "/start@newsbot_demo_bot hello")
    updates = await asyncio.wait_for(poll, 2)
    assert [u.update_id for u in updates] == [update_id]
    message = updates[0].message
    assert message is not None
    assert message.from_user is not None and message.from_user.id == READER
    assert message.entities[0].type == MessageEntity.BOT_COMMAND
    assert message.entities[0].length == len("/start@newsbot_demo_bot")
    assert message.parse_entity(message.entities[0]) == "/start@newsbot_demo_bot"
    # An offset past the update confirms it.
    assert await bot.get_updates(offset=update_id + 1, timeout=0) == ()


async def test_channel_posts_come_as_the_channel_or_signed_by_their_author(
    bot: Bot, client: EmulatorClient
) -> None:
    channel = -1007001
    await client.add_chat(channel, "channel", title="Channel", admins=[4242])
    await client.send_text(channel, 0, "/subscribe all", chat_type="channel")
    await client.send_text(
        channel, 4242, "/subscribe all", chat_type="channel", first_name="Ann", signed=True
    )
    anonymous, signed = [u.channel_post for u in await bot.get_updates(timeout=0)]
    assert anonymous is not None and signed is not None
    assert anonymous.sender_chat is not None and anonymous.sender_chat.id == channel
    assert anonymous.from_user is None and anonymous.author_signature is None
    assert anonymous.entities[0].type == MessageEntity.BOT_COMMAND
    assert signed.sender_chat is not None and signed.sender_chat.id == channel
    assert signed.from_user is not None and signed.from_user.id == 4242
    assert signed.author_signature == "Ann"


async def test_application_runs_a_command_handler(running: RunningEmulator, client: EmulatorClient) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        await context.bot.send_message(
            update.effective_chat.id, f"<b>Hi</b> {context.args}", parse_mode="HTML"
        )

    app = Application.builder().token(TOKEN).base_url(running.base_url).build()
    app.add_handler(CommandHandler("start", start))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        await client.send_text(READER, READER, "/start news")
        delivered = await client.wait_for_messages(READER, 1, timeout=3)
        await app.updater.stop()
        await app.stop()
    assert delivered[0]["text"] == "Hi ['news']"
    assert delivered[0]["entities"] == [{"type": "bold", "offset": 0, "length": 2}]


async def test_callback_query_roundtrip(bot: Bot, client: EmulatorClient) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("More", callback_data="more:42")]])
    sent = await bot.send_message(READER, "Story", reply_markup=markup)
    query_id = await client.press_button(READER, READER, sent.message_id, "more:42")
    (update,) = await bot.get_updates(timeout=1)
    query = update.callback_query
    assert query is not None and query.id == query_id
    assert query.data == "more:42"
    assert query.message is not None and query.message.message_id == sent.message_id
    assert query.chat_instance
    assert (await client.stats())["callbacks_unanswered"] == 1
    assert await bot.answer_callback_query(query_id, text="Loading")
    assert (await client.stats())["callbacks_unanswered"] == 0
    assert (await client.callbacks())[0]["answer_text"] == "Loading"
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(query_id)


async def test_edit_and_delete_update_the_stored_message(bot: Bot, client: EmulatorClient) -> None:
    await client.set_limits(chat_per_second=None)
    sent = await bot.send_message(READER, "<b>v1</b>", parse_mode="html")
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("<b>v1</b>", READER, sent.message_id, parse_mode="HTML")
    edited = await bot.edit_message_text("<i>v2</i>", READER, sent.message_id, parse_mode="HTML")
    assert isinstance(edited, object) and getattr(edited, "text", None) == "v2"
    stored = (await client.messages(READER))[0]
    assert (stored["text"], stored["html"], stored["edited"]) == ("v2", "<i>v2</i>", 1)
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", READER, 999)
    assert await bot.delete_message(READER, sent.message_id)
    assert (await client.messages(READER))[0]["deleted"] is True
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(READER, sent.message_id)


async def test_forum_topics(bot: Bot, client: EmulatorClient) -> None:
    forum = -1009990001
    await client.add_chat(forum, "supergroup", title="Forum", is_forum=True)
    with pytest.raises(BadRequest, match=r"(?i)message thread not found"):
        await bot.send_message(forum, "x", message_thread_id=5)
    await client.add_topic(forum, 5, "Sport")
    sent = await bot.send_message(forum, "goal", message_thread_id=5)
    assert sent.message_thread_id == 5
    assert sent.is_topic_message
    assert (await client.messages(forum))[0]["message_thread_id"] == 5


async def test_chat_members_parse_in_ptb(bot: Bot) -> None:
    assert isinstance(await bot.get_chat_member(GROUP, READER), ChatMemberOwner)
    assert isinstance(await bot.get_chat_member(GROUP, 1002), ChatMemberAdministrator)
    assert isinstance(await bot.get_chat_member(GROUP, 5555), ChatMemberMember)
    assert isinstance(await bot.get_chat_member(GROUP, bot.id), ChatMemberAdministrator)
    assert isinstance(await bot.get_chat_member(READER, READER), ChatMemberMember)
    admins = await bot.get_chat_administrators(GROUP)
    assert {a.user.id for a in admins} == {READER, 1002, bot.id}
    chat = await bot.get_chat(GROUP)
    assert chat.title == "Readers"


async def test_send_photo_upload_and_caption_limit(bot: Bot, client: EmulatorClient) -> None:
    await client.set_limits(chat_per_second=None)
    sent = await bot.send_photo(READER, b"\x89PNG fake bytes", caption="<b>Pic</b>", parse_mode="HTML")
    assert sent.caption == "Pic"
    assert sent.photo and sent.caption_entities[0].type == MessageEntity.BOLD
    again = await bot.send_photo(READER, sent.photo[-1].file_id)
    assert again.photo[-1].file_id == sent.photo[-1].file_id
    with pytest.raises(BadRequest, match=r"(?i)message caption is too long"):
        await bot.send_photo(READER, "https://example.org/p.jpg", caption="c" * 1025)
    with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
        await bot.send_photo(READER, "not-a-file-id")
    uploads = [e for e in await client.transcript() if e["method"] == "sendPhoto"]
    assert uploads[0]["params"]["photo"]["size"] == len(b"\x89PNG fake bytes")


async def test_wire_errors_unknown_method_and_bad_token(running: RunningEmulator) -> None:
    async with httpx.AsyncClient() as http:
        unknown = await http.post(f"{running.base_url}{TOKEN}/sendTelepathy")
        assert unknown.status_code == 404
        assert unknown.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        bad = await http.post(f"{running.base_url}not-a-token/getMe")
        assert bad.status_code == 401
        assert bad.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
        shouting = await http.get(f"{running.base_url}{TOKEN}/GETME")
        assert shouting.json()["result"]["id"] == 123456
        missing = await http.post(f"{running.base_url}{TOKEN}/sendMessage", json={"text": "x"})
        assert missing.status_code == 400
        assert missing.json()["description"] == "Bad Request: chat_id is empty"


async def test_transcript_records_decoded_params(bot: Bot, client: EmulatorClient) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Go", url="https://example.org")]])
    await bot.send_message(READER, "x", reply_markup=markup)
    calls = await client.transcript()
    send = next(e for e in calls if e["method"] == "sendMessage")
    assert send["params"]["chat_id"] == READER
    assert send["params"]["reply_markup"] == {
        "inline_keyboard": [[{"text": "Go", "url": "https://example.org"}]]
    }
    assert send["ok"] and send["status"] == 200
    later = await client.transcript(since=send["seq"])
    assert all(e["seq"] > send["seq"] for e in later)


async def test_newer_long_poll_ends_the_older_with_conflict(
    running: RunningEmulator, bot: Bot, client: EmulatorClient
) -> None:
    older = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    # A second bot process polling with the same token, as after a restart.
    async with Bot(TOKEN, base_url=running.base_url) as second:
        newer = asyncio.create_task(second.get_updates(timeout=5))
        with pytest.raises(Conflict, match=r"(?i)terminated by other getUpdates request"):
            await asyncio.wait_for(older, 2)
        await client.send_text(READER, READER, "hello")
        updates = await asyncio.wait_for(newer, 2)
    assert [u.message.text for u in updates if u.message] == ["hello"]


async def test_removed_from_group_answers_forbidden(bot: Bot, client: EmulatorClient) -> None:
    await client.chat_member_update(GROUP, READER, "administrator", "kicked")
    with pytest.raises(Forbidden, match=r"(?i)bot was kicked from the group chat"):
        await bot.send_message(GROUP, "anyone?")
    (update,) = await bot.get_updates(timeout=0)
    assert update.my_chat_member is not None
    assert update.my_chat_member.new_chat_member.status == "kicked"
    assert update.my_chat_member.chat.id == GROUP


async def test_control_api_refuses_a_button_the_message_lacks(bot: Bot, client: EmulatorClient) -> None:
    sent = await bot.send_message(READER, "no buttons here")
    with pytest.raises(ControlAPIError, match="no button"):
        await client.press_button(READER, READER, sent.message_id, "forged:1")
    # Forging on purpose (to test the bot's own checks) is allowed.
    assert await client.press_button(READER, READER, sent.message_id, "forged:1", force=True)


async def test_module_entry_point_serves_in_its_own_process() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.emulator",
        "--port",
        "0",
        "--no-limits",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 10)).decode()
        assert line.startswith("emulator listening on http://127.0.0.1:")
        control_url = line.strip().rsplit(" ", 1)[1] + "/control"
        async with EmulatorClient(control_url) as control:
            assert await control.health()
            assert (await control.stats())["limits"]["chat_per_second"] is None
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 10) == 0


async def test_notification_and_preview_options_are_recorded_and_bad_preview_json_refused(
    bot: Bot, client: EmulatorClient
) -> None:
    await bot.send_message(READER, "quiet", disable_notification=True)
    await bot.send_message(READER, "loud", link_preview_options=LinkPreviewOptions(is_disabled=True))
    await bot.send_photo(READER, "https://example.org/p.jpg", caption="pic", disable_notification=True)
    quiet, loud, pic = await client.messages(READER)
    assert quiet["silent"] and quiet["link_preview_options"] is None
    assert not loud["silent"] and loud["link_preview_options"] == {"is_disabled": True}
    assert pic["silent"] and pic["kind"] == "photo"
    with pytest.raises(BadRequest, match=r"(?i)can't parse link preview options"):
        await bot.do_api_request(
            "sendmessage", api_kwargs={"chat_id": READER, "text": "x", "link_preview_options": "[1]"}
        )


async def test_photo_url_fault_refuses_a_photo_address_and_nothing_else(
    bot: Bot, client: EmulatorClient
) -> None:
    await client.set_fault("photo_url", READER, count=1)
    await bot.send_message(READER, "text is unaffected")
    with pytest.raises(BadRequest, match=r"(?i)failed to get http url content"):
        await bot.send_photo(READER, "https://example.org/gone.jpg")
    await bot.send_photo(READER, "https://example.org/p.jpg")  # the fault was for one photo
    assert [m["kind"] for m in await client.messages(READER)] == ["text", "photo"]


async def test_command_menus_are_kept_per_scope_and_language_like_telegram(bot: Bot) -> None:
    await bot.set_my_commands([BotCommand("start", "Start")])
    await bot.set_my_commands([BotCommand("start", "Начать")], language_code="ru")
    await bot.set_my_commands([BotCommand("stats", "Stats")], scope=BotCommandScopeChat(READER))
    assert [c.description for c in await bot.get_my_commands()] == ["Start"]
    assert [c.description for c in await bot.get_my_commands(language_code="ru")] == ["Начать"]
    assert [c.command for c in await bot.get_my_commands(scope=BotCommandScopeChat(READER))] == ["stats"]
    # A scope is its type and the fields Telegram reads; no language is its own list, not a fallback.
    assert await bot.get_my_commands(scope=BotCommandScopeChat(READER), language_code="ru") == ()
    assert [c.command for c in await bot.get_my_commands(scope=BotCommandScopeDefault())] == ["start"]
    with pytest.raises(BadRequest, match="language code"):
        await bot.set_my_commands([BotCommand("start", "Start")], language_code="russian")
    await bot.delete_my_commands(scope=BotCommandScopeChat(READER))
    assert await bot.get_my_commands(scope=BotCommandScopeChat(READER)) == ()
