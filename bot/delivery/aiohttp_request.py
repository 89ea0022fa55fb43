"""PTB's network layer on aiohttp: the same Bot API calls for a fraction of the CPU.

PTB's default ``HTTPXRequest`` runs every call through httpx, httpcore and anyio; profiling the
dispatcher showed those layers (cancel scopes, pool scans, per-request async-library sniffing)
costing well over a millisecond of CPU per message. ``BaseRequest`` is PTB's documented
extension point for another client, and aiohttp is already a dependency.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp_socks import ProxyConnector
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData
from telegram.request._requestparameter import RequestParameter

_FORM = {"Content-Type": "application/x-www-form-urlencoded"}
_JSON = {"Content-Type": "application/json"}
# Parameters whose value the caller already serialised (PTB's convention for form bodies);
# a JSON body carries them as objects, spliced in as they are.
_OBJECT_FIELDS = frozenset({"reply_markup", "link_preview_options", "reply_parameters", "entities"})


# A parameter name the Bot API never uses: a RequestData holding only it is a JSON body the
# caller serialised once (RequestData itself is final, so this marks it instead of a subclass).
JSON_BODY = "newsbot_json_body"


def json_body(params: Mapping[str, Any]) -> RequestData:
    """Bot API parameters as one JSON body for ``BaseRequest.post``; object fields given as JSON go in raw.

    Building PTB's per-parameter request objects and url-encoding them cost more CPU per
    dispatched message than the HTTP exchange; PTB's own answer handling (``ok``, 429,
    migrations, the exception for each status) still runs on the reply.
    """
    plain = {k: v for k, v in params.items() if not (k in _OBJECT_FIELDS and isinstance(v, str))}
    text = json.dumps(plain, ensure_ascii=False, separators=(",", ":"))
    raw = "".join(
        f",{json.dumps(k)}:{v}" for k, v in params.items() if k in _OBJECT_FIELDS and isinstance(v, str)
    )
    if raw:
        text = text[:-1] + raw + "}" if plain else "{" + raw[1:] + "}"
    return RequestData([RequestParameter(JSON_BODY, text, input_files=None)])


class AiohttpRequest(BaseRequest):
    """A ``BaseRequest`` over one pooled ``aiohttp.ClientSession``."""

    __slots__ = (
        "_connect_timeout",
        "_media_write_timeout",
        "_pool_size",
        "_proxy",
        "_read_timeout",
        "_session",
        "_write_timeout",
    )

    def __init__(
        self,
        *,
        connection_pool_size: int = 16,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        media_write_timeout: float | None = 20.0,
        proxy: str | None = None,
    ) -> None:
        self._proxy = proxy or None
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector: aiohttp.BaseConnector
            http_proxy: str | None = None
            if self._proxy is not None and self._proxy.startswith("socks"):
                # aiohttp speaks HTTP proxies itself; SOCKS needs a connector that tunnels.
                connector = ProxyConnector.from_url(self._proxy, limit=self._pool_size, ttl_dns_cache=300)
            else:
                connector = aiohttp.TCPConnector(limit=self._pool_size, ttl_dns_cache=300)
                http_proxy = self._proxy
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": self.USER_AGENT},
                auto_decompress=True,
                proxy=http_proxy,
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        files = request_data.multipart_data if request_data else None
        if isinstance(read_timeout, DefaultValue):
            read_timeout = self._read_timeout
        if isinstance(connect_timeout, DefaultValue):
            connect_timeout = self._connect_timeout
        if isinstance(write_timeout, DefaultValue):
            write_timeout = self._media_write_timeout if files else self._write_timeout
        if isinstance(pool_timeout, DefaultValue):
            pool_timeout = None
        # aiohttp has no separate write timeout; a whole-request bound covers a stalled upload.
        total = None if read_timeout is None or write_timeout is None else read_timeout + write_timeout
        timeout = aiohttp.ClientTimeout(total=total, connect=connect_timeout, sock_read=read_timeout)

        data: aiohttp.FormData | bytes | None = None
        headers = None
        if request_data is not None:
            encoded = request_data.json_parameters
            body = encoded.get(JSON_BODY)
            if body is not None:
                data, headers = body.encode(), _JSON
            elif files:
                form = aiohttp.FormData()
                for name, value in encoded.items():
                    form.add_field(name, value)
                for name, part in files.items():
                    if isinstance(part, tuple):
                        filename, content, *mime = part
                        form.add_field(
                            name, content, filename=filename, content_type=mime[0] if mime else None
                        )
                    else:
                        form.add_field(name, part)
                data = form
            else:
                # Encoded here rather than by aiohttp's FormData, which builds a multipart
                # writer (and a random boundary) for every call before settling on a form.
                data = urlencode(encoded).encode()
                headers = _FORM
        try:
            async with self._session.request(
                method, url, data=data, headers=headers, timeout=timeout
            ) as response:
                return response.status, await response.read()
        except (TimeoutError, asyncio.TimeoutError) as exc:  # noqa: UP041 - aiohttp raises either
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            # The URL holds the bot token; some aiohttp errors quote it whole.
            reason = str(exc).replace(url, "<Bot API URL>")
            if self._proxy is not None:
                # So does the proxy's, which may hold its password.
                reason = reason.replace(self._proxy, "<proxy>")
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {reason}") from exc
