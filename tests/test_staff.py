"""Notes to the staff: each owner reads them in their own language, even while the database fails."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram import Bot

from bot.emulator import EmulatorClient, RunningEmulator
from bot.staff import tell_owners
from bot.storage import Database, chats
from bot.supervisor import Supervisor
from tests.conftest import TOKEN

RUSSIAN, ENGLISH = 9001, 9002
OWNERS = (RUSSIAN, ENGLISH)
NOW = 1_750_000_000.0


@pytest.fixture
async def bot(telegram: RunningEmulator) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=telegram.base_url) as tg_bot:
        yield tg_bot


async def _owners(db: Database, control: EmulatorClient) -> None:
    for user_id, language in ((RUSSIAN, "ru"), (ENGLISH, None)):
        await control.add_chat(user_id, "private", first_name="Owner")
        await chats.remember_chat(
            db, chat_id=user_id, chat_type="private", title=None, username=None, language=language, now=NOW
        )


async def _texts(control: EmulatorClient, user_id: int) -> list[str]:
    return [m["text"] for m in await control.messages(user_id)]


async def test_a_failing_task_is_told_to_each_owner_in_their_language(
    db: Database, bot: Bot, control: EmulatorClient
) -> None:
    await _owners(db, control)

    async def tell(note: object) -> None:
        await tell_owners(bot, db, OWNERS, note, default_language="en")  # type: ignore[arg-type]

    supervisor = Supervisor(tell, first_delay=0.0)

    async def broken() -> None:
        raise OSError("disk full")

    async def fine() -> None:
        return None

    assert not await supervisor.step("pruning", "pruning", broken)
    assert await supervisor.step("pruning", "pruning", fine)
    russian, english = await _texts(control, RUSSIAN), await _texts(control, ENGLISH)
    assert len(russian) == len(english) == 2
    assert "pruning сбоит: OSError: disk full" in russian[0]
    assert "pruning is failing: OSError: disk full" in english[0]
    assert "recovered" in english[1] and "recovered" not in russian[1]


async def test_owners_are_told_in_the_default_language_when_the_database_cannot_say(
    db: Database, bot: Bot, control: EmulatorClient
) -> None:
    await _owners(db, control)
    await db.write("ALTER TABLE chats RENAME TO chats_gone")  # any read of chats now fails
    told = await tell_owners(
        bot, db, OWNERS, lambda tr: tr("task errors since start: none"), default_language="en"
    )
    assert told == 2
    expected = ["task errors since start: none"]
    assert await _texts(control, RUSSIAN) == await _texts(control, ENGLISH) == expected
