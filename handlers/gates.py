"""Cross-cutting gates that run before every command (negative handler groups)."""

from __future__ import annotations

import time

from telegram import Update

from bot.context import NewsContext
from bot.storage import chats


async def remember_chat(update: Update, context: NewsContext) -> None:
    """Record the chat a command came from, so fan-out and /stats know it."""
    chat = update.effective_chat
    if chat is None:
        return
    user = update.effective_user
    await chats.remember_chat(
        context.db,
        chat_id=chat.id,
        chat_type=chat.type,  # type: ignore[arg-type]
        title=chat.title or chat.full_name,
        username=chat.username,
        language=user.language_code if user and chat.type == chat.PRIVATE else None,
        now=time.time(),
    )
