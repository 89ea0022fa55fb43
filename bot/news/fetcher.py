"""The one safe HTTP fetcher for feeds, listings and article pages.

Exceptions raised by `Fetcher.fetch`::

    FetchError
     ├── InvalidURL          the URL (or a redirect's Location) cannot be parsed
     ├── BlockedAddress      non-http(s) scheme, or a host on a loopback/private/reserved address
     ├── FetchTimeout        connect, read or total time exceeded
     ├── BodyTooLarge        declared, streamed or decoded (any Content-Encoding layer) body over max_bytes
     ├── TooManyRedirects    more than max_redirects hops
     ├── HTTPStatusError     4xx/5xx (and unexpected 3xx); carries status and retry_after
     └── FetchNetworkError   DNS, connection, TLS, protocol or decoding failure; over 2 stacked encodings
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import math
import socket
import ssl
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

import brotli
import httpcore
import httpx

from bot.items import FetchResult

logger = logging.getLogger(__name__)

DEFAULT_USER_AGENT = "newsbot/0.1 (+https://github.com/newsbot)"
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.8, */*;q=0.5"
)
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_RETRY_AFTER_STATUSES = frozenset({429, 503})
_ALLOWED_SCHEMES = frozenset({"http", "https"})
# Content-Encoding layers decoded at most; a real server sends one. Each layer's output is capped.
MAX_ENCODING_LAYERS = 2
_DECODE_PIECE = 65_536  # bytes a decoder may produce at once, so no single call can blow up


class FetchError(Exception):
    """Base class of every failure the fetcher reports."""


class InvalidURL(FetchError):
    """The URL cannot be parsed or has no host."""


class BlockedAddress(FetchError):
    """The URL's scheme or the address its host resolves to is not allowed."""


class FetchTimeout(FetchError):
    """Connecting, reading or the whole exchange took too long."""


class BodyTooLarge(FetchError):
    """The body is larger than the configured limit."""


class TooManyRedirects(FetchError):
    """The redirect chain is longer than the configured limit."""


class HTTPStatusError(FetchError):
    """The server answered with an error status."""

    def __init__(self, status: int, retry_after: float | None = None, message: str | None = None) -> None:
        super().__init__(message or f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


class FetchNetworkError(FetchError):
    """DNS, connection, TLS, protocol or content-decoding failure."""


def is_blocked_ip(address: str) -> bool:
    """Return True when address is not a public unicast address we may connect to."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv6 socket can reach IPv4 hosts through these embeddings; judge the embedded address.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is not None:
            return is_blocked_ip(str(embedded))
        if ip.teredo is not None:
            return True
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Return the delay in seconds that a Retry-After header asks for (None when unusable)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = now or datetime.now(UTC)
    return max(0.0, (when - reference).total_seconds())


async def _system_resolve(host: str, port: int) -> list[str]:
    """Resolve host to its addresses, in the order the system prefers them."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolve once, refuse private answers, then connect to the very address that was checked.

    Checking a hostname and letting the socket layer resolve it again would leave a window for
    DNS rebinding (a first answer that is public, a second that is 127.0.0.1). Here the checked
    address is the one dialled; TLS still uses the hostname for SNI and certificate checks,
    because httpcore passes the origin host to start_tls separately.
    """

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if _is_ip_literal(host):
            addresses = [host]
        else:
            try:
                async with asyncio.timeout(timeout):
                    # Looked up at call time so tests can replace the resolver.
                    addresses = await _system_resolve(host, port)
            except TimeoutError as exc:
                raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
            except (OSError, UnicodeError) as exc:
                raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"{host} has no address")
        # One private answer is enough to refuse: a mixed answer is a classic rebinding trick.
        blocked = [address for address in addresses if is_blocked_ip(address)]
        if blocked:
            raise BlockedAddress(f"{host} resolves to a non-public address {blocked[0]}")
        last_error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@contextlib.contextmanager
def _httpcore_errors() -> Iterator[None]:
    """Translate httpcore's exceptions into the fetcher's own."""
    try:
        yield
    except httpcore.TimeoutException as exc:
        raise FetchTimeout(str(exc) or "timed out") from exc
    except (
        httpcore.NetworkError,
        httpcore.ProtocolError,
        httpcore.UnsupportedProtocol,
        httpcore.ProxyError,
    ) as exc:
        raise FetchNetworkError(str(exc) or type(exc).__name__) from exc


class _ResponseStream(httpx.AsyncByteStream):
    """An httpcore body seen as an httpx stream."""

    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpcore_errors():
            async for chunk in self._stream:
                yield chunk

    async def aclose(self) -> None:
        closer = getattr(self._stream, "aclose", None)
        if closer is not None:
            with _httpcore_errors():
                await closer()


class _PoolTransport(httpx.AsyncBaseTransport):
    """An httpx transport over an httpcore pool whose network backend we choose."""

    def __init__(
        self,
        *,
        backend: httpcore.AsyncNetworkBackend,
        ssl_context: ssl.SSLContext,
        max_connections: int,
        max_keepalive: int,
    ) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive,
            keepalive_expiry=30.0,
            network_backend=backend,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(request.stream, AsyncIterable):
            raise FetchNetworkError("only async request bodies are supported")
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpcore_errors():
            core_response = await self._pool.handle_async_request(core_request)
        assert isinstance(core_response.stream, AsyncIterable)
        return httpx.Response(
            status_code=core_response.status,
            headers=core_response.headers,
            stream=_ResponseStream(core_response.stream),
            extensions=core_response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


def _normalise_host(url_or_host: str) -> str:
    value = url_or_host.strip()
    if "://" not in value:
        value = "//" + value
    try:
        host = urlsplit(value).hostname
    except ValueError:
        return ""
    return (host or "").lower().rstrip(".")


class Fetcher:
    """Fetch URLs safely: address checks on every hop, size and time limits, per-host limits."""

    def __init__(
        self,
        *,
        trusted_hosts: Iterable[str] = (),
        user_agent: str = DEFAULT_USER_AGENT,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        total_timeout: float = 20.0,
        max_bytes: int = 5_000_000,
        max_redirects: int = 5,
        per_host: int = 4,
        transport: httpx.AsyncBaseTransport | None = None,
        proxy: str | None = None,
    ) -> None:
        self._proxied = bool(proxy) and transport is None
        self._trusted: set[str] = set()
        self._trusted_origins: set[tuple[str, str, int]] = set()
        for host in trusted_hosts:
            self.trust(host)
        self._total_timeout = total_timeout
        self._max_bytes = max_bytes
        self._max_redirects = max_redirects
        self._per_host = max(1, per_host)
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        timeout = httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=read_timeout, pool=total_timeout
        )
        headers = {"User-Agent": user_agent, "Accept": _ACCEPT, "Accept-Encoding": "gzip, deflate, br"}

        def client(transport_: httpx.AsyncBaseTransport) -> httpx.AsyncClient:
            return httpx.AsyncClient(
                transport=transport_,
                headers=headers,
                timeout=timeout,
                follow_redirects=False,
                trust_env=False,
            )

        if self._proxied:
            assert proxy
            # The proxy dials the destination, so our backend cannot pin the checked address:
            # fetch() resolves and checks each hop itself before handing it over. The proxy's
            # own address is the operator's choice and is not checked.
            self._guarded = client(
                httpx.AsyncHTTPTransport(
                    proxy=proxy,
                    verify=httpx.create_ssl_context(trust_env=False),
                    trust_env=False,
                    limits=httpx.Limits(max_connections=200, max_keepalive_connections=200),
                )
            )
            self._open = self._guarded
        elif transport is not None:
            # A caller-supplied transport (tests) makes its own connections, so only the
            # URL-level checks (scheme, literal addresses, localhost names) apply.
            self._guarded = client(transport)
            self._open = self._guarded
        else:
            ssl_context = httpx.create_ssl_context(trust_env=False)
            # Two pools: a connection dialled for a trusted host without checks must never be
            # reused by an untrusted request to the same origin. Each keeps every connection it
            # may open: with fewer kept alive, each poll burst closed and redialled the surplus
            # (CPU for nothing); an idle connection still closes after keepalive_expiry.
            self._guarded = client(
                _PoolTransport(
                    backend=_GuardedBackend(),
                    ssl_context=ssl_context,
                    max_connections=200,
                    max_keepalive=200,
                )
            )
            self._open = client(
                _PoolTransport(
                    backend=httpcore.AnyIOBackend(),
                    ssl_context=ssl_context,
                    max_connections=50,
                    max_keepalive=50,
                )
            )

    def trust(self, url_or_host: str) -> None:
        """Skip address checks for a URL's exact scheme, host and port, or for every port of a bare host."""
        if "://" in url_or_host:
            with contextlib.suppress(FetchError):  # an unparsable URL trusts nothing
                self._trusted_origins.add(_origin(_parse_url(url_or_host)))
            return
        host = _normalise_host(url_or_host)
        if host:
            self._trusted.add(host)

    def is_trusted(self, url_or_host: str) -> bool:
        """Return True when url_or_host's origin, or its whole host, was declared trusted."""
        if "://" in url_or_host:
            try:
                if _origin(_parse_url(url_or_host)) in self._trusted_origins:
                    return True
            except FetchError:
                return False
        return _normalise_host(url_or_host) in self._trusted

    def refusal(self, url: str) -> FetchError | None:
        """Why a fetch of this untrusted URL would be refused on its face (no DNS asked), or None."""
        if self.is_trusted(url):
            return None
        try:
            _check_url_address(_parse_url(url))
        except FetchError as exc:
            return exc
        return None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pools."""
        await self._guarded.aclose()
        if self._open is not self._guarded:
            await self._open.aclose()

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        trusted: bool = False,
    ) -> FetchResult:
        """GET url, following redirects hop by hop, and return the size-checked body."""
        current = _parse_url(url)
        # trusted=True vouches for the URL's own scheme, host and port only; a redirect to any
        # other (another port of the same host is another service) is checked.
        call_trusted = {_origin(current)} if trusted else set()
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        for _hop in range(self._max_redirects + 1):
            host = current.host
            origin = _origin(current)
            is_trusted = host in self._trusted or origin in self._trusted_origins or origin in call_trusted
            if not is_trusted:
                _check_url_address(current)
            client = self._open if is_trusted else self._guarded
            async with self._semaphore(host):
                # The total budget starts once we may talk to the host, so queueing behind the
                # per-host limit does not eat it.
                if deadline is None:
                    deadline = loop.time() + self._total_timeout
                try:
                    async with asyncio.timeout_at(deadline):
                        if self._proxied and not is_trusted:
                            await _check_resolved(current)
                        outcome = await self._exchange(client, current, headers)
                except TimeoutError as exc:
                    raise FetchTimeout(f"{url}: no answer within {self._total_timeout:g}s") from exc
            if isinstance(outcome, FetchResult):
                return outcome
            logger.debug("Redirect %s -> %s", current, outcome)
            current = outcome
        raise TooManyRedirects(f"{url}: more than {self._max_redirects} redirects")

    def _semaphore(self, host: str) -> asyncio.Semaphore:
        semaphore = self._semaphores.get(host)
        if semaphore is None:
            semaphore = self._semaphores[host] = asyncio.Semaphore(self._per_host)
        return semaphore

    async def _exchange(
        self, client: httpx.AsyncClient, url: httpx.URL, headers: dict[str, str]
    ) -> FetchResult | httpx.URL:
        """Do one request; return the result, or the next URL when redirected."""
        try:
            async with client.stream("GET", url, headers=headers) as response:
                status = response.status_code
                if status in _REDIRECT_STATUSES:
                    location = response.headers.get("location")
                    if not location:
                        raise HTTPStatusError(status, None, f"HTTP {status} without Location from {url}")
                    try:
                        target = url.join(location.strip())
                    except httpx.InvalidURL as exc:
                        raise InvalidURL(f"bad redirect target {location!r}") from exc
                    return _parse_url(str(target.copy_with(fragment=None)))
                if status == 304:
                    return self._result(url, response, b"")
                if not 200 <= status < 300:
                    retry_after = (
                        parse_retry_after(response.headers.get("retry-after"))
                        if status in _RETRY_AFTER_STATUSES
                        else None
                    )
                    raise HTTPStatusError(status, retry_after, f"HTTP {status} from {url}")
                return self._result(url, response, await self._read_body(url, response))
        except FetchError:
            raise
        except httpx.TimeoutException as exc:
            raise FetchTimeout(f"{url}: {exc or 'timed out'}") from exc
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise InvalidURL(f"{url}: {exc}") from exc
        except (httpx.HTTPError, httpx.StreamError) as exc:
            raise FetchNetworkError(f"{url}: {exc or type(exc).__name__}") from exc

    async def _read_body(self, url: httpx.URL, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length", "").strip()
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise BodyTooLarge(f"{url}: Content-Length {declared} over {self._max_bytes}")
        # Decoded here, not by httpx: each layer in bounded pieces, each under the byte cap, so
        # "gzip, gzip" (1.8 KB that inflates to gigabytes) is refused before it is in memory.
        if response.is_stream_consumed:
            # A caller-supplied transport (httpx's MockTransport) handed over a body it had read
            # and decoded already; the network transports never do.
            if len(response.content) > self._max_bytes:
                raise BodyTooLarge(f"{url}: body over {self._max_bytes} bytes")
            return response.content
        layers = _decoders(response.headers.get("content-encoding", ""), url, self._max_bytes)
        chunks: list[bytes] = []
        size = 0
        try:
            async for raw in response.aiter_raw():
                size += len(raw)
                if size > self._max_bytes:
                    raise BodyTooLarge(f"{url}: body over {self._max_bytes} bytes")
                pieces: list[bytes] = [raw]
                for layer in layers:
                    pieces = [out for piece in pieces for out in layer.feed(piece)]
                chunks.extend(pieces)
        except (zlib.error, brotli.error) as exc:
            raise FetchNetworkError(f"{url}: content decoding failed: {exc}") from exc
        return b"".join(chunks)

    @staticmethod
    def _result(url: httpx.URL, response: httpx.Response, content: bytes) -> FetchResult:
        return FetchResult(
            url=str(url),
            status=response.status_code,
            content=content,
            content_type=response.headers.get("content-type"),
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
        )


class _Decoder:
    """One Content-Encoding layer, decoded in bounded pieces, its total output capped."""

    def __init__(self, encoding: str, url: httpx.URL, cap: int) -> None:
        self._encoding = encoding
        self._url = url
        self._cap = cap
        self._total = 0
        self._brotli = brotli.Decompressor() if encoding == "br" else None
        wbits = zlib.MAX_WBITS | 16 if encoding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        self._zlib = zlib.decompressobj(wbits)
        self._first = True

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Decode data, yielding pieces of at most _DECODE_PIECE bytes."""
        pieces = self._brotli_pieces(data) if self._brotli is not None else self._zlib_pieces(data)
        for piece in pieces:
            self._total += len(piece)
            if self._total > self._cap:
                raise BodyTooLarge(f"{self._url}: {self._encoding} content over {self._cap} bytes decoded")
            yield piece

    def _zlib_pieces(self, data: bytes) -> Iterator[bytes]:
        if self._first and data and self._encoding == "deflate":
            self._first = False
            try:
                out = self._zlib.decompress(data, _DECODE_PIECE)
            except zlib.error:
                # Many servers send raw deflate without the zlib header.
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                out = self._zlib.decompress(data, _DECODE_PIECE)
        else:
            out = self._zlib.decompress(data, _DECODE_PIECE)
        while True:
            if out:
                yield out
            if self._zlib.eof or (not self._zlib.unconsumed_tail and len(out) < _DECODE_PIECE):
                return
            out = self._zlib.decompress(self._zlib.unconsumed_tail, _DECODE_PIECE)

    def _brotli_pieces(self, data: bytes) -> Iterator[bytes]:
        assert self._brotli is not None
        out = self._brotli.process(data, output_buffer_limit=_DECODE_PIECE)
        while True:
            if out:
                yield out
            if self._brotli.can_accept_more_data():
                return
            out = self._brotli.process(b"", output_buffer_limit=_DECODE_PIECE)


def _decoders(header: str, url: httpx.URL, cap: int) -> list[_Decoder]:
    """The decoders for a Content-Encoding header, in the order to apply them."""
    layers = [name.strip().lower() for name in header.split(",")]
    layers = [name for name in layers if name and name != "identity"]
    if len(layers) > MAX_ENCODING_LAYERS:
        raise FetchNetworkError(
            f"{url}: {len(layers)} content encodings stacked, at most {MAX_ENCODING_LAYERS}"
        )
    for name in layers:
        if name not in ("gzip", "x-gzip", "deflate", "br"):
            raise FetchNetworkError(f"{url}: unsupported content encoding {name!r}")
    # The last encoding listed was applied last, so it is undone first.
    return [_Decoder(name, url, cap) for name in reversed(layers)]


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    """(scheme, host, port) with the port made explicit."""
    return url.scheme, url.host.lower().rstrip("."), url.port or (443 if url.scheme == "https" else 80)


def _parse_url(url: str) -> httpx.URL:
    """Parse url and refuse anything but http(s) with a host."""
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise InvalidURL(f"cannot parse URL {url!r}: {exc}") from exc
    if parsed.scheme not in _ALLOWED_SCHEMES:
        raise BlockedAddress(f"scheme {parsed.scheme!r} not allowed in {url!r}")
    if not parsed.host:
        raise InvalidURL(f"no host in {url!r}")
    return parsed


async def _check_resolved(url: httpx.URL) -> None:
    """Resolve url's host and refuse it when any answer is not public, before a proxy is asked.

    The proxy resolves the name again, so a rebinding answer between the two lookups is not
    caught here the way _GuardedBackend catches it; a proxy that refuses private targets itself
    closes that gap.
    """
    host = url.host.lower().rstrip(".")
    if _is_ip_literal(host):
        return  # _check_url_address judged it already
    try:
        addresses = await _system_resolve(host, url.port or (443 if url.scheme == "https" else 80))
    except (OSError, UnicodeError) as exc:
        raise FetchNetworkError(f"cannot resolve {host}: {exc}") from exc
    if not addresses:
        raise FetchNetworkError(f"{host} has no address")
    blocked = [address for address in addresses if is_blocked_ip(address)]
    if blocked:
        raise BlockedAddress(f"{host} resolves to a non-public address {blocked[0]}")


def _check_url_address(url: httpx.URL) -> None:
    """Refuse literal non-public addresses and localhost names before any connection."""
    host = url.host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        raise BlockedAddress(f"{host} is a loopback name")
    if _is_ip_literal(host) and is_blocked_ip(host):
        raise BlockedAddress(f"{host} is not a public address")
