"""Small helpers shared by the handlers: where a command came from, and who may change things."""

from __future__ import annotations

import time

from telegram import Chat, Message, Update
from telegram.constants import ChatMemberStatus

from bot.context import NewsContext
from bot.storage import chats


def thread_of(message: Message | None) -> int:
    """The forum topic a message was written in, 0 outside topics."""
    if message is not None and message.is_topic_message and message.message_thread_id:
        return message.message_thread_id
    return 0


async def may_configure(update: Update, context: NewsContext) -> bool:
    """In private chats anyone; in groups only the group's administrators, as Telegram says."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None:
        return False
    if chat.type == Chat.PRIVATE:
        return True
    member = await context.bot.get_chat_member(chat.id, user.id)
    return member.status in {ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR}


async def remember(update: Update, context: NewsContext, *, reactivate: bool = False) -> None:
    """Record the chat an update came from; ``reactivate`` marks it active again (a /start)."""
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
        # A group's language is not its member's: only a private chat takes the user's.
        language=user.language_code if user and chat.type == Chat.PRIVATE else None,
        now=time.time(),
        reactivate=reactivate,
    )
