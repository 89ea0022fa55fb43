"""Reading buttons under what the dispatcher sends: pushed items, digests and quiet-hours lists."""

import os

os.environ.setdefault("PTB_TIMEDELTA", "1")

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from telegram.error import BadRequest
from telegram.ext import ExtBot

from bot.delivery.sender import make_list_sender, photo_refused
from bot.emulator import Emulator, EmulatorClient, RunningEmulator
from bot.models import Article

TOKEN = "123456:TEST-token"
READER = 1001


@pytest.fixture
async def running() -> AsyncIterator[RunningEmulator]:
    async with RunningEmulator(Emulator()) as server:
        yield server


@pytest.fixture
async def client(running: RunningEmulator) -> AsyncIterator[EmulatorClient]:
    async with EmulatorClient(running.control_url) as control:
        await control.add_chat(READER, "private", first_name="Ann")
        await control.set_limits(global_per_second=None, chat_per_second=None, group_per_minute=None)
        yield control


@pytest.fixture
async def bot(running: RunningEmulator) -> AsyncIterator[ExtBot[None]]:
    async with ExtBot(TOKEN, base_url=running.base_url) as tg_bot:
        yield tg_bot


def _articles(count: int, title: str = "Story") -> list[Article]:
    return [
        Article(
            id=n,
            source_id="site",
            guid=f"g{n}",
            url=f"https://site.example/news/{n}",
            title=f"{title} {n}",
            lead="",
            published_at=datetime(2024, 4, 20, 12, 0, tzinfo=UTC),
        )
        for n in range(1, count + 1)
    ]


async def test_a_short_digest_carries_summary_and_related_buttons_for_each_item(
    bot: ExtBot[None], client: EmulatorClient
) -> None:
    send_list = make_list_sender(bot)
    await send_list(READER, 0, "Your digest", _articles(3), "UTC", False, "en")
    [message] = await client.messages(READER)
    rows = message["reply_markup"]["inline_keyboard"]
    assert [[b["text"] for b in row] for row in rows] == [
        [f"📝 Summary: Story {n}", "🧭 Related"] for n in (1, 2, 3)
    ]
    assert rows[0][0]["callback_data"].startswith("sm:1:")


async def test_a_digest_of_many_items_or_many_messages_goes_without_buttons(
    bot: ExtBot[None], client: EmulatorClient
) -> None:
    send_list = make_list_sender(bot)
    await send_list(READER, 0, "Your digest", _articles(11), "UTC", False, "en")
    await send_list(READER, 0, "Your digest", _articles(40, title="Long headline " * 14), "UTC", False, "en")
    messages = await client.messages(READER)
    assert len(messages) >= 3  # one list of 11, then 40 long items over several messages
    assert all(m["reply_markup"] is None for m in messages)


@pytest.mark.parametrize(
    ("answer", "as_text"),
    [
        ("Bad Request: wrong file identifier/HTTP URL specified", True),
        ("Bad Request: IMAGE_PROCESS_FAILED", True),
        ("Bad Request: PHOTO_INVALID_DIMENSIONS", True),
        ("Bad Request: failed to get HTTP URL content", True),
        ("Bad Request: chat not found", False),  # text would meet the same: the dispatcher decides
        ("Bad Request: message thread not found", False),
        ("Bad Request: can't parse entities: unsupported start tag", False),
    ],
)
def test_a_refused_picture_of_any_kind_falls_back_to_text(answer: str, as_text: bool) -> None:
    assert photo_refused(BadRequest(answer)) is as_text
