"""The command line: clear failures with exit status 2, the token kept out of output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TOKEN = "123456:SECRET-value-xyz"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PTB_TIMEDELTA": "1", **(env or {})},
        check=False,
    )


def test_help_lists_the_commands() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("run", "demo", "emulator"):
        assert command in result.stdout


def test_run_without_token_stops_with_status_2() -> None:
    result = run("run")
    assert result.returncode == 2
    assert "bot.token" in result.stderr


def test_unknown_key_stops_before_connecting(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[bot]\ntoken = "{TOKEN}"\napi_url = "http://127.0.0.1:9"\nspeed = 3\n')
    result = run("run", "--config", str(config))
    assert result.returncode == 2
    assert "bot.speed: unknown key" in result.stderr
    assert TOKEN not in result.stderr + result.stdout


def test_bad_channel_footer_stops_with_status_2_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        f'[bot]\ntoken = "{TOKEN}"\napi_url = "http://127.0.0.1:9"\n'
        "[[channels]]\nchat = '@news'\n[[channels]]\nchat = '@sport'\nfooter = '<b>Join'\n"
    )
    result = run("run", "--config", str(config))
    assert result.returncode == 2
    assert "channels[1].footer: <b> is never closed" in result.stderr


def test_unknown_preset_stops_with_status_2_and_lists_the_presets(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        f'[bot]\ntoken = "{TOKEN}"\napi_url = "http://127.0.0.1:9"\n'
        '[[sources]]\nid = "cal"\nurl = "https://news.example/en/"\npreset = "caliberr"\n'
    )
    result = run("run", "--config", str(config))
    assert result.returncode == 2
    assert "sources[0].preset: unknown preset 'caliberr'; known presets: caliber" in result.stderr


@pytest.mark.parametrize(
    "url",
    [
        "http://bot.example.com/hook",  # plain http off the machine: Telegram would refuse it
        "bot.example.com/hook",
        "https://bot.example.com:port/hook",
        "https://bot.example.com/hook?x=1",
    ],
)
def test_a_bad_webhook_url_stops_with_status_2_in_one_line(url: str) -> None:
    result = run(
        "run", "--webhook", url, env={"NEWSBOT_TOKEN": TOKEN, "NEWSBOT_API_URL": "http://127.0.0.1:9"}
    )
    assert result.returncode == 2
    assert result.stderr.startswith("newsbot: config: --webhook: ")
    assert result.stderr.count("\n") == 1
    assert TOKEN not in result.stderr


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (["--webhook", "https://bot.example.com/hook", "--secret", "not a secret!"], "--secret"),
        (["--webhook", "https://bot.example.com/hook", "--listen", "8443"], "--listen"),
        (["--listen", "127.0.0.1:8443"], "--webhook"),
    ],
)
def test_bad_webhook_flags_stop_with_status_2_naming_the_flag(args: list[str], key: str) -> None:
    result = run("run", *args, env={"NEWSBOT_TOKEN": TOKEN, "NEWSBOT_API_URL": "http://127.0.0.1:9"})
    assert result.returncode == 2
    assert result.stderr.startswith(f"newsbot: config: {key}: ")
    assert result.stderr.count("\n") == 1
    assert "not a secret!" not in result.stderr


def test_webhook_workers_on_postgresql_must_share_a_configured_secret() -> None:
    env = {
        "NEWSBOT_TOKEN": TOKEN,
        "NEWSBOT_API_URL": "http://127.0.0.1:9",
        "NEWSBOT_DB": "postgresql://newsbot@127.0.0.1:9/newsbot",
    }
    result = run("run", "--role", "updates", "--webhook", "https://bot.example.com/hook", env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("newsbot: config: webhook.secret: ")
    assert result.stderr.count("\n") == 1


def test_bad_environment_value_stops_with_status_2_naming_the_variable() -> None:
    result = run("run", env={"NEWSBOT_TOKEN": TOKEN, "NEWSBOT_DELIVERY__GLOBAL_PER_SECOND": "fast"})
    assert result.returncode == 2
    assert "NEWSBOT_DELIVERY__GLOBAL_PER_SECOND" in result.stderr
    assert TOKEN not in result.stderr


def test_output_into_a_closed_pipe_ends_quietly_without_a_traceback(tmp_path: Path) -> None:
    # `newsbot opml export | head -1`: the reader goes away before the export is written.
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "opml", "export"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin", "PTB_TIMEDELTA": "1", "NEWSBOT_DB": str(tmp_path / "n.db")},
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # closed before the child has even imported: its first write meets EPIPE
    with proc.stderr:
        stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 1
    assert "Traceback" not in stderr
