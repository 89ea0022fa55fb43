"""The bot's own membership: a reader blocking or unblocking it, a group adding or removing it."""

from __future__ import annotations

import logging
import time

from telegram import ChatMember, Update

from bot.context import NewsContext
from bot.i18n import supported
from bot.models import ChatStatus
from bot.storage import chats

logger = logging.getLogger(__name__)

_PRESENT = {ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER, ChatMember.RESTRICTED}


async def my_chat_member(update: Update, context: NewsContext) -> None:
    """Deactivate a chat that blocked or removed the bot; reactivate one that brought it back."""
    change = update.my_chat_member
    if change is None:
        return
    chat = change.chat
    now = time.time()
    status = change.new_chat_member.status
    await chats.remember_chat(
        context.db,
        chat_id=chat.id,
        chat_type=chat.type,  # type: ignore[arg-type]
        title=chat.title or chat.full_name,
        username=chat.username,
        # Only a language we speak is kept; otherwise the chat follows the bot's default.
        language=supported(change.from_user.language_code) if chat.type == chat.PRIVATE else None,
        now=now,
        reactivate=status in _PRESENT,
    )
    if status not in _PRESENT:
        gone: ChatStatus = "blocked" if chat.type == chat.PRIVATE else "left"
        logger.info("Chat %d: bot is now %s; marking the chat %s", chat.id, status, gone)
        await chats.set_status(context.db, chat_id=chat.id, status=gone, now=now, reason=f"bot {status}")
