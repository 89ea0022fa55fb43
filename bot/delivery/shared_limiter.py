"""PTB's rate-limiter hook, backed by the dispatcher's own limiter.

Command replies and broadcasts go to the same chats under the same Telegram limits, so they
must draw from one budget: a reply that ignores the broadcast's pace earns a 429 for both.
PTB's AIORateLimiter knows no per-private-chat limit and persists nothing, so newsbot plugs in
this one instead. The dispatcher reserves its slots itself and marks its calls ``reserved``.

Everything else here is a reply (or an admin notice): it waits only for room in its chat's
window, not for the even spacing broadcasts keep, so a reader's few quick commands are answered
at once; a broadcast to that chat steps aside while a reply waits, and leaves it an overall slot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from bot.delivery.ratelimit import NEVER, Limiter

logger = logging.getLogger(__name__)

# Calls that put a message in a chat; Telegram's limits count these. Method names are
# case-insensitive in the Bot API, so they are compared in lower case.
LIMITED = frozenset(
    {
        "sendmessage",
        "sendphoto",
        "sendmediagroup",
        "senddocument",
        "sendvideo",
        "editmessagetext",
        "editmessagecaption",
        "copymessage",
        "forwardmessage",
    }
)
RESERVED = {"reserved": True}
POLL = 0.005  # seconds between looks at a window that frees when an answer comes back


class SharedRateLimiter(BaseRateLimiter[dict[str, Any]]):
    """Paces every message-producing call through the shared ``Limiter``; retries a 429 twice."""

    def __init__(self, limiter: Limiter, *, max_retries: int = 2) -> None:
        self.limiter = limiter
        self._max_retries = max_retries

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: dict[str, Any] | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        chat_id = data.get("chat_id")
        if (
            endpoint.lower() not in LIMITED
            or rate_limit_args == RESERVED
            or not isinstance(chat_id, int | str)
        ):
            return await callback(*args, **kwargs)
        key = int(chat_id) if isinstance(chat_id, int) or chat_id.lstrip("-").isdigit() else hash(chat_id)
        private = isinstance(key, int) and key > 0
        for attempt in range(self._max_retries + 1):
            await self._wait_turn(key, private=private)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                wait = exc.retry_after
                seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
                now = time.monotonic()
                self.limiter.flood(key, until=now + seconds, now=now)
                if attempt == self._max_retries:
                    raise
                logger.warning("429 on %s to chat %s; waiting %.0f s", endpoint, chat_id, seconds)
            finally:
                self.limiter.end(key, now=time.monotonic())
        raise AssertionError("unreachable")

    async def _wait_turn(self, chat_id: int, *, private: bool) -> None:
        """Wait for room in the chat's window (not for the broadcast spacing), then overall."""
        limiter = self.limiter
        limiter.reply_waiting(chat_id, private=private, delta=1)
        try:
            while True:
                now = time.monotonic()
                ready = limiter.chat_ready_at(chat_id, now=now, reply=True)
                if ready <= now:
                    break
                await asyncio.sleep(POLL if ready == NEVER else ready - now)
            # From here the broadcast leaves an overall slot free for this reply.
            limiter.claim_for_reply(1)
            try:
                while True:
                    now = time.monotonic()
                    if (
                        limiter.global_room(now, reply=True) > 0
                        and limiter.chat_ready_at(chat_id, now=now, reply=True) <= now
                    ):
                        limiter.begin(chat_id, private=private, now=now)
                        return
                    await asyncio.sleep(POLL)
            finally:
                limiter.claim_for_reply(-1)
        finally:
            limiter.reply_waiting(chat_id, private=private, delta=-1)
