"""Small helpers shared by the handlers: where a command came from, and who may change things."""

from __future__ import annotations

from telegram import Chat, Message, Update
from telegram.constants import ChatMemberStatus

from bot.context import NewsContext


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
