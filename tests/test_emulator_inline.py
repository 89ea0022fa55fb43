"""The emulator's inline mode: queries a reader types, and answers checked as Telegram checks them."""

import os

os.environ.setdefault("PTB_TIMEDELTA", "1")

from collections.abc import AsyncIterator

import pytest
from telegram import Bot, InlineQueryResultArticle, InputTextMessageContent
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.emulator import Emulator, EmulatorClient, RunningEmulator

TOKEN = "123456:TEST-token"
READER = 1001


@pytest.fixture
async def running() -> AsyncIterator[RunningEmulator]:
    async with RunningEmulator(Emulator()) as server:
        yield server


@pytest.fixture
async def client(running: RunningEmulator) -> AsyncIterator[EmulatorClient]:
    async with EmulatorClient(running.control_url) as control:
        yield control


@pytest.fixture
async def bot(running: RunningEmulator) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=running.base_url) as tg_bot:
        yield tg_bot


def _article(n: int, text: str = "<b>Title</b>") -> InlineQueryResultArticle:
    return InlineQueryResultArticle(
        id=str(n),
        title=f"Result {n}",
        input_message_content=InputTextMessageContent(text, parse_mode=ParseMode.HTML),
    )


async def test_inline_query_arrives_as_an_update_and_its_answer_is_recorded(
    bot: Bot, client: EmulatorClient
) -> None:
    query_id = await client.inline_query(READER, "harbour", offset="10")
    updates = await bot.get_updates(timeout=0)
    assert updates[-1].inline_query is not None
    assert (updates[-1].inline_query.query, updates[-1].inline_query.offset) == ("harbour", "10")
    assert updates[-1].inline_query.from_user.id == READER
    await bot.answer_inline_query(query_id, [_article(1), _article(2)], next_offset="20")
    answer = await client.wait_for_inline_answer(query_id)
    assert [r["id"] for r in answer["results"]] == ["1", "2"]
    assert answer["next_offset"] == "20"
    with pytest.raises(BadRequest, match=r"(?i)query id is invalid"):
        await bot.answer_inline_query(query_id, [])  # a query is answered once


async def test_inline_answer_is_refused_when_telegram_would_refuse_it(
    bot: Bot, client: EmulatorClient
) -> None:
    too_many = await client.inline_query(READER, "x")
    with pytest.raises(BadRequest, match=r"(?i)results_too_much"):
        await bot.answer_inline_query(too_many, [_article(n) for n in range(51)])
    duplicate = await client.inline_query(READER, "y")
    with pytest.raises(BadRequest, match=r"(?i)result_id_duplicate"):
        await bot.answer_inline_query(duplicate, [_article(1), _article(1)])
    bad_markup = await client.inline_query(READER, "z")
    with pytest.raises(BadRequest, match=r"(?i)can.t parse entities"):
        await bot.answer_inline_query(bad_markup, [_article(1, "<b>unclosed")])
    with pytest.raises(BadRequest, match=r"(?i)query id is invalid"):
        await bot.answer_inline_query("12345", [])
