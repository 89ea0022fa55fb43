"""Cross-cutting gates that run before every command (negative handler groups)."""

from __future__ import annotations

from telegram import Update

from bot.context import NewsContext
from handlers.common import remember


async def remember_chat(update: Update, context: NewsContext) -> None:
    """Record the chat a command came from, so fan-out and /stats know it."""
    await remember(update, context)
