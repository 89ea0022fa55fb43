"""Outgoing proxies: Telegram calls through bot.proxy, fetches through ingest.proxy, checks kept."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest
from aiohttp import web
from telegram import Bot
from telegram.error import NetworkError

from bot.app import NewsApp
from bot.config import Secret, Settings
from bot.delivery.aiohttp_request import AiohttpRequest
from bot.emulator import EmulatorClient, RunningEmulator
from bot.news import fetcher as fetcher_module
from bot.news.fetcher import BlockedAddress, Fetcher
from tests.conftest import TOKEN, FeedServer, ForwardProxy, Socks5Proxy

PUBLIC = "93.184.216.34"


def resolve_to(monkeypatch: pytest.MonkeyPatch, address: str) -> list[str]:
    """Make every name resolve to address; return the names asked."""
    asked: list[str] = []

    async def fake_resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return [address]

    monkeypatch.setattr(fetcher_module, "_system_resolve", fake_resolve)
    return asked


async def test_telegram_calls_reach_the_emulator_through_the_proxy(
    telegram: RunningEmulator, control: EmulatorClient, forward_proxy: ForwardProxy
) -> None:
    await control.add_chat(77, "private")
    request = AiohttpRequest(proxy=forward_proxy.url)
    async with Bot(TOKEN, base_url=telegram.base_url, request=request) as bot:
        await bot.send_message(77, "through the proxy")
    assert (await control.messages(77))[0]["text"] == "through the proxy"
    assert f"POST {telegram.base_url}{TOKEN}/sendMessage" in forward_proxy.requests


async def test_a_dead_proxy_is_a_network_error_that_keeps_its_password_to_itself(
    telegram: RunningEmulator,
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    request = AiohttpRequest(proxy=f"http://reader:hunter2@127.0.0.1:{port}")
    with pytest.raises(NetworkError) as caught:
        async with Bot(TOKEN, base_url=telegram.base_url, request=request):
            pass
    assert "hunter2" not in str(caught.value)


async def test_a_fetch_goes_through_the_proxy_after_its_destination_is_checked(
    feed_server: FeedServer, forward_proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed_server.set("/feed.xml", "<rss/>", content_type="application/rss+xml")
    forward_proxy.upstream = ("127.0.0.1", int(feed_server.base_url.rsplit(":", 1)[1]))
    asked = resolve_to(monkeypatch, PUBLIC)
    async with Fetcher(proxy=forward_proxy.url) as fetcher:
        result = await fetcher.fetch("http://news.example/feed.xml")
    assert result.content == b"<rss/>"
    assert forward_proxy.requests == ["GET http://news.example/feed.xml"]
    assert asked == ["news.example"]  # resolved here, so the check saw the address
    assert feed_server.hits["/feed.xml"] == 1


@pytest.mark.parametrize("url", ["http://intranet.example/admin", "http://10.0.0.7/", "http://localhost/"])
async def test_a_private_destination_is_refused_before_the_proxy_is_asked(
    url: str, forward_proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolve_to(monkeypatch, "10.1.2.3")
    async with Fetcher(proxy=forward_proxy.url) as fetcher:
        with pytest.raises(BlockedAddress):
            await fetcher.fetch(url)
    assert forward_proxy.requests == []


async def test_a_redirect_to_a_private_host_is_refused_through_the_proxy(
    forward_proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://router.example/")

    app = web.Application()
    app.router.add_get("/moved", moved)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    forward_proxy.upstream = ("127.0.0.1", sock.getsockname()[1])

    async def resolve(host: str, port: int) -> list[str]:
        return ["192.168.0.1"] if host == "router.example" else [PUBLIC]

    monkeypatch.setattr(fetcher_module, "_system_resolve", resolve)
    try:
        async with Fetcher(proxy=forward_proxy.url) as fetcher:
            with pytest.raises(BlockedAddress):
                await fetcher.fetch("http://news.example/moved")
    finally:
        await runner.cleanup()
    assert forward_proxy.requests == ["GET http://news.example/moved"]


async def test_the_application_sends_both_kinds_of_traffic_through_their_proxies(
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[NewsApp]],
    telegram: RunningEmulator,
    feed_server: FeedServer,
    forward_proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_settings()
    settings = replace(
        settings,
        bot=replace(settings.bot, proxy=Secret(forward_proxy.url)),
        ingest=replace(settings.ingest, proxy=Secret(forward_proxy.url)),
    )
    app = await start_bot(settings)
    # PTB's initialize() asks getMe first.
    assert f"POST {telegram.base_url}{TOKEN}/getMe" in forward_proxy.requests
    feed_server.set("/feed.xml", "<rss/>", content_type="application/rss+xml")
    forward_proxy.upstream = ("127.0.0.1", int(feed_server.base_url.rsplit(":", 1)[1]))
    resolve_to(monkeypatch, PUBLIC)
    fetcher = app.bot_data.fetcher
    assert fetcher is not None
    result = await fetcher.fetch("http://news.example/feed.xml")
    assert result.content == b"<rss/>"
    assert "GET http://news.example/feed.xml" in forward_proxy.requests


async def test_telegram_calls_go_through_a_socks5_proxy_with_its_login(
    telegram: RunningEmulator, control: EmulatorClient, socks_proxy: Socks5Proxy
) -> None:
    await control.add_chat(77, "private")
    request = AiohttpRequest(proxy=f"socks5://reader:hunter2@127.0.0.1:{socks_proxy.port}")
    async with Bot(TOKEN, base_url=telegram.base_url, request=request) as bot:
        await bot.send_message(77, "through socks")
    assert (await control.messages(77))[0]["text"] == "through socks"
    assert socks_proxy.connects and socks_proxy.connects[0].endswith(f":{telegram.port}")
    assert socks_proxy.logins[0] == ("reader", "hunter2")


async def test_a_fetch_goes_through_a_socks5h_proxy_by_name_after_the_check(
    feed_server: FeedServer, socks_proxy: Socks5Proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed_server.set("/feed.xml", "<rss/>", content_type="application/rss+xml")
    socks_proxy.upstream = ("127.0.0.1", int(feed_server.base_url.rsplit(":", 1)[1]))
    asked = resolve_to(monkeypatch, PUBLIC)
    async with Fetcher(proxy=f"socks5h://127.0.0.1:{socks_proxy.port}") as fetcher:
        result = await fetcher.fetch("http://news.example/feed.xml")
    assert result.content == b"<rss/>"
    assert socks_proxy.connects == ["news.example:80"]
    assert asked == ["news.example"]
