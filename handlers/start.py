"""/start and /help: what the bot is and how to use it; a pointer to /help for unknown commands."""

from __future__ import annotations

from telegram import Chat, Update

from bot.context import NewsContext
from bot.i18n import _
from bot.render.help import help_text, welcome_text
from bot.storage import chats
from bot.text import command_target
from handlers.common import refresh_staff_menu, remember, role_of

UNKNOWN_COMMAND = _("I don't know that command. /help lists what I can do.")


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


async def unknown_command(update: Update, context: NewsContext) -> None:
    """Point to /help: always in private; in groups only when the command names this bot."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None or not message.text:
        return
    if chat.type != Chat.PRIVATE:
        # "/foo" alone in a group may be meant for another bot there; only "/foo@ThisBot" is ours.
        target = command_target(message.text)
        if target is None or target.lower() != (context.bot.username or "").lower():
            return
    await message.reply_text(context.translate()(UNKNOWN_COMMAND))
