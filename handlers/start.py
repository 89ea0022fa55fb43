"""/start and /help: what the bot is and how to use it."""

from __future__ import annotations

from telegram import Update

from bot.context import NewsContext
from bot.render.help import help_text, welcome_text
from bot.storage import chats
from handlers.common import refresh_staff_menu, remember, role_of


async def start(update: Update, context: NewsContext) -> None:
    """Register the chat (reactivating it if it had blocked us) and explain the bot."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    user = update.effective_user
    await remember(update, context, reactivate=True)
    # A chat met for the first time has just taken the reader's language (if we speak it).
    context.chat_language = await chats.language_of(context.db, chat_id=chat.id)
    _ = context.translate()
    role = await role_of(context, user.id if user else None)
    if role is not None and user is not None and chat.id == user.id:
        await refresh_staff_menu(context, user.id)  # their language may have just become known
    await message.reply_html(
        welcome_text(_, is_admin=role in ("owner", "admin"), is_moderator=role == "moderator")
    )


async def help_command(update: Update, context: NewsContext) -> None:
    message, user = update.effective_message, update.effective_user
    if message is None:
        return
    _ = context.translate()
    role = await role_of(context, user.id if user else None)
    await message.reply_html(
        help_text(_, is_admin=role in ("owner", "admin"), is_moderator=role == "moderator")
    )
