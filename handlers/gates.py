"""Cross-cutting gates that run before every command (negative handler groups)."""

from __future__ import annotations

import logging
import math
import time

from telegram import Update
from telegram.ext import ApplicationHandlerStop

from bot.budget import Verdict
from bot.context import NewsContext
from handlers.common import remember, translate_for

logger = logging.getLogger(__name__)

SLOW_DOWN = "You are sending commands faster than I can answer everyone. Please wait {seconds} s."


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
