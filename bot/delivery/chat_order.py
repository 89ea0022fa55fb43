"""Updates of different chats side by side, each chat's updates strictly in the order they came.

PTB's ``concurrent_updates(True)`` runs every update as its own task, so a reader's five quick
commands raced each other and were answered in any order. This processor keeps one turn per
chat: updates of one chat wait for the one before them (asyncio locks are first come, first
served), while another chat's updates never wait behind them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

# PTB's semaphore wraps our per-chat wait, so one chat's queued updates hold slots while they
# wait: with PTB's usual 256, one reader's flood of commands stalled everyone else. PTB keeps a
# task per update anyway, so a high bound costs nothing more.
MAX_CONCURRENT = 65_536


@dataclass(slots=True)
class _Turn:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0


def chat_key(update: object) -> int | None:
    """The chat whose order an update belongs to (the user's, for updates without a chat)."""
    if not isinstance(update, Update):
        return None
    if update.effective_chat is not None:
        return update.effective_chat.id
    if update.effective_user is not None:
        return update.effective_user.id
    return None


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Processes updates concurrently across chats and in arrival order within one chat."""

    __slots__ = ("_turns",)

    def __init__(self, max_concurrent_updates: int = MAX_CONCURRENT) -> None:
        super().__init__(max_concurrent_updates)
        self._turns: dict[int, _Turn] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = chat_key(update)
        if key is None:
            await coroutine
            return
        turn = self._turns.get(key)
        if turn is None:
            turn = self._turns[key] = _Turn()
        turn.waiting += 1
        try:
            async with turn.lock:
                await coroutine
        finally:
            turn.waiting -= 1
            if not turn.waiting:
                del self._turns[key]  # a chat's turn lives only while it has updates

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""
