"""Cross-cutting gates that run before every command (negative handler groups)."""

from __future__ import annotations

import logging
import math
import time

from telegram import Update
from telegram.ext import ApplicationHandlerStop

from bot.budget import Verdict
from bot.context import NewsContext
from bot.i18n import _
from bot.storage import chats, moderation
from handlers.common import remember, translate_for

logger = logging.getLogger(__name__)

SLOW_DOWN = _("You are sending commands faster than I can answer everyone. Please wait {seconds} s.")


def _sender(update: Update) -> int | None:
    """Whose budget an update spends: the user's, or a channel's when it posts as itself."""
    if update.effective_user is not None:
        return update.effective_user.id
    return update.effective_chat.id if update.effective_chat is not None else None


async def command_budget(update: Update, context: NewsContext) -> None:
    """Spend one command of the sender's budget; over budget, say so once, then stay silent."""
    sender = _sender(update)
    if sender is None:
        return
    budget = context.bot_data.command_budget
    verdict = budget.check(sender, time.monotonic())
    if verdict is Verdict.ALLOW:
        return
    if verdict is Verdict.WARN:
        logger.info("Sender %d is over the command budget; answering once, then ignoring", sender)
        seconds = max(math.ceil(budget.seconds_until_next(sender)), 1)
        text = translate_for(update, context)(SLOW_DOWN).format(seconds=seconds)
        if update.callback_query is not None:
            await update.callback_query.answer(text)
        elif update.effective_message is not None:
            await update.effective_message.reply_text(text)
    elif update.callback_query is not None:
        # Every button press is answered, even a dropped one, or the client keeps spinning.
        await update.callback_query.answer()
    raise ApplicationHandlerStop


async def remember_chat(update: Update, context: NewsContext) -> None:
    """Record the chat a command came from, so fan-out and /stats know it."""
    await remember(update, context)


async def chat_language(update: Update, context: NewsContext) -> None:
    """Read the chat's language once per update, so every reply to it speaks that language."""
    chat = update.effective_chat
    if chat is not None:
        context.chat_language = await chats.language_of(context.db, chat_id=chat.id)


async def drop_banned(update: Update, context: NewsContext) -> None:
    """A banned user's commands, replies and button presses end here, unanswered."""
    user = update.effective_user
    if user is None or user.id in context.settings.bot.admins:
        return
    if not await moderation.is_banned(context.db, user_id=user.id):
        return
    if update.callback_query is not None:
        # Answered with nothing, or the client spins; the press itself has no effect.
        await update.callback_query.answer()
    raise ApplicationHandlerStop
