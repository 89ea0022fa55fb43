"""The one error handler: log first, then tell the admins, shortened to fit a message."""

from __future__ import annotations

import html
import logging
import traceback

from telegram.error import TelegramError

from bot.context import NewsContext

logger = logging.getLogger(__name__)

REPORT_LIMIT = 3500


async def on_error(update: object, context: NewsContext) -> None:
    error = context.error
    logger.error("Unhandled error while handling %r", update, exc_info=error)
    if error is None or not context.bot_data.settings or not context.settings.bot.admins:
        return
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    # The token must never leave in a message, whatever an exception chose to quote.
    trace = trace.replace(context.settings.bot.token.get(), "<redacted>")
    text = f"<b>newsbot error</b>\n<pre>{html.escape(trace[-REPORT_LIMIT:])}</pre>"
    for admin in context.settings.bot.admins:
        try:
            await context.bot.send_message(admin, text)
        except TelegramError:
            logger.warning("Could not report the error to admin %d", admin)
