"""Start-up failures as an operator meets them: real `newsbot run` processes, one clear line each.

Telegram is the emulator on loopback; the token below is never valid anywhere.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest

from bot.emulator import EmulatorClient, RunningEmulator

TOKEN = "4242:SECRETtoken-never-valid"
SECRET_PART = "SECRETtoken-never-valid"


def bot_env(api_url: str, db: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "PTB_TIMEDELTA": "1",
        "NEWSBOT_TOKEN": TOKEN,
        "NEWSBOT_API_URL": api_url,
        "NEWSBOT_DB": str(db),
        **extra,
    }


class BotProcess:
    """A `newsbot run` subprocess whose stderr is collected line by line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.stdout = ""
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.lines.append(raw.decode("utf-8", "replace"))

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    async def wait_for(self, text: str, timeout: float = 15.0) -> None:
        """Wait until stderr holds ``text``; fail with what it holds instead."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while text not in self.stderr:
            if self.proc.returncode is not None or loop.time() > deadline:
                raise AssertionError(f"never saw {text!r}; stderr was:\n{self.stderr}")
            await asyncio.sleep(0.05)

    async def finish(self, timeout: float = 20.0) -> int:
        """Wait for the process to exit on its own (it must not hang)."""
        try:
            code = await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise AssertionError(f"newsbot hung; stderr was:\n{self.stderr}") from None
        await self._reader
        assert self.proc.stdout is not None
        self.stdout = (await self.proc.stdout.read()).decode("utf-8", "replace")
        return code

    async def stop(self) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        return await self.finish()


async def start_bot(env: dict[str, str], *args: str, **kwargs: object) -> BotProcess:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        **kwargs,  # type: ignore[arg-type]
    )
    return BotProcess(proc)


def assert_clean(bot: BotProcess) -> None:
    """No traceback, no aiohttp warning, and the token nowhere, plain or URL-encoded."""
    output = bot.stdout + bot.stderr
    assert "Traceback" not in output
    assert "Unclosed" not in output
    assert SECRET_PART not in output
    assert quote(TOKEN, safe="") not in output


@pytest.fixture
async def emulator() -> AsyncIterator[RunningEmulator]:
    async with RunningEmulator() as running:
        yield running


def api(running: RunningEmulator) -> str:
    return f"http://127.0.0.1:{running.port}"


async def test_rejected_token_prints_one_line_without_the_token(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    async with EmulatorClient(emulator.control_url) as control:
        await control.set_fault("unauthorized")
    bot = await start_bot(bot_env(api(emulator), tmp_path / "newsbot.db"))
    assert await bot.finish() == 1
    assert_clean(bot)
    assert bot.lines[-1].startswith("newsbot: ")
    assert "rejected the bot token" in bot.lines[-1]
    assert not [line for line in bot.lines if "ERROR" in line or "CRITICAL" in line]


async def test_bad_gateway_that_echoes_the_token_is_retried_and_never_leaks_it(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    async with EmulatorClient(emulator.control_url) as control:
        await control.set_fault("bad_gateway", count=3)
        # The fault's body really echoes the token: the redaction, not luck, keeps it out below.
        async with aiohttp.ClientSession() as http, http.get(f"{api(emulator)}/bot{TOKEN}/getMe") as answer:
            assert answer.status == 502
            assert TOKEN in await answer.text()
        bot = await start_bot(bot_env(api(emulator), tmp_path / "newsbot.db"))
        await bot.wait_for("Connected to Telegram")
        assert await bot.stop() == 0
    assert_clean(bot)
    retries = [line for line in bot.lines if "Telegram is not reachable" in line]
    assert len(retries) == 2
    assert all("Bad Gateway" in line and "<redacted>" in line for line in retries)


async def test_unreachable_telegram_is_retried_with_one_line_each_until_it_answers(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bot = await start_bot(bot_env(f"http://127.0.0.1:{port}", tmp_path / "newsbot.db"))
    try:
        await bot.wait_for("attempt 2:")
        async with RunningEmulator(port=port):
            await bot.wait_for("Connected to Telegram", timeout=20)
            assert await bot.stop() == 0
    finally:
        if bot.proc.returncode is None:
            bot.proc.kill()
    assert_clean(bot)
    retries = [line for line in bot.lines if "Telegram is not reachable" in line]
    assert len(retries) >= 2
    assert all(line.count("\n") == 1 for line in retries)


async def test_second_instance_on_one_database_refuses_naming_the_first_pid(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    env = bot_env(api(emulator), tmp_path / "newsbot.db")
    first = await start_bot(env)
    try:
        await first.wait_for("Connected to Telegram")
        second = await start_bot(env)
        assert await second.finish() == 1
        assert second.stderr == (
            f"newsbot: another newsbot (pid {first.proc.pid}) is already running on"
            f" {tmp_path / 'newsbot.db'}; stop it first\n"
        )
        assert first.proc.returncode is None
    finally:
        assert await first.stop() == 0
    # The lock dies with its process: the next start succeeds.
    third = await start_bot(env)
    await third.wait_for("Connected to Telegram")
    assert await third.stop() == 0


async def test_garbage_database_file_exits_with_one_line(emulator: RunningEmulator, tmp_path: Path) -> None:
    db = tmp_path / "newsbot.db"
    db.write_bytes(b"this is not a database, just some words " * 100)
    bot = await start_bot(bot_env(api(emulator), db))
    assert await bot.finish(timeout=15) == 1
    assert_clean(bot)
    assert bot.stderr == f"newsbot: cannot open the database {db}: file is not a database\n"


def _can_mount_read_only() -> bool:
    """Whether ``unshare`` may give a process its own read-only view of a folder (user namespaces)."""
    if shutil.which("unshare") is None:
        return False
    try:
        probe = subprocess.run(
            ["unshare", "-rm", "sh", "-c", "mount --bind / /mnt 2>/dev/null || mount -t tmpfs none /mnt"],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except OSError:
        return False
    return probe.returncode == 0


@pytest.mark.skipif(not _can_mount_read_only(), reason="needs user namespaces to mount a folder read-only")
async def test_database_on_a_read_only_filesystem_exits_with_one_line(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "newsbot.db"
    sqlite3.connect(db).close()
    # The bot runs in its own mount namespace where the folder is a read-only filesystem.
    mount = f"mount --bind {folder} {folder} && mount -o remount,ro,bind {folder} {folder}"
    proc = await asyncio.create_subprocess_exec(
        "unshare",
        "-rm",
        "sh",
        "-c",
        f'{mount} && exec "$0" -m bot.cli run',
        sys.executable,
        env=bot_env(api(emulator), db),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    bot = BotProcess(proc)
    assert await bot.finish(timeout=15) == 1
    assert_clean(bot)
    assert bot.stderr.startswith(f"newsbot: cannot open the database {db}: Read-only file system")
    assert bot.stderr.count("\n") == 1


async def test_database_in_a_missing_folder_is_a_config_error(tmp_path: Path) -> None:
    bot = await start_bot(bot_env("http://127.0.0.1:9", tmp_path / "nowhere" / "newsbot.db"))
    assert await bot.finish() == 2
    assert bot.stderr.startswith("newsbot: config: bot.db: the folder ")
    assert bot.stderr.count("\n") == 1
    assert not (tmp_path / "nowhere").exists()


async def test_database_path_that_is_a_folder_is_a_config_error(tmp_path: Path) -> None:
    bot = await start_bot(bot_env("http://127.0.0.1:9", tmp_path))
    assert await bot.finish() == 2
    assert (
        bot.stderr == f"newsbot: config: bot.db: {tmp_path} is a folder; give the path of the database file\n"
    )


async def test_config_that_is_a_directory_exits_2_with_one_line(tmp_path: Path) -> None:
    bot = await start_bot(bot_env("http://127.0.0.1:9", tmp_path / "newsbot.db"), "--config", str(tmp_path))
    assert await bot.finish() == 2
    assert bot.stderr == f"newsbot: config: --config: {tmp_path} is a directory, not a TOML file\n"


async def test_emulator_on_a_port_in_use_exits_with_one_line(emulator: RunningEmulator) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "emulator",
        "--port",
        str(emulator.port),
        env={"PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 1
    text = err.decode()
    assert text.startswith(f"newsbot: cannot listen on 127.0.0.1:{emulator.port}: ")
    assert "address already in use" in text
    assert text.count("\n") == 1


async def test_token_revoked_while_running_stops_with_one_line_without_the_token(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    bot = await start_bot(bot_env(api(emulator), tmp_path / "newsbot.db"))
    await bot.wait_for("Application started")
    async with EmulatorClient(emulator.control_url) as control:
        await control.set_fault("unauthorized")
        # Ends the long poll in flight at once; the next getUpdates meets the revoked token.
        await control.send_text(5001, 5001, "hello")
    assert await bot.finish() == 1
    assert_clean(bot)
    assert bot.lines[-1].startswith("newsbot: ")
    assert "rejected the bot token while running" in bot.lines[-1]


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            '[[sources]]\nid = "site"\nurl = "https://example.org/"\nkind = "html"\n'
            '[sources.selectors]\ntitel = "h3"\n',
            "newsbot: config: sources[0].selectors.titel: unknown selector key; known keys: ",
        ),
        (
            '[bot]\nlanguage = "klingon"\n',
            "newsbot: config: bot.language: unknown language 'klingon'; choose one of: az, en, ru, tr",
        ),
    ],
    ids=["selector-typo", "klingon"],
)
async def test_config_mistakes_exit_2_naming_the_key(tmp_path: Path, toml: str, expected: str) -> None:
    config = tmp_path / "newsbot.toml"
    config.write_text(toml, encoding="utf-8")
    bot = await start_bot(bot_env("http://127.0.0.1:9", tmp_path / "newsbot.db"), "--config", str(config))
    assert await bot.finish() == 2
    assert bot.stderr.startswith(expected)
    assert bot.stderr.count("\n") == 1
