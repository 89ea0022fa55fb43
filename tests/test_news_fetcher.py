"""Tests for bot.news.fetcher, against a loopback aiohttp server and httpx.MockTransport."""

from __future__ import annotations

import asyncio
import gzip
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import brotli
import httpx
import pytest
from aiohttp import web

from bot.news import fetcher as fetcher_module
from bot.news.fetcher import (
    BlockedAddress,
    BodyTooLarge,
    Fetcher,
    FetchNetworkError,
    FetchTimeout,
    HTTPStatusError,
    InvalidURL,
    TooManyRedirects,
    is_blocked_ip,
    parse_retry_after,
)

Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


async def _feed(request: web.Request) -> web.StreamResponse:
    if request.headers.get("If-None-Match") == '"v1"':
        return web.Response(status=304, headers={"ETag": '"v1"'})
    return web.Response(
        body=b"<rss/>",
        content_type="application/rss+xml",
        headers={"ETag": '"v1"', "Last-Modified": "Fri, 26 Jul 2024 16:55:00 GMT"},
    )


async def _slow(request: web.Request) -> web.StreamResponse:
    await asyncio.sleep(2)
    return web.Response(text="late")


async def _trickle(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    await response.prepare(request)
    for _ in range(20):
        await response.write(b"x" * 10)
        await asyncio.sleep(0.1)
    return response


async def _big_chunked(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    for _ in range(50):
        await response.write(b"y" * 1000)
    return response


async def _to_self(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/feed")


# 50 MB of zeros, gzipped twice: a few hundred bytes on the wire.
_BOMB_INNER = 50_000_000
_BOMB = gzip.compress(gzip.compress(b"\0" * _BOMB_INNER))


async def _encoded(request: web.Request) -> web.StreamResponse:
    kind = request.match_info["kind"]
    if kind == "bomb":
        return web.Response(body=_BOMB, headers={"Content-Encoding": "gzip, gzip"})
    if kind == "two":
        return web.Response(
            body=brotli.compress(gzip.compress(b"<rss>two layers</rss>")),
            headers={"Content-Encoding": "gzip, br"},
        )
    if kind == "three":
        body = gzip.compress(gzip.compress(gzip.compress(b"x")))
        return web.Response(body=body, headers={"Content-Encoding": "gzip, gzip, gzip"})
    if kind == "deflate":
        raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        return web.Response(
            body=raw.compress(b"raw deflate") + raw.flush(), headers={"Content-Encoding": "deflate"}
        )
    raise web.HTTPNotFound()


async def _other_port_redirect(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound(request.query["to"])


@pytest.fixture
async def server() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/feed", _feed)
    app.router.add_get("/slow", _slow)
    app.router.add_get("/trickle", _trickle)
    app.router.add_get("/big", _big_chunked)
    app.router.add_get("/moved", _to_self)
    app.router.add_get("/encoded/{kind}", _encoded)
    app.router.add_get("/away", _other_port_redirect)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def _mock(handler: Handler) -> httpx.MockTransport:
    return httpx.MockTransport(handler)


async def _ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=b"ok")


# --- loopback server ------------------------------------------------------------------------


async def test_trusted_host_is_fetched_and_untrusted_loopback_is_refused(server: str) -> None:
    async with Fetcher(trusted_hosts=["127.0.0.1"]) as fetcher:
        result = await fetcher.fetch(f"{server}/feed")
    assert result.status == 200
    assert result.content == b"<rss/>"
    assert result.content_type == "application/rss+xml"
    assert result.etag == '"v1"'
    assert result.last_modified == "Fri, 26 Jul 2024 16:55:00 GMT"
    async with Fetcher() as fetcher:
        with pytest.raises(BlockedAddress):
            await fetcher.fetch(f"{server}/feed")
        assert (await fetcher.fetch(f"{server}/feed", trusted=True)).status == 200


async def test_trust_after_construction(server: str) -> None:
    async with Fetcher() as fetcher:
        fetcher.trust(server)
        assert fetcher.is_trusted(f"{server}/anything")
        assert not fetcher.is_trusted("127.0.0.1")  # a URL vouches for its own port, not the whole host
        assert (await fetcher.fetch(f"{server}/moved")).url == f"{server}/feed"


async def test_conditional_get_returns_304(server: str) -> None:
    async with Fetcher(trusted_hosts=["127.0.0.1"]) as fetcher:
        result = await fetcher.fetch(f"{server}/feed", etag='"v1"')
    assert result.status == 304
    assert result.not_modified
    assert result.content == b""


async def test_read_timeout(server: str) -> None:
    async with Fetcher(trusted_hosts=["127.0.0.1"], read_timeout=0.2) as fetcher:
        with pytest.raises(FetchTimeout):
            await fetcher.fetch(f"{server}/slow")


async def test_total_timeout_catches_a_trickling_body(server: str) -> None:
    async with Fetcher(trusted_hosts=["127.0.0.1"], read_timeout=1.0, total_timeout=0.5) as fetcher:
        with pytest.raises(FetchTimeout):
            await fetcher.fetch(f"{server}/trickle")


async def test_streamed_body_over_limit_without_content_length(server: str) -> None:
    async with Fetcher(trusted_hosts=["127.0.0.1"], max_bytes=10_000) as fetcher:
        with pytest.raises(BodyTooLarge):
            await fetcher.fetch(f"{server}/big")


async def test_stacked_encoding_decompression_bomb_is_refused_under_the_byte_cap(server: str) -> None:
    assert len(_BOMB) < 2_000
    async with Fetcher(max_bytes=1_000_000) as fetcher:
        tracemalloc.start()
        try:
            with pytest.raises(BodyTooLarge):
                await fetcher.fetch(f"{server}/encoded/bomb", trusted=True)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # Refused after about one cap's worth of decoded bytes, never the 50 MB behind it.
    assert peak < 10_000_000


async def test_two_encoding_layers_within_the_cap_are_decoded(server: str) -> None:
    async with Fetcher() as fetcher:
        result = await fetcher.fetch(f"{server}/encoded/two", trusted=True)
        raw = await fetcher.fetch(f"{server}/encoded/deflate", trusted=True)
    assert result.content == b"<rss>two layers</rss>"
    assert raw.content == b"raw deflate"


async def test_more_than_two_encoding_layers_are_refused(server: str) -> None:
    async with Fetcher() as fetcher:
        with pytest.raises(FetchNetworkError, match="3 content encodings"):
            await fetcher.fetch(f"{server}/encoded/three", trusted=True)


async def test_trusted_call_does_not_trust_another_port_of_the_same_host(server: str) -> None:
    # The configured feed is on one port; a redirect to another port of 127.0.0.1 is another service.
    async with Fetcher() as fetcher:
        with pytest.raises(BlockedAddress):
            await fetcher.fetch(f"{server}/away?to=http://127.0.0.1:9/secret", trusted=True)
        assert (await fetcher.fetch(f"{server}/moved", trusted=True)).content == b"<rss/>"


async def test_trusting_a_url_trusts_its_port_only(server: str) -> None:
    async with Fetcher() as fetcher:
        fetcher.trust(server)
        assert fetcher.is_trusted(f"{server}/feed")
        assert not fetcher.is_trusted("http://127.0.0.1:9/")
        assert (await fetcher.fetch(f"{server}/feed")).content == b"<rss/>"
        with pytest.raises(BlockedAddress):
            await fetcher.fetch("http://127.0.0.1:9/secret")


async def test_connect_time_check_defeats_dns_rebinding(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A public-looking name whose DNS answer is loopback is refused when dialling."""
    answers = {"news.example": ["127.0.0.1"], "mixed.example": ["93.184.216.34", "10.1.2.3"]}

    async def fake_resolve(host: str, port: int) -> list[str]:
        return answers[host]

    monkeypatch.setattr(fetcher_module, "_system_resolve", fake_resolve)
    port = server.rsplit(":", 1)[1]
    async with Fetcher() as fetcher:
        with pytest.raises(BlockedAddress, match=r"news\.example"):
            await fetcher.fetch(f"http://news.example:{port}/feed")
        with pytest.raises(BlockedAddress, match=r"10\.1\.2\.3"):
            await fetcher.fetch(f"http://mixed.example:{port}/feed")


async def test_unresolvable_host_is_a_network_error(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fail(host: str, port: int) -> list[str]:
        raise OSError("no such host")

    monkeypatch.setattr(fetcher_module, "_system_resolve", fail)
    async with Fetcher() as fetcher:
        with pytest.raises(FetchNetworkError):
            await fetcher.fetch("https://nowhere.example/")


# --- MockTransport --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1/admin",
        "http://10.0.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data",
        "http://localhost/",
        "file:///etc/passwd",
    ],
)
async def test_redirect_to_private_address_is_refused(target: str) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.host == "news.example", "the private target must never be requested"
        return httpx.Response(302, headers={"Location": target})

    async with Fetcher(transport=_mock(handler)) as fetcher:
        with pytest.raises(BlockedAddress):
            await fetcher.fetch("https://news.example/story")


async def test_trusted_call_does_not_trust_redirect_targets() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "http://10.0.0.1/"})

    async with Fetcher(transport=_mock(handler)) as fetcher:
        with pytest.raises(BlockedAddress):
            await fetcher.fetch("http://127.0.0.1:8000/feed", trusted=True)


@pytest.mark.parametrize(
    "url", ["ftp://news.example/feed", "file:///etc/passwd", "gopher://x/", "javascript:1"]
)
async def test_non_http_scheme_is_refused(url: str) -> None:
    async with Fetcher(transport=_mock(_ok)) as fetcher:
        with pytest.raises(BlockedAddress):
            await fetcher.fetch(url)


@pytest.mark.parametrize("url", ["http://", "http://news.example:port/", "not a url"])
async def test_invalid_urls(url: str) -> None:
    async with Fetcher(transport=_mock(_ok)) as fetcher:
        with pytest.raises((InvalidURL, BlockedAddress)):
            await fetcher.fetch(url)


async def test_redirects_are_followed_and_counted() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        step = int(request.url.path.strip("/") or 0)
        if step < 3:
            return httpx.Response(301, headers={"Location": f"/{step + 1}"})
        return httpx.Response(200, content=b"done")

    async with Fetcher(transport=_mock(handler)) as fetcher:
        result = await fetcher.fetch("https://news.example/")
        assert (result.url, result.content) == ("https://news.example/3", b"done")
    async with Fetcher(transport=_mock(handler), max_redirects=2) as fetcher:
        with pytest.raises(TooManyRedirects):
            await fetcher.fetch("https://news.example/")


async def test_body_over_limit_with_content_length() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"z" * 2000)

    async with Fetcher(transport=_mock(handler), max_bytes=1000) as fetcher:
        with pytest.raises(BodyTooLarge, match="Content-Length"):
            await fetcher.fetch("https://news.example/")


async def test_body_over_limit_streamed_and_after_decompression() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"q" * 100

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/bomb":
            body = gzip.compress(b"0" * 50_000)
            return httpx.Response(200, content=body, headers={"Content-Encoding": "gzip"})
        return httpx.Response(200, content=chunks())

    async with Fetcher(transport=_mock(handler), max_bytes=1000) as fetcher:
        with pytest.raises(BodyTooLarge):
            await fetcher.fetch("https://news.example/stream")
        with pytest.raises(BodyTooLarge):
            await fetcher.fetch("https://news.example/bomb")


async def test_headers_and_brotli_decoding() -> None:
    seen: dict[str, str] = {}

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.update(request.headers)
        body = brotli.compress(b"hello brotli")
        return httpx.Response(200, content=body, headers={"Content-Encoding": "br"})

    async with Fetcher(transport=_mock(handler), user_agent="newsbot-test/1") as fetcher:
        result = await fetcher.fetch("https://news.example/", last_modified="Fri, 26 Jul 2024 16:55:00 GMT")
    assert result.content == b"hello brotli"
    assert seen["user-agent"] == "newsbot-test/1"
    assert "br" in seen["accept-encoding"] and "gzip" in seen["accept-encoding"]
    assert seen["if-modified-since"] == "Fri, 26 Jul 2024 16:55:00 GMT"


async def test_retry_after_is_reported() -> None:
    later = datetime.now(UTC) + timedelta(seconds=90)

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/429":
            return httpx.Response(429, headers={"Retry-After": "120"})
        if request.url.path == "/503":
            return httpx.Response(503, headers={"Retry-After": format_datetime(later, usegmt=True)})
        return httpx.Response(404, headers={"Retry-After": "5"})

    async with Fetcher(transport=_mock(handler)) as fetcher:
        with pytest.raises(HTTPStatusError) as too_many:
            await fetcher.fetch("https://news.example/429")
        with pytest.raises(HTTPStatusError) as unavailable:
            await fetcher.fetch("https://news.example/503")
        with pytest.raises(HTTPStatusError) as missing:
            await fetcher.fetch("https://news.example/404")
    assert (too_many.value.status, too_many.value.retry_after) == (429, 120.0)
    assert unavailable.value.status == 503
    assert unavailable.value.retry_after is not None and 80 < unavailable.value.retry_after <= 90
    assert (missing.value.status, missing.value.retry_after) == (404, None)


async def test_mock_transport_timeout_maps_to_fetch_timeout() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("slow", request=request)

    async with Fetcher(transport=_mock(handler)) as fetcher:
        with pytest.raises(FetchTimeout):
            await fetcher.fetch("https://news.example/")


async def test_per_host_concurrency_is_limited() -> None:
    active: dict[str, int] = {}
    peak: dict[str, int] = {}

    async def handler(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        active[host] = active.get(host, 0) + 1
        peak[host] = max(peak.get(host, 0), active[host])
        await asyncio.sleep(0.02)
        active[host] -= 1
        return httpx.Response(200, content=b"ok")

    async with Fetcher(transport=_mock(handler), per_host=2) as fetcher:
        urls = [f"https://{host}.example/{i}" for host in ("a", "b") for i in range(6)]
        results = await asyncio.gather(*(fetcher.fetch(url) for url in urls))
    assert all(result.status == 200 for result in results)
    assert peak == {"a.example": 2, "b.example": 2}


# --- helpers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "blocked"),
    [
        ("93.184.216.34", False),
        ("2606:2800:220:1:248:1893:25c8:1946", False),
        ("127.0.0.1", True),
        ("10.0.0.1", True),
        ("172.16.5.4", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),
        ("100.64.0.1", True),
        ("0.0.0.0", True),
        ("224.0.0.1", True),
        ("240.0.0.1", True),
        ("::1", True),
        ("::", True),
        ("fe80::1", True),
        ("fc00::1", True),
        ("ff02::1", True),
        ("::ffff:10.0.0.1", True),
        ("::ffff:93.184.216.34", False),
        ("2002:7f00:1::", True),
        ("not-an-ip", True),
    ],
)
def test_is_blocked_ip(address: str, blocked: bool) -> None:
    assert is_blocked_ip(address) is blocked


def test_parse_retry_after() -> None:
    now = datetime(2024, 7, 26, 12, 0, tzinfo=UTC)
    assert parse_retry_after("30", now=now) == 30.0
    assert parse_retry_after("Fri, 26 Jul 2024 12:01:00 GMT", now=now) == 60.0
    assert parse_retry_after("Fri, 26 Jul 2024 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("-5", now=now) is None
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None
