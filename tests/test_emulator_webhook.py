"""The emulator's webhook: updates POSTed in order with the secret, retried, and getUpdates refused."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.emulator import Emulator, EmulatorClient, RunningEmulator
from tests.conftest import TOKEN

SECRET = "hook-secret_123"
READER = 3001


@pytest.fixture
def emulator_state() -> Emulator:
    # Fast retries: the test waits on what arrives, never on the clock.
    return Emulator(webhook_backoff=(0.01, 0.05))


class Receiver:
    """A local webhook endpoint that answers ``status`` and records what it was sent."""

    def __init__(self) -> None:
        self.status = 200
        self.received: list[tuple[int, str | None, dict[str, Any]]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.append((self.status, request.headers.get("X-Telegram-Bot-Api-Secret-Token"), body))
        return web.Response(status=self.status)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for(self, count: int, timeout: float = 10) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.received) < count:
            assert asyncio.get_running_loop().time() < deadline, f"{len(self.received)} of {count} POSTs"
            await asyncio.sleep(0.01)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def api(telegram: RunningEmulator) -> AsyncIterator[Any]:
    """Call a Bot API method of the emulator: (HTTP status, JSON answer)."""
    async with aiohttp.ClientSession() as session:

        async def call(method: str, **params: Any) -> tuple[int, dict[str, Any]]:
            async with session.post(f"{telegram.base_url}{TOKEN}/{method}", json=params) as response:
                return response.status, await response.json()

        yield call


async def test_updates_are_posted_in_order_with_the_secret_and_retried_until_taken(
    receiver: Receiver, api: Any, control: EmulatorClient
) -> None:
    receiver.status = 500
    status, _ = await api("setWebhook", url=receiver.url, secret_token=SECRET)
    assert status == 200
    for text in ("/start", "/subscribe all", "/mysubs"):
        await control.send_text(READER, READER, text)
    await receiver.wait_for(3)  # the first update, offered three times

    _, info = await api("getWebhookInfo")
    assert info["result"]["url"] == receiver.url
    assert info["result"]["pending_update_count"] == 3
    error = info["result"]["last_error_message"]
    assert error == "Wrong response from the webhook: 500 Internal Server Error"
    assert {update["message"]["text"] for _, _, update in receiver.received} == {"/start"}

    receiver.status = 200
    taken = len(receiver.received) + 3
    await receiver.wait_for(taken)
    accepted = [(secret, u["message"]["text"]) for status, secret, u in receiver.received if status == 200]
    assert accepted == [(SECRET, "/start"), (SECRET, "/subscribe all"), (SECRET, "/mysubs")]
    _, info = await api("getWebhookInfo")
    assert info["result"]["pending_update_count"] == 0
    assert (await control.stats())["webhook_deliveries"] == 3


async def test_no_secret_header_without_a_secret(
    receiver: Receiver, api: Any, control: EmulatorClient
) -> None:
    await api("setWebhook", url=receiver.url)
    await control.send_text(READER, READER, "/start")
    await receiver.wait_for(1)
    assert receiver.received[0][1] is None


async def test_get_updates_is_refused_while_a_webhook_is_set(receiver: Receiver, api: Any) -> None:
    await api("setWebhook", url=receiver.url)
    status, body = await api("getUpdates", timeout=0)
    assert status == 409
    assert body["description"] == (
        "Conflict: can't use getUpdates method while webhook is active; "
        "use deleteWebhook to delete the webhook first"
    )
    await api("deleteWebhook")
    status, body = await api("getUpdates", timeout=0)
    assert (status, body["result"]) == (200, [])


async def test_a_waiting_long_poll_ends_in_409_when_a_webhook_is_set(receiver: Receiver, api: Any) -> None:
    poll = asyncio.create_task(api("getUpdates", timeout=30))
    await asyncio.sleep(0.1)  # let the poll start waiting
    await api("setWebhook", url=receiver.url)
    status, _ = await asyncio.wait_for(poll, 5)
    assert status == 409


async def test_updates_wait_for_a_webhook_that_is_down_and_none_is_lost(
    api: Any, control: EmulatorClient, receiver: Receiver
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    await api("setWebhook", url=dead)
    await control.send_text(READER, READER, "/start")
    for _ in range(500):
        _, info = await api("getWebhookInfo")
        if "last_error_message" in info["result"]:
            break
        await asyncio.sleep(0.01)
    assert info["result"]["last_error_message"].startswith("Connection refused")
    assert info["result"]["pending_update_count"] == 1

    await api("setWebhook", url=receiver.url)  # the bot is back, at a new address
    await receiver.wait_for(1)
    assert receiver.received[0][2]["message"]["text"] == "/start"


@pytest.mark.parametrize("url", ["https://bot.example.com/hook", "http://10.0.0.1/hook", "ftp://127.0.0.1/x"])
async def test_only_loopback_webhooks_are_accepted(api: Any, url: str) -> None:
    status, body = await api("setWebhook", url=url)
    assert status == 400
    assert body["description"].startswith("Bad Request: bad webhook")
    _, info = await api("getWebhookInfo")
    assert info["result"]["url"] == ""
