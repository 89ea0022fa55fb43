"""Shared fixtures: the emulator, a local feed server, settings, and the running application."""

from __future__ import annotations

import os

# PTB 22 warns (and warnings fail this suite) unless durations are timedelta; set before import.
os.environ.setdefault("PTB_TIMEDELTA", "1")

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from bot.app import NewsApp, build_application, running
from bot.config import BotSettings, DeliverySettings, Secret, Settings, SourceSettings, WorkerSettings
from bot.emulator import Emulator, EmulatorClient, RunningEmulator
from bot.storage import open_database
from bot.storage.interface import Database
from tests.pgserver import PostgresServer

TOKEN = "123456:TEST-token-not-real"


@dataclass
class FeedItemSpec:
    guid: str
    title: str
    link: str
    description: str = ""
    category: str | None = None
    published: datetime = field(default_factory=lambda: datetime.now(UTC))


class FeedServer:
    """A local news site whose documents the test rewrites between polls."""

    def __init__(self) -> None:
        self.documents: dict[str, tuple[int, str, bytes]] = {}
        self.hits: dict[str, int] = {}
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        return self.base_url + path

    def set(
        self, path: str, body: bytes | str, *, content_type: str = "text/html", status: int = 200
    ) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.documents[path] = (status, content_type, data)

    def set_rss(self, path: str, items: list[FeedItemSpec], *, title: str = "Test News") -> None:
        entries = "".join(
            f"<item><title>{escape(i.title)}</title><link>{escape(i.link)}</link>"
            f'<guid isPermaLink="false">{escape(i.guid)}</guid>'
            f"<pubDate>{format_datetime(i.published)}</pubDate>"
            + (f"<category>{escape(i.category)}</category>" if i.category else "")
            + f"<description>{escape(i.description)}</description></item>"
            for i in items
        )
        rss = (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>{escape(title)}</title><link>{self.base_url}/</link><description>t</description>"
            f"{entries}</channel></rss>"
        )
        self.set(path, rss, content_type="application/rss+xml")

    async def _handle(self, request: web.Request) -> web.Response:
        path = request.path_qs if request.path_qs in self.documents else request.path
        self.hits[path] = self.hits.get(path, 0) + 1
        if path not in self.documents:
            return web.Response(status=404, text="not found")
        status, content_type, body = self.documents[path]
        return web.Response(status=status, body=body, content_type=content_type)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def feed_server() -> AsyncIterator[FeedServer]:
    server = FeedServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class ForwardProxy:
    """An HTTP proxy on 127.0.0.1 that records each request line it is asked, then forwards it.

    ``upstream`` sends every request to one local server whatever host was asked, so a test can
    fetch a public-looking name without leaving the machine. CONNECT is tunnelled as well.
    """

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.upstream: tuple[str, int] | None = None
        self.url = ""
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _target(self, host: str | None, port: int) -> tuple[str, int]:
        return self.upstream or (host or "127.0.0.1", port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                first, *lines = head.split("\r\n")
                method, target, _version = first.split(" ", 2)
                self.requests.append(f"{method} {target}")
                headers = [tuple(line.split(":", 1)) for line in lines if ":" in line]
                if method == "CONNECT":
                    host, _, port = target.rpartition(":")
                    up_reader, up_writer = await asyncio.open_connection(*self._target(host, int(port)))
                    writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
                    return
                url = urlsplit(target)
                length = next((int(v) for k, v in headers if k.strip().lower() == "content-length"), 0)
                body = await reader.readexactly(length)
                up_reader, up_writer = await asyncio.open_connection(
                    *self._target(url.hostname, url.port or 80)
                )
                hop = {"connection", "proxy-connection", "keep-alive", "proxy-authorization"}
                kept = "".join(f"{k}:{v}\r\n" for k, v in headers if k.strip().lower() not in hop)
                path = url.path + (f"?{url.query}" if url.query else "")
                up_writer.write(
                    f"{method} {path} HTTP/1.1\r\n{kept}Connection: close\r\n\r\n".encode("latin-1") + body
                )
                await up_writer.drain()
                # The origin closes after its answer (Connection: close), whatever its framing.
                writer.write(await up_reader.read())
                up_writer.close()
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


class Socks5Proxy:
    """A SOCKS5 proxy on 127.0.0.1 (no auth or user/password) that records each CONNECT target."""

    def __init__(self) -> None:
        self.connects: list[str] = []
        self.logins: list[tuple[str, str]] = []
        self.upstream: tuple[str, int] | None = None
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            _version, count = await reader.readexactly(2)
            methods = await reader.readexactly(count)
            if 2 in methods:  # username/password (RFC 1929)
                writer.write(b"\x05\x02")
                _, ulen = await reader.readexactly(2)
                user = (await reader.readexactly(ulen)).decode()
                (plen,) = await reader.readexactly(1)
                self.logins.append((user, (await reader.readexactly(plen)).decode()))
                writer.write(b"\x01\x00")
            else:
                writer.write(b"\x05\x00")
            _version, _command, _reserved, kind = await reader.readexactly(4)
            if kind == 1:
                host = socket.inet_ntoa(await reader.readexactly(4))
            elif kind == 3:
                (length,) = await reader.readexactly(1)
                host = (await reader.readexactly(length)).decode()
            else:
                host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
            port = int.from_bytes(await reader.readexactly(2), "big")
            self.connects.append(f"{host}:{port}")
            up_reader, up_writer = await asyncio.open_connection(*(self.upstream or (host, port)))
            writer.write(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + (0).to_bytes(2, "big"))
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@pytest.fixture
async def forward_proxy() -> AsyncIterator[ForwardProxy]:
    proxy = ForwardProxy()
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()


@pytest.fixture
async def socks_proxy() -> AsyncIterator[Socks5Proxy]:
    proxy = Socks5Proxy()
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()


DatabaseTargets = Callable[[], Awaitable[Path | str]]


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_targets(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DatabaseTargets]:
    """Fresh places for newsbot databases on one back end: each call gives another (a file in a
    temporary folder, or a database on the test session's PostgreSQL server), for a test that opens
    one twice (a restart) or wants a second, empty one; every one is dropped after the test."""
    async with contextlib.AsyncExitStack() as stack:
        made = 0

        async def target() -> Path | str:
            nonlocal made
            made += 1
            if request.param == "sqlite":
                return tmp_path / ("news.db" if made == 1 else f"news-{made}.db")
            server: PostgresServer = request.getfixturevalue("postgres_server")
            # A copy of a template with the schema applied: ~50 ms, against ~1 s of migrating anew.
            template = await server.template("schema", _apply_schema)
            url = await server.make_database(template=template)
            stack.push_async_callback(server.drop_database, url.rsplit("/", 1)[1])
            return url

        yield target


@pytest.fixture
async def db(db_targets: DatabaseTargets) -> AsyncIterator[Database]:
    """A fresh newsbot database on each back end (a module may define its own, seeded one)."""
    database = await open_database(await db_targets())
    try:
        yield database
    finally:
        await database.close()


async def _apply_schema(url: str) -> None:
    database = await open_database(url)
    await database.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throw-away PostgreSQL server for the whole session, started on first use.

    If it cannot start, the error (with the server log's last lines) is raised in every test that
    uses it, so those tests fail with the reason: PostgreSQL tests are never skipped.
    """
    with PostgresServer() as server:
        yield server


@pytest.fixture
async def postgres_url(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """The URL of a fresh, empty database on the session's server, dropped after the test."""
    url = await postgres_server.make_database()
    try:
        yield url
    finally:
        await postgres_server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture
def emulator_state() -> Emulator:
    return Emulator()


@pytest.fixture
async def telegram(emulator_state: Emulator) -> AsyncIterator[RunningEmulator]:
    async with RunningEmulator(emulator_state) as running_emulator:
        yield running_emulator


@pytest.fixture
async def control(telegram: RunningEmulator) -> AsyncIterator[EmulatorClient]:
    async with EmulatorClient(telegram.control_url) as client:
        yield client


@pytest.fixture
async def bot_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Path | str]:
    """The running bot's database: a file, unless a module asks for both back ends with
    ``pytestmark = pytest.mark.parametrize("bot_database", ["sqlite", "postgresql"], indirect=True)``."""
    if getattr(request, "param", "sqlite") == "sqlite":
        yield tmp_path / "newsbot.db"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = await server.make_database(template=await server.template("schema", _apply_schema))
    try:
        yield url
    finally:
        await server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture
def make_settings(
    tmp_path: Path, telegram: RunningEmulator, bot_database: Path | str
) -> Callable[..., Settings]:
    def make(*sources: SourceSettings, admins: tuple[int, ...] = (), **delivery: Any) -> Settings:
        return Settings(
            bot=BotSettings(
                token=Secret(TOKEN),
                api_url=f"http://127.0.0.1:{telegram.port}",
                db=bot_database,
                admins=frozenset(admins),
                timezone="UTC",
            ),
            delivery=replace(DeliverySettings(), **delivery),
            sources=sources,
            # On PostgreSQL a bot stopped abruptly (stop_abruptly) holds its leases this long.
            workers=WorkerSettings(lease_seconds=2.0),
        )

    return make


async def stop_abruptly(app: NewsApp) -> None:
    """Stop a running bot the way a killed process stops: nothing closed, nothing given back (its
    leases on PostgreSQL expire after the lease time, its 'sending' rows wait for the next start)."""
    assert app.updater is not None
    await app.updater.stop()
    await app.stop()
    if app.bot_data.workers_task is not None:
        app.bot_data.workers_task.cancel()  # the heartbeat ends with the process


@pytest.fixture
async def start_bot(telegram: RunningEmulator) -> AsyncIterator[Callable[[Settings], Awaitable[NewsApp]]]:
    """Run the real application against the emulator until the test ends (it may start it twice)."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(settings: Settings) -> NewsApp:
            app = build_application(settings)
            await stack.enter_async_context(running(app))
            return app

        yield start
