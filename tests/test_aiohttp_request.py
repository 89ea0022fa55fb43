"""PTB's network layer on aiohttp: answers, Telegram's errors, timeouts and dead servers."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from telegram import Bot
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut

from bot.delivery.aiohttp_request import AiohttpRequest, json_body
from bot.emulator import EmulatorClient, RunningEmulator
from tests.conftest import TOKEN


def bot_for(base_url: str, **timeouts: float) -> Bot:
    return Bot(
        TOKEN, base_url=base_url, request=AiohttpRequest(**timeouts), get_updates_request=AiohttpRequest()
    )


async def test_messages_and_errors_come_back_as_with_ptbs_own_client(
    telegram: RunningEmulator, control: EmulatorClient
) -> None:
    await control.add_chat(77, "private")
    async with bot_for(telegram.base_url) as bot:
        sent = await bot.send_message(77, "<b>Tom &amp; Jerry</b> ünïcödé", parse_mode="HTML")
        with pytest.raises(BadRequest, match=r"(?i)can.t parse entities"):
            await bot.send_message(77, "<script>x</script>", parse_mode="HTML")
    assert sent.text == "Tom & Jerry ünïcödé"
    assert (await control.messages(77))[0]["html"] == "<b>Tom &amp; Jerry</b> ünïcödé"


async def test_slow_server_is_a_timeout(telegram: RunningEmulator, control: EmulatorClient) -> None:
    await control.add_chat(77, "private")
    await control.set_fault("delay", delay=1.0, count=1)
    async with bot_for(telegram.base_url, read_timeout=0.2) as bot:
        with pytest.raises(TimedOut):
            await bot.send_message(77, "hello")


async def test_dead_server_is_a_network_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(NetworkError) as caught:
        async with bot_for(f"http://127.0.0.1:{port}/bot"):  # initialize() calls getMe
            pass
    assert not isinstance(caught.value, TimedOut)
    assert "Cannot connect" in str(caught.value)


async def test_a_json_body_sends_the_keyboard_and_maps_answers_to_ptbs_exceptions(
    telegram: RunningEmulator, control: EmulatorClient
) -> None:
    await control.add_chat(77, "private")
    await control.add_chat(78, "private")
    keyboard = '{"inline_keyboard":[[{"text":"Open","url":"https://news.example/1"}]]}'
    async with bot_for(telegram.base_url) as bot:
        url = f"{bot.base_url}/sendmessage"
        params = {
            "chat_id": 77,
            "text": "<b>Ünï</b> &amp; co",
            "parse_mode": "HTML",
            "reply_markup": keyboard,
        }
        result = await bot.request.post(url, request_data=json_body(params))
        await control.set_fault("flood", chat_id=78, retry_after=7, count=1)
        with pytest.raises(RetryAfter) as flood:
            await bot.request.post(url, request_data=json_body({"chat_id": 78, "text": "x"}))
        with pytest.raises(BadRequest, match=r"(?i)chat not found"):
            await bot.request.post(url, request_data=json_body({"chat_id": 79, "text": "x"}))
    stored = (await control.messages(77))[0]
    assert result["message_id"] == stored["message_id"]
    assert stored["html"] == "<b>Ünï</b> &amp; co"
    assert stored["reply_markup"]["inline_keyboard"][0][0]["url"] == "https://news.example/1"
    assert flood.value.retry_after in (7, timedelta(seconds=7))
