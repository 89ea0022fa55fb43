"""The emulator's files: sendDocument keeps the upload, getFile names it, /file/bot<token>/ serves it."""

from __future__ import annotations

import os

os.environ.setdefault("PTB_TIMEDELTA", "1")

from collections.abc import AsyncIterator

import pytest
from telegram import Bot
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
        await control.add_chat(READER, "private", first_name="Ann")
        yield control


@pytest.fixture
async def bot(running: RunningEmulator, client: EmulatorClient) -> AsyncIterator[Bot]:
    root = f"http://127.0.0.1:{running.port}"
    async with Bot(TOKEN, base_url=f"{root}/bot", base_file_url=f"{root}/file/bot") as tg_bot:
        yield tg_bot


async def test_a_sent_document_keeps_its_bytes_name_and_caption(bot: Bot, client: EmulatorClient) -> None:
    sent = await bot.send_document(
        READER, document=b"<opml/>", filename="list.opml", caption="<b>2</b> sources", parse_mode="HTML"
    )
    assert sent.document is not None and sent.document.file_name == "list.opml"
    assert sent.caption == "2 sources"
    [message] = await client.messages(READER)
    assert message["kind"] == "document" and message["text"] == "2 sources"
    assert await client.file_content(message["document"]["file_id"]) == b"<opml/>"
    # The bot may send the same file again by its id, and download it.
    again = await bot.send_document(READER, document=sent.document.file_id)
    assert again.document is not None and again.document.file_id == sent.document.file_id
    downloaded = await (await bot.get_file(sent.document.file_id)).download_as_bytearray()
    assert bytes(downloaded) == b"<opml/>"


async def test_a_readers_upload_reaches_the_bot_and_downloads_through_get_file(
    bot: Bot, client: EmulatorClient
) -> None:
    await client.send_document(READER, READER, "feeds.xml", b"\x00bytes\xff", caption="/import now")
    [update] = await bot.get_updates()
    message = update.message
    assert message is not None and message.document is not None
    assert message.caption == "/import now"
    assert [e.type for e in message.caption_entities] == ["bot_command"]
    assert message.document.file_name == "feeds.xml" and message.document.file_size == 7
    telegram_file = await bot.get_file(message.document.file_id)
    assert telegram_file.file_path is not None and telegram_file.file_path.endswith(".xml")
    assert bytes(await telegram_file.download_as_bytearray()) == b"\x00bytes\xff"


async def test_unknown_file_ids_and_empty_documents_are_refused(bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)invalid file_id"):
        await bot.get_file("BQACnope")
    with pytest.raises(BadRequest, match=r"(?i)no document in the request"):
        await bot.send_document(READER, document="not-a-file-id")
    with pytest.raises(BadRequest, match=r"(?i)file must be non-empty"):
        await bot.send_document(READER, document=b"", filename="empty.txt")
