"""End to end: a chat's language from /start and /language, pushes in it, plurals, command menus."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bot.app import build_application, running
from bot.config import Settings, SourceSettings
from bot.emulator import Emulator, EmulatorClient
from bot.emulator.api import commands_key
from tests.conftest import FeedItemSpec, FeedServer
from tests.test_e2e_first_push import _wait_for_poll

READER = 8101
OWNER = 8100
HELPER = 8102

WELCOME = {
    "en": "Welcome!",
    "ru": "Добро пожаловать!",
    "az": "Xoş gəlmisiniz!",
    "tr": "Hoş geldiniz!",
}


def _buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]


async def _reply(control: EmulatorClient, chat_id: int, text: str, **kwargs: Any) -> dict[str, Any]:
    """Send a command and return the bot's next message in that chat."""
    before = len(await control.messages(chat_id))
    await control.send_text(chat_id, chat_id, text, **kwargs)
    return (await control.wait_for_messages(chat_id, before + 1, timeout=10))[before]


async def _edited(control: EmulatorClient, chat_id: int, message_id: int, contains: str) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        for message in await control.messages(chat_id):
            if message["message_id"] == message_id and contains in message["text"]:
                return message
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"message {message_id} never said {contains!r}")
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("language", ["ru", "az", "tr"])
async def test_start_answers_in_the_readers_telegram_language(
    language: str,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    await start_bot(make_settings())
    welcome = await _reply(control, READER, "/start", language_code=language)
    assert welcome["text"].startswith(WELCOME[language])
    # The chat keeps it: a later command is answered in it too, whatever the client says then.
    usage = await _reply(control, READER, "/summary", language_code="en")
    expected = {"ru": "Использование:", "az": "İstifadə:", "tr": "Kullanım:"}[language]
    assert usage["text"] == f"{expected} /summary ID|URL"


async def test_a_language_we_do_not_speak_gets_the_bot_default(
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    await start_bot(make_settings())
    assert (await _reply(control, READER, "/start", language_code="de"))["text"].startswith("Welcome!")
    # pt-br style codes fall back to their base language; az-latn is ours.
    other = READER + 1
    assert (await _reply(control, other, "/start", language_code="az-latn"))["text"].startswith(WELCOME["az"])


async def test_language_buttons_switch_the_chat_and_later_pushes_follow(
    feed_server: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    def item(n: int) -> FeedItemSpec:
        return FeedItemSpec(guid=f"g{n}", title=f"Story number {n}", link=feed_server.url(f"/news/{n}"))

    feed_server.set_rss("/rss.xml", [item(1)])
    source = SourceSettings(id="site", name="Test Site", url=feed_server.url("/rss.xml"), interval=1)
    await start_bot(make_settings(source))
    await _reply(control, READER, "/start", language_code="en")
    await _reply(control, READER, "/subscribe all")
    await _wait_for_poll(feed_server, "/rss.xml", 2)

    menu = await _reply(control, READER, "/language")
    assert "Now: English" in menu["text"]
    labels = [b["text"] for b in _buttons(menu)]
    assert labels == ["✓ English", "Русский", "Azərbaycanca", "Türkçe"]
    turkish = next(b["callback_data"] for b in _buttons(menu) if b["text"] == "Türkçe")
    await control.press_button(READER, READER, menu["message_id"], turkish)
    redrawn = await _edited(control, READER, menu["message_id"], "Şu anda: Türkçe")
    assert "✓ Türkçe" in [b["text"] for b in _buttons(redrawn)]
    assert all(c["answered"] for c in await control.callbacks())

    feed_server.set_rss("/rss.xml", [item(2), item(1)])
    deadline = asyncio.get_running_loop().time() + 10
    while not (pushed := [m for m in await control.messages(READER) if "Story number 2" in m["text"]]):
        assert asyncio.get_running_loop().time() < deadline, "the push never came"
        await asyncio.sleep(0.05)
    buttons = [b["text"] for b in _buttons(pushed[0])]
    assert buttons == ["📝 Özet", "🧭 İlgili", "↗ Aç"]

    # The old keyboard still works (the codec names the language, nothing kept in memory): back to Russian.
    russian = next(b["callback_data"] for b in _buttons(menu) if b["text"] == "Русский")
    await control.press_button(READER, READER, menu["message_id"], russian)
    await _edited(control, READER, menu["message_id"], "Сейчас: Русский")
    assert (await _reply(control, READER, "/latest"))["text"].startswith("Последние новости")


async def test_in_a_group_only_its_administrators_choose_the_language(
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    group = -100777
    await start_bot(make_settings())
    await control.add_chat(group, "supergroup", title="Club", admins=[OWNER])
    before = len(await control.messages(group))
    await control.send_text(group, READER, "/language", language_code="ru")
    [refusal] = (await control.wait_for_messages(group, before + 1, timeout=10))[before:]
    assert refusal["text"] == "Only the group's administrators can change its language."
    await control.send_text(group, OWNER, "/language")
    menu = (await control.wait_for_messages(group, before + 2, timeout=10))[-1]
    azerbaijani = next(b["callback_data"] for b in _buttons(menu) if b["text"] == "Azərbaycanca")
    await control.press_button(group, READER, menu["message_id"], azerbaijani)  # not an admin: no effect
    await control.press_button(group, OWNER, menu["message_id"], azerbaijani)
    await _edited(control, group, menu["message_id"], "Hazırda: Azərbaycanca")


async def test_russian_counts_read_right_for_1_2_5_and_21(
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    await start_bot(make_settings(admins=(OWNER,)))
    await _reply(control, OWNER, "/start", language_code="ru")
    readers = iter(range(9000, 9100))
    seen = []
    for total in (1, 2, 5, 21):
        while len(seen) < total - 1:  # the owner's chat is one of the chats a broadcast reaches
            reader = next(readers)
            await _reply(control, reader, "/start")
            seen.append(reader)
        draft = await _reply(control, OWNER, "/broadcast Hello")
        [send, cancel] = _buttons(draft)
        assert cancel["text"] == "Отмена"
        assert (
            send["text"]
            == {
                1: "📣 Отправить в 1 чат",
                2: "📣 Отправить в 2 чата",
                5: "📣 Отправить в 5 чатов",
                21: "📣 Отправить в 21 чат",
            }[total]
        )


def _menu(emulator: Emulator, scope: dict[str, Any] | None = None, language: str = "") -> dict[str, str]:
    return {c["command"]: c["description"] for c in emulator.commands.get(commands_key(scope, language), [])}


async def _until(check: Callable[[], bool]) -> None:
    deadline = asyncio.get_running_loop().time() + 10
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "the menu never changed"
        await asyncio.sleep(0.05)


async def test_reader_menus_per_language_and_a_menu_for_each_admin(
    emulator_state: Emulator,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    await start_bot(make_settings(admins=(OWNER,)))
    default = _menu(emulator_state)
    assert default["latest"] == "The newest items" and "stats" not in default
    assert _menu(emulator_state, language="ru")["latest"] == "Самые свежие новости"
    assert _menu(emulator_state, language="az")["latest"] == "Ən yeni xəbərlər"
    assert _menu(emulator_state, language="tr")["latest"] == "En yeni haberler"
    assert _menu(emulator_state, language="en") == default
    assert set(_menu(emulator_state, language="tr")) == set(default)

    owner_scope = {"type": "chat", "chat_id": OWNER}
    owner = _menu(emulator_state, owner_scope)
    assert owner["stats"] == "Delivery statistics" and "latest" in owner and "queue" in owner
    # Their language becomes known at /start: the menu follows it.
    await _reply(control, OWNER, "/start", language_code="tr")
    await _until(lambda: _menu(emulator_state, owner_scope).get("stats") == "Gönderim istatistikleri")

    helper_scope = {"type": "chat", "chat_id": HELPER}
    assert _menu(emulator_state, helper_scope) == {}
    await _reply(control, OWNER, f"/promote {HELPER} moderator")
    await _until(lambda: "queue" in _menu(emulator_state, helper_scope))
    assert "stats" not in _menu(emulator_state, helper_scope)
    await _reply(control, OWNER, f"/demote {HELPER}")
    await _until(lambda: _menu(emulator_state, helper_scope) == {})


async def test_a_language_button_drawn_before_a_restart_still_works(
    control: EmulatorClient, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings()
    async with running(build_application(settings)):
        await _reply(control, READER, "/start", language_code="tr")
        menu = await _reply(control, READER, "/language")
    russian = next(b["callback_data"] for b in _buttons(menu) if b["text"] == "Русский")
    async with running(build_application(settings)):
        await control.press_button(READER, READER, menu["message_id"], russian)
        await _edited(control, READER, menu["message_id"], "Сейчас: Русский")
    # The choice is in SQLite: the next start still speaks Russian to this chat.
    async with running(build_application(settings)):
        assert (await _reply(control, READER, "/summary"))["text"] == "Использование: /summary ID|URL"
