"""End to end in webhook mode: the emulator POSTs updates to the bot's own webhook server."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.config import Secret, Settings, SourceSettings, WebhookSettings
from bot.emulator import Emulator, EmulatorClient, RunningEmulator
from tests.conftest import TOKEN, FeedServer
from tests.test_e2e_first_push import _item, _subscribed_reader, _wait_for_poll

READER = 5101
SECRET = "webhook-secret_for-tests"


@pytest.fixture
def emulator_state() -> Emulator:
    # The bot sets its webhook a moment before its server listens; retry the first POSTs quickly.
    return Emulator(webhook_backoff=(0.05, 0.2))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def hook() -> WebhookSettings:
    port = free_port()
    return WebhookSettings(url=f"http://127.0.0.1:{port}/tg/hook", listen_port=port, secret=Secret(SECRET))


@pytest.fixture
def source(feed_server: FeedServer) -> SourceSettings:
    return SourceSettings(id="site", name="Test Site", url=feed_server.url("/rss.xml"), interval=1)


async def test_a_bot_on_a_webhook_answers_commands_and_pushes_news(
    feed_server: FeedServer,
    control: EmulatorClient,
    emulator_state: Emulator,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
    source: SourceSettings,
    hook: WebhookSettings,
) -> None:
    feed_server.set_rss("/rss.xml", [_item(1, feed_server)])
    await start_bot(replace(make_settings(source), webhook=hook))
    assert emulator_state.webhook["url"] == hook.url
    assert emulator_state.webhook["secret_token"] == SECRET
    await _subscribed_reader(control, READER)
    await _wait_for_poll(feed_server, "/rss.xml", 2)

    feed_server.set_rss("/rss.xml", [_item(2, feed_server), _item(1, feed_server)])
    messages = await control.wait_for_messages(READER, 3, timeout=10)

    assert "Story number 2" in messages[2]["text"]
    assert "Story number 1" not in " ".join(m["text"] for m in messages)
    methods = {entry["method"] for entry in await control.transcript()}
    assert "getUpdates" not in methods  # every update came by webhook
    assert (await control.stats())["webhook_deliveries"] == 2


@pytest.mark.parametrize("headers", [{}, {"X-Telegram-Bot-Api-Secret-Token": "guessed"}])
async def test_a_forged_post_is_refused_and_does_nothing(
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
    hook: WebhookSettings,
    headers: dict[str, str],
) -> None:
    forger = READER + 1
    await start_bot(replace(make_settings(), webhook=hook))
    forged = {
        "update_id": 999,
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": forger, "type": "private"},
            "from": {"id": forger, "is_bot": False, "first_name": "Forger"},
            "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(hook.url, json=forged, headers=headers) as answer,
    ):
        assert answer.status == 403

    await control.send_text(READER, READER, "/start")  # a real update, after the forged one
    await control.wait_for_messages(READER, 1, timeout=10)
    assert await control.messages(forger) == []


async def test_stopping_leaves_the_webhook_set_and_updates_wait_for_the_next_start(
    control: EmulatorClient,
    emulator_state: Emulator,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
    hook: WebhookSettings,
) -> None:
    from bot.app import build_application, running

    settings = replace(make_settings(), webhook=hook)
    async with running(build_application(settings)):
        await control.send_text(READER, READER, "/start")
        await control.wait_for_messages(READER, 1, timeout=10)
    assert "deleteWebhook" not in {entry["method"] for entry in await control.transcript()}
    assert emulator_state.webhook["url"] == hook.url

    await control.send_text(READER, READER, "/help")  # while the bot is down: Telegram queues it
    await start_bot(settings)
    await control.wait_for_messages(READER, 2, timeout=10)


# --- the real process -------------------------------------------------------------------------


async def test_newsbot_run_webhook_serves_and_never_prints_its_secret(
    tmp_path: Path, telegram: RunningEmulator, emulator_state: Emulator, control: EmulatorClient
) -> None:
    config = tmp_path / "newsbot.toml"
    # DEBUG: PTB then logs every Bot API call with its parameters, setWebhook's secret_token too.
    config.write_text(f'[bot]\ntoken = "{TOKEN}"\ndb = "{tmp_path / "bot.db"}"\nlog_level = "DEBUG"\n')
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    env = {**os.environ, "NEWSBOT_API_URL": f"http://127.0.0.1:{telegram.port}", "PTB_TIMEDELTA": "1"}
    bot = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        "--config",
        str(config),
        "--webhook",
        url,
        "--listen",
        f"127.0.0.1:{port}",
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        await control.send_text(READER, READER, "/start")
        await control.wait_for_messages(READER, 1, timeout=30)
        bot.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(bot.communicate(), 30)
    finally:
        if bot.returncode is None:
            bot.kill()
            await bot.wait()

    text = output.decode()
    assert bot.returncode == 0, text[-2000:]
    assert "Traceback" not in text
    assert "Unclosed" not in text
    secret = emulator_state.webhook["secret_token"]  # made at random at start: no --secret given
    assert len(secret) >= 32
    assert secret not in text
    assert "'secret_token': '<redacted>'" in text  # PTB logged it, and the formatter scrubbed it
    assert TOKEN.split(":")[1] not in text
    assert f"Receiving updates by webhook on 127.0.0.1:{port}" in text
    assert "deleteWebhook" not in {entry["method"] for entry in await control.transcript()}


# --- start-up -----------------------------------------------------------------------------------


async def test_setting_the_webhook_is_retried_while_telegram_is_unreachable(
    telegram: RunningEmulator, emulator_state: Emulator, control: EmulatorClient, hook: WebhookSettings
) -> None:
    from telegram.ext import ExtBot

    from bot.app import set_webhook

    bot: ExtBot[None] = ExtBot(TOKEN, base_url=telegram.base_url)
    async with bot:
        await control.set_fault("bad_gateway", count=2)
        assert await set_webhook(bot, asyncio.Event(), hook, first_delay=0.01)
    assert emulator_state.webhook["url"] == hook.url
    attempts = [e for e in await control.transcript() if e["method"] == "setWebhook"]
    assert [e["status"] for e in attempts] == [502, 502, 200]


async def test_setting_the_webhook_gives_up_when_stopped(
    telegram: RunningEmulator, emulator_state: Emulator, control: EmulatorClient, hook: WebhookSettings
) -> None:
    from telegram.ext import ExtBot

    from bot.app import set_webhook

    bot: ExtBot[None] = ExtBot(TOKEN, base_url=telegram.base_url)
    stop = asyncio.Event()
    async with bot:
        await control.set_fault("bad_gateway")
        waiting = asyncio.create_task(set_webhook(bot, stop, hook, first_delay=30))
        await control.wait_for_call("setWebhook")
        stop.set()
        assert await asyncio.wait_for(waiting, 5) is False
    assert emulator_state.webhook == {}


async def test_a_webhook_url_telegram_refuses_stops_with_one_line(
    tmp_path: Path, telegram: RunningEmulator
) -> None:
    from tests.test_startup import assert_clean, bot_env, start_bot

    env = bot_env(f"http://127.0.0.1:{telegram.port}", tmp_path / "newsbot.db")
    # The emulator, like Telegram for a private address, will not call this URL.
    bot = await start_bot(env, "--webhook", "https://bot.example.invalid/hook")
    assert await bot.finish() == 2  # a config error: a restart policy does not retry it forever
    assert_clean(bot)
    assert bot.lines[-1].startswith("newsbot: config: webhook.url: Telegram refused it: Bad webhook: ")


async def test_a_webhook_port_in_use_stops_with_one_line(tmp_path: Path, telegram: RunningEmulator) -> None:
    from tests.test_startup import assert_clean, bot_env, start_bot

    env = bot_env(f"http://127.0.0.1:{telegram.port}", tmp_path / "newsbot.db")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        bot = await start_bot(
            env, "--webhook", f"http://127.0.0.1:{port}/hook", "--listen", f"127.0.0.1:{port}"
        )
        code = await bot.finish()
    assert code == 2, bot.stderr
    assert_clean(bot)
    assert (
        bot.lines[-1]
        == f"newsbot: config: webhook.listen: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )
