"""A throw-away PostgreSQL server for tests, benchmarks and the chaos test.

    with PostgresServer() as server:
        url = asyncio.run(server.make_database())   # postgresql://postgres@127.0.0.1:PORT/NAME

The server runs the distribution's binaries from a fresh folder in the temp directory, on a free
127.0.0.1 port with its unix socket inside that folder, so it never meets the system's cluster
(5432, /var/run/postgresql). It is tuned for data nobody needs after a crash. No pytest in here:
bench/ scripts and separate worker processes use it too.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

import asyncpg

# Durability off: a test server's data dies with it, and fsync is most of the cost of DDL.
# wal_level=minimal lets bulk loads into fresh tables skip most WAL (benchmarks seed millions of rows).
TEST_SETTINGS: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_connections": "300",
    "listen_addresses": "'127.0.0.1'",
    # Timestamps in the log and in now()::text should not depend on the machine's zone.
    "timezone": "'UTC'",
    "log_timezone": "'UTC'",
}
SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
LOG_TAIL_LINES = 20
_SAFE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class PostgresServerError(RuntimeError):
    """The server could not be found, started or stopped; the message carries the reason."""


def find_bindir() -> Path:
    """Return the folder holding initdb, pg_ctl and postgres: `pg_config --bindir`, else the newest."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
            candidates.append(Path(out.stdout.strip()))
    # Debian keeps each major version apart and puts only client wrappers on PATH.
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted((Path(p) for p in versions), key=_major_version, reverse=True)
    for bindir in candidates:
        if all(os.access(bindir / name, os.X_OK) for name in SERVER_BINARIES):
            return bindir
    raise PostgresServerError(
        "no PostgreSQL server binaries (initdb, pg_ctl, postgres) in `pg_config --bindir` or "
        "/usr/lib/postgresql/*/bin; install them with scripts/ensure_postgres (as root) or "
        "`apt-get install postgresql`"
    )


def _major_version(bindir: Path) -> int:
    name = bindir.parent.name
    return int(name) if name.isdigit() else -1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _quote_ident(name: str) -> str:
    # Database names come from this module or a caller's test code; refuse anything that would need
    # quoting rather than quote it (CREATE DATABASE cannot take a bound parameter).
    if not _SAFE_NAME.fullmatch(name):
        raise ValueError(f"database name {name!r} must match {_SAFE_NAME.pattern}")
    return f'"{name}"'


class PostgresServer:
    """One PostgreSQL server in its own folder; start() and stop(), or use it as a context manager."""

    def __init__(
        self,
        *,
        settings: Mapping[str, str] | None = None,
        bindir: Path | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        self.settings = {**TEST_SETTINGS, **(settings or {})}
        self.bindir = bindir
        self.start_timeout = start_timeout
        self.port = 0
        self.folder: Path | None = None
        self.startup_seconds = 0.0
        self._counter = 0
        self._templates: dict[str, str] = {}
        # initdb and postgres refuse to run as root; the Debian package makes a `postgres` user.
        self._as_root = os.geteuid() == 0

    # -- paths ------------------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self._folder / "data"

    @property
    def socket_dir(self) -> Path:
        return self._folder / "socket"

    @property
    def log_path(self) -> Path:
        return self._folder / "server.log"

    @property
    def _folder(self) -> Path:
        if self.folder is None:
            raise PostgresServerError("the server is not started")
        return self.folder

    def url(self, dbname: str = "postgres") -> str:
        """Return the connection URL of one database on this server."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    # -- life cycle -------------------------------------------------------------------------------

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Create the cluster and start the server; raise PostgresServerError with the log's tail."""
        if self.folder is not None:
            raise PostgresServerError("the server is already started")
        began = time.monotonic()
        bindir = self.bindir or find_bindir()
        missing = [name for name in SERVER_BINARIES if not os.access(bindir / name, os.X_OK)]
        if missing:
            raise PostgresServerError(f"{bindir} lacks the PostgreSQL server binaries {', '.join(missing)}")
        self.bindir = bindir
        if self._as_root and shutil.which("runuser") is None:
            raise PostgresServerError("running as root needs `runuser` to start PostgreSQL as `postgres`")
        # The system temp folder, not a pytest tmp_path: under root those are 0700 and the
        # postgres user could not reach its own data folder.
        self.folder = Path(tempfile.mkdtemp(prefix="newsbot-pg-"))
        atexit.register(self.stop)
        try:
            self.socket_dir.mkdir()
            self.log_path.touch()
            if self._as_root:
                self._give_to_postgres(self.folder, self.socket_dir, self.log_path)
            self._run(
                [
                    str(bindir / "initdb"),
                    "--pgdata", str(self.data_dir),
                    "--username", "postgres",
                    "--auth", "trust",
                    "--encoding", "UTF8",
                    "--locale", "C",
                    "--no-sync",
                ],
                what="initdb",
            )  # fmt: skip
            self._write_config()
            self._start_on_free_port(bindir)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began

    def _start_on_free_port(self, bindir: Path) -> None:
        # A free port can be taken between choosing it and the server binding it: try a few.
        for attempt in range(3):
            self.port = _free_port()
            try:
                self._run(
                    [
                        str(bindir / "pg_ctl"),
                        "start",
                        "--pgdata", str(self.data_dir),
                        "--log", str(self.log_path),
                        "--wait",
                        "--timeout", str(int(self.start_timeout)),
                        "--options", f"-p {self.port}",
                    ],
                    what="pg_ctl start",
                )  # fmt: skip
            except PostgresServerError as error:
                if attempt < 2 and "could not bind" in str(error):
                    continue
                raise
            self._wait_accepting(bindir)
            return

    def _wait_accepting(self, bindir: Path) -> None:
        # pg_ctl --wait already waits for "ready"; pg_isready over TCP proves the URL we hand out works
        # (a plain TCP connect where a stripped-down install lacks pg_isready).
        deadline = time.monotonic() + self.start_timeout
        pg_isready = bindir / "pg_isready"
        while True:
            if os.access(pg_isready, os.X_OK):
                command = [str(pg_isready), "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
                if subprocess.run(command, cwd=self._folder, check=False).returncode == 0:
                    return
            else:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
                    return
            if time.monotonic() > deadline:
                raise self._error(f"the server on 127.0.0.1:{self.port} did not accept connections")
            time.sleep(0.05)

    def restart(self, *, mode: str = "fast") -> None:
        """Stop the server and start it again on the same data and port, as an operator's restart.

        ``fast`` ends every session with a FATAL message first (what clients meet in a routine
        restart); ``immediate`` drops them without one and recovers from the WAL on start.
        """
        bindir = self.bindir
        if self.folder is None or bindir is None:
            raise PostgresServerError("the server is not started")
        self._run(
            [
                str(bindir / "pg_ctl"),
                "restart",
                "--pgdata", str(self.data_dir),
                "--log", str(self.log_path),
                "--mode", mode,
                "--wait",
                "--timeout", str(int(self.start_timeout)),
                "--options", f"-p {self.port}",
            ],
            what="pg_ctl restart",
        )  # fmt: skip
        self._wait_accepting(bindir)

    def stop(self) -> None:
        """Stop the server (fast, then immediate, then SIGKILL) and remove its folder."""
        atexit.unregister(self.stop)
        folder, self.folder = self.folder, None
        if folder is None:
            return
        pidfile = folder / "data" / "postmaster.pid"
        if self.bindir is not None and pidfile.exists():
            for mode in ("fast", "immediate"):
                command = [str(self.bindir / "pg_ctl"), "stop", "--pgdata", str(folder / "data")]
                command += ["--mode", mode, "--wait", "--timeout", "20"]
                done = subprocess.run(
                    self._as_postgres(command), cwd=folder, capture_output=True, check=False
                )
                if done.returncode == 0 or not pidfile.exists():
                    break
            else:
                with contextlib.suppress(OSError, ValueError, IndexError):
                    os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)
        shutil.rmtree(folder, ignore_errors=True)

    # -- databases --------------------------------------------------------------------------------

    def new_name(self, prefix: str = "test") -> str:
        """Return a database name nobody else on this server uses."""
        self._counter += 1
        return f"{prefix}_{os.getpid()}_{self._counter}_{uuid.uuid4().hex[:6]}"

    async def make_database(self, *, template: str | None = None, name: str | None = None) -> str:
        """Create an empty database (or a copy of `template`) and return its URL."""
        name = name or self.new_name()
        # template0 holds nothing a test would add, and copying it needs no lock on template1.
        source = _quote_ident(template) if template else "template0"
        statement = f"CREATE DATABASE {_quote_ident(name)} TEMPLATE {source}"
        connection = await asyncpg.connect(self.url("postgres"))
        try:
            # FILE_COPY copies the files and checkpoints, cheap with fsync off; the default (WAL_LOG,
            # PostgreSQL 15+) writes every page to the WAL and measured 1.5 to 5 times slower here.
            if connection.get_server_version().major >= 15:
                statement += " STRATEGY FILE_COPY"
            await connection.execute(statement)
        finally:
            await connection.close()
        return self.url(name)

    async def drop_database(self, name: str) -> None:
        """Drop a database, ending any connections a test left open."""
        # WITH (FORCE) terminates the leftover sessions first (PostgreSQL 13+).
        await self._admin(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")

    async def template(self, key: str, build: Callable[[str], Awaitable[None]]) -> str:
        """Return the name of a template database built once per server by `build(url)`.

        `build` must close its connections before it returns: a database with sessions on it
        cannot be copied. Pass the name as `make_database(template=...)`.
        """
        if key not in self._templates:
            name = self.new_name(f"tmpl_{key}")
            url = await self.make_database(name=name)
            try:
                await build(url)
            except BaseException:
                await self.drop_database(name)
                raise
            # Marked so that it is visibly a template and nobody connects to it by accident.
            marked = "WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"
            await self._admin(f"ALTER DATABASE {_quote_ident(name)} {marked}")
            self._templates[key] = name
        return self._templates[key]

    async def _admin(self, statement: str) -> None:
        connection = await asyncpg.connect(self.url("postgres"))
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    # -- helpers ----------------------------------------------------------------------------------

    def _write_config(self) -> None:
        lines = [f"{key} = {value}" for key, value in self.settings.items()]
        # Only our own socket folder: the system's /var/run/postgresql may not exist or be another's.
        lines.append(f"unix_socket_directories = '{self.socket_dir}'")
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n# newsbot test server\n" + "\n".join(lines) + "\n")

    def _give_to_postgres(self, *paths: Path) -> None:
        try:
            for path in paths:
                shutil.chown(path, user="postgres", group="postgres")
        except (LookupError, PermissionError) as error:
            raise PostgresServerError(
                f"running as root, the server must run as the `postgres` user, and it cannot: {error}"
            ) from error

    def _as_postgres(self, command: Sequence[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *command] if self._as_root else list(command)

    def _run(self, command: Sequence[str], *, what: str) -> None:
        # cwd is our folder: the postgres user may not be allowed into the caller's (e.g. /root).
        done = subprocess.run(
            self._as_postgres(command), cwd=self._folder, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip()
            raise self._error(f"{what} failed (exit {done.returncode}): {said}")

    def _error(self, message: str) -> PostgresServerError:
        tail = self.log_tail()
        return PostgresServerError(f"{message}\n--- server log, last lines ---\n{tail}" if tail else message)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """Return the last lines of the server log ('' when there is none yet)."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except (OSError, PostgresServerError):
            return ""
        return "\n".join(text.splitlines()[-lines:])
