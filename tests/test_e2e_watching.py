"""Watching it: /metrics and /healthz of a running bot, scraped over HTTP during a real broadcast."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import NewsApp
from bot.config import Settings, SourceSettings
from bot.emulator import Emulator, EmulatorClient, RunningEmulator
from bot.errors import ConfigError
from bot.storage import outbox
from tests import test_startup as startup
from tests.conftest import FeedItemSpec, FeedServer

READERS = range(8001, 8061)  # 60 readers: two seconds of sending at Telegram's 30/s
ADMIN = 9001


def _with_metrics(settings: Settings) -> Settings:
    return replace(settings, bot=replace(settings.bot, metrics="127.0.0.1:0"))


@pytest.fixture
def source(feed_server: FeedServer) -> SourceSettings:
    feed_server.set_rss("/rss.xml", [])  # the first poll finds nothing: the source is seeded empty
    return SourceSettings(id="site", name="Test Site", url=feed_server.url("/rss.xml"), interval=1)


@pytest.fixture
async def app(
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[NewsApp]],
    source: SourceSettings,
    emulator_state: Emulator,
) -> NewsApp:
    for reader in READERS:
        emulator_state.add_chat(reader, "private", first_name="Reader")
    app = await start_bot(_with_metrics(make_settings(source, admins=(ADMIN,))))
    db = app.bot_data.db
    assert db is not None
    now = time.time()
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO chats (id, type, created_at, updated_at) VALUES (?, 'private', ?, ?)",
            [(r, now, now) for r in READERS],
        )
        await conn.executemany(
            "INSERT INTO subscriptions (chat_id, kind, created_at) VALUES (?, 'all', ?)",
            [(r, now) for r in READERS],
        )
    return app


def _base(app: NewsApp) -> str:
    assert app.bot_data.watcher is not None
    host, port = app.bot_data.watcher.address
    return f"http://{host}:{port}"


async def scrape(app: NewsApp) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, keyed by name and labels."""
    async with aiohttp.ClientSession() as session, session.get(_base(app) + "/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def healthz(app: NewsApp) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(_base(app) + "/healthz") as response:
        return response.status, json.loads(await response.text())


def sent(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float:
    return samples[("newsbot_deliveries_total", (("outcome", "sent"),))]


async def wait_for(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.05)


async def seeded(app: NewsApp) -> bool:
    assert app.bot_data.db is not None
    return bool(await app.bot_data.db.scalar("SELECT seeded FROM sources WHERE id = 'site'"))


async def test_metrics_follow_a_broadcast_and_healthz_says_ok(
    app: NewsApp, feed_server: FeedServer, control: EmulatorClient
) -> None:
    await wait_for(lambda: seeded(app), "the first poll never seeded the source")
    before = await scrape(app)
    assert sent(before) == 0
    assert before[("newsbot_queue_depth", ())] == 0
    assert before[("newsbot_chats", (("status", "active"),))] == len(READERS)
    assert before[("newsbot_poll_seconds_count", (("source", "site"),))] >= 1

    feed_server.set_rss("/rss.xml", [FeedItemSpec("one", "Storm reaches the coast", feed_server.url("/one"))])
    depths: list[float] = []
    counts: list[float] = []
    statuses: list[int] = []
    while True:
        samples = await scrape(app)
        depths.append(samples[("newsbot_queue_depth", ())])
        counts.append(sent(samples))
        statuses.append((await healthz(app))[0])
        if counts[-1] == len(READERS) and depths[-1] == 0:
            break
        assert len(counts) < 400, f"the broadcast did not finish: sent {counts[-1]}, queued {depths[-1]}"
        await asyncio.sleep(0.1)

    # Seen mid-broadcast: deliveries queued and the sent count climbing through values between.
    assert max(depths) > 0
    assert any(0 < n < len(READERS) for n in counts)
    assert counts == sorted(counts)
    assert set(statuses) == {200}
    assert len(await control.messages()) >= len(READERS)
    samples = await scrape(app)
    assert samples[("newsbot_send_seconds_count", ())] == len(READERS)
    assert 0 < samples[("newsbot_send_seconds_sum", ())] < 60
    assert samples[("newsbot_fanout_size_count", ())] == 1
    assert samples[("newsbot_fanout_size_sum", ())] == len(READERS)
    assert samples[("newsbot_articles_stored_total", (("source", "site"),))] == 1
    assert samples[("newsbot_telegram_429_total", ())] == 0
    assert samples[("newsbot_poll_failures_total", (("source", "site"),))] == 0
    assert samples[("newsbot_queue_oldest_due_seconds", ())] == 0
    assert samples[("newsbot_outbox_rows", (("state", "sent"),))] == len(READERS)


async def test_a_failing_source_counts_poll_failures_without_making_the_bot_unhealthy(
    app: NewsApp, feed_server: FeedServer
) -> None:
    await wait_for(lambda: seeded(app), "the first poll never seeded the source")
    feed_server.set("/rss.xml", "gone", status=500)

    async def failed_twice() -> bool:
        return (await scrape(app)).get(("newsbot_poll_failures_total", (("source", "site"),)), 0) >= 2

    # The source's back-off doubles from its 1 s interval: two failures within a few seconds.
    await wait_for(failed_twice, "the failing polls were never counted")
    samples = await scrape(app)
    assert samples[("newsbot_source_failing_polls", (("source", "site"),))] >= 2
    status, body = await healthz(app)
    assert (status, body) == (200, {"status": "ok", "problems": []})  # the site is down, not the bot


async def test_healthz_is_503_while_the_dispatcher_backs_off_after_failures(
    app: NewsApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await healthz(app) == (200, {"status": "ok", "problems": []})

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(outbox, "active_articles", broken)
    assert app.bot_data.dispatcher is not None
    app.bot_data.dispatcher.wake()

    async def unhealthy() -> bool:
        return (await healthz(app))[0] == 503

    await wait_for(unhealthy, "healthz never noticed the failing dispatcher")
    status, body = await healthz(app)
    assert (status, body["status"]) == (503, "failing")
    [problem] = body["problems"]
    assert problem.startswith("delivery: failing, retrying with back-off")
    assert "disk I/O error" in problem


async def test_healthz_is_503_when_the_dispatcher_task_has_died(app: NewsApp) -> None:
    task = app.bot_data.dispatcher_task
    assert task is not None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    status, body = await healthz(app)
    assert status == 503
    assert body == {"status": "failing", "problems": ["delivery: the dispatcher is not running"]}


async def test_healthz_is_503_while_another_process_holds_the_write_lock(app: NewsApp) -> None:
    assert app.bot_data.db is not None
    other = sqlite3.connect(app.bot_data.db.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # a backup or a stuck sqlite3 shell
        status, body = await healthz(app)
        assert status == 503
        assert body["problems"] == ["database: not writable (database is locked)"]
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert await healthz(app) == (200, {"status": "ok", "problems": []})


async def test_no_endpoint_unless_asked_for_and_a_start_up_line_names_the_bot(
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[NewsApp]],
    source: SourceSettings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings(source)
    with caplog.at_level(logging.INFO, logger="bot.app"):
        app = await start_bot(settings)
    assert app.bot_data.watcher is None and app.bot_data.metrics is None
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Started ")]
    assert line == (
        f"Started @{app.bot.username} on {settings.bot.db}: 1 sources, 0 active chats, 0 deliveries queued"
    )
    assert settings.bot.token.get() not in line


async def test_stats_shows_source_health_the_queue_and_the_last_hour(
    app: NewsApp, feed_server: FeedServer, control: EmulatorClient
) -> None:
    await wait_for(lambda: seeded(app), "the first poll never seeded the source")
    feed_server.set_rss("/rss.xml", [FeedItemSpec("one", "Storm reaches the coast", feed_server.url("/one"))])

    async def all_sent() -> bool:
        samples = await scrape(app)
        return sent(samples) == len(READERS) and samples[("newsbot_queue_depth", ())] == 0

    await wait_for(all_sent, "the broadcast did not finish")
    feed_server.set("/rss.xml", "gone", status=500)

    async def failing() -> bool:
        return (await scrape(app))[("newsbot_source_failing_polls", (("source", "site"),))] >= 1

    await wait_for(failing, "the failing poll was never recorded")
    before = len(await control.messages(ADMIN))
    await control.send_text(ADMIN, ADMIN, "/stats")
    text = (await control.wait_for_messages(ADMIN, before + 1, timeout=20))[before]["text"]
    assert "Delivery\nqueued: 0\nsent: 60\n" in text
    # Since the start of the hour before this one (the bot's timezone is UTC here).
    assert re.search(r"\nSince \d\d:00\nsent 60, failed 0, blocked 0, stale 0\n", text), text
    assert "Sources\nok 0, failing 1, paused 0, retired 0\nsite: failing, " in text


async def test_newsbot_run_logs_json_lines_and_serves_healthz_from_the_command_line(tmp_path: Path) -> None:
    config = tmp_path / "newsbot.toml"
    config.write_text('[bot]\nlog_format = "json"\nmetrics = "127.0.0.1:1"\n')  # the CLI's address wins
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with RunningEmulator() as emulator:
        env = startup.bot_env(startup.api(emulator), tmp_path / "newsbot.db", NEWSBOT_CONFIG=str(config))
        bot = await startup.start_bot(env, "--metrics", f"127.0.0.1:{port}")
        try:
            await bot.wait_for('"message": "Started @')

            async def healthy() -> bool:
                async with (
                    aiohttp.ClientSession() as session,
                    session.get(f"http://127.0.0.1:{port}/healthz") as response,
                ):
                    return response.status == 200

            await wait_for(healthy, "the bot never became healthy")
        finally:
            assert await bot.stop() == 0
    startup.assert_clean(bot)
    events = [json.loads(line) for line in bot.lines]  # every line is one JSON object
    assert all(set(e) >= {"time", "level", "logger", "message"} for e in events)
    [started] = [e for e in events if e["message"].startswith("Started @")]
    assert started["level"] == "INFO" and started["logger"] == "bot.app"
    assert started["message"] == (
        f"Started @{emulator.emulator.bot_username} on {tmp_path / 'newsbot.db'}:"
        " 0 sources, 0 active chats, 0 deliveries queued"
    )
    assert any(e["message"] == f"Serving /metrics and /healthz on http://127.0.0.1:{port}" for e in events)


async def test_newsbot_run_refuses_a_metrics_address_that_is_not_host_and_port(tmp_path: Path) -> None:
    async with RunningEmulator() as emulator:
        bot = await startup.start_bot(
            startup.bot_env(startup.api(emulator), tmp_path / "newsbot.db"), "--metrics", "9464"
        )
        assert await bot.finish() == 2
    assert bot.stderr == 'newsbot: config: --metrics: must be "HOST:PORT", e.g. "127.0.0.1:9464"\n'


async def test_a_metrics_port_in_use_stops_start_up_naming_the_setting(
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[NewsApp]],
    source: SourceSettings,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = make_settings(source)
        settings = replace(settings, bot=replace(settings.bot, metrics=f"127.0.0.1:{port}"))
        with pytest.raises(ConfigError, match=rf"bot\.metrics: cannot listen on 127\.0\.0\.1:{port}: "):
            await start_bot(settings)
