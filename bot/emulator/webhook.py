"""Webhook delivery of the emulator: POST each queued update to the bot, in order, as Telegram does.

One update at a time, the oldest first; an update leaves the queue only when the bot answers
2xx. A failed delivery (no connection, a timeout, any other status) is retried after a
back-off that doubles up to a cap, and is described by getWebhookInfo (``last_error_date``,
``last_error_message``) meanwhile. Only loopback addresses are ever called: setWebhook refuses
the rest, so the emulator never reaches off the machine.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from urllib.parse import urlsplit

import aiohttp

from bot.emulator.state import JSON, Emulator

__all__ = ["SECRET_HEADER", "deliver_webhooks", "is_loopback_url"]

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header's name, not a secret
# Telegram gives a webhook about a minute; a test's bot answers in milliseconds.
_TIMEOUT = aiohttp.ClientTimeout(total=10)


def is_loopback_url(url: str) -> bool:
    """True when url's host is localhost or a loopback IP address."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _post(session: aiohttp.ClientSession, hook: JSON, update: JSON) -> str | None:
    """Deliver one update; None when the bot took it, else Telegram's kind of error message."""
    headers = {SECRET_HEADER: str(hook["secret_token"])} if hook.get("secret_token") else {}
    try:
        async with session.post(hook["url"], json=update, headers=headers, allow_redirects=False) as response:
            await response.read()
            if 200 <= response.status < 300:
                return None
            return f"Wrong response from the webhook: {response.status} {response.reason or ''}".rstrip()
    except TimeoutError:
        return "Read timeout expired"
    except aiohttp.ClientConnectorError as exc:
        return f"Connection refused: {exc.os_error.strerror or exc}" if exc.os_error else "Connection refused"
    except aiohttp.ClientError as exc:
        return f"Connection failed: {type(exc).__name__}"


async def deliver_webhooks(emulator: Emulator) -> None:
    """Push queued updates to the webhook while one is set; runs until cancelled."""
    session: aiohttp.ClientSession | None = None
    delay = emulator.webhook_backoff[0]
    try:
        while True:
            hook = emulator.webhook
            pending = emulator.pending_updates(1) if hook.get("url") else []
            if not pending:
                await emulator.update_event().wait()
                continue
            update = pending[0]
            if session is None:
                session = aiohttp.ClientSession(timeout=_TIMEOUT)
            error = await _post(session, hook, update)
            if emulator.webhook is not hook:
                continue  # set or deleted meanwhile: start again with the new one
            if error is None:
                emulator.confirm_updates(update["update_id"] + 1)
                emulator.webhook_deliveries += 1
                delay = emulator.webhook_backoff[0]
                continue
            emulator.webhook_failures += 1
            hook["last_error_date"] = int(time.time())
            hook["last_error_message"] = error
            logger.info("webhook delivery of update %d failed: %s", update["update_id"], error)
            # A new setWebhook or deleteWebhook ends the wait early.
            try:
                await asyncio.wait_for(emulator.webhook_changed().wait(), delay)
                delay = emulator.webhook_backoff[0]
            except TimeoutError:
                delay = min(delay * 2, emulator.webhook_backoff[1])
    finally:
        if session is not None:
            await session.close()
