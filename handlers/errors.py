"""The one error handler: log first, then tell the admins, grouped and rate-limited.

Bad input from a reader never reaches here (each handler answers it with the usage line).
What does reach here is a real fault. The first of a kind in a window is sent at once; repeats
are counted and sent as one line with the count when the window closes, so a fault that
repeats every second costs the admins two messages, not thousands.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable

from telegram import Update
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.context import NewsContext
from bot.i18n import Translate
from bot.render.html import clip, escape, utf16_len
from bot.staff import tell_owners

logger = logging.getLogger(__name__)

REPORT_LIMIT = 3500
# Telegram answers that are part of normal life, not faults: a double press that changes
# nothing, a button answered too late, a reader who blocked the bot while we replied.
_BENIGN_BAD_REQUESTS = ("message is not modified", "query is too old", "query id is invalid")


def _benign(error: BaseException) -> bool:
    if isinstance(error, Forbidden):
        return True
    return isinstance(error, BadRequest) and any(p in str(error).lower() for p in _BENIGN_BAD_REQUESTS)


def fault_key(error: BaseException) -> str:
    """What makes two faults "the same": the exception type and the line that raised it."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else "?"
    return f"{type(error).__module__}.{type(error).__qualname__} at {where}"


def _redact(text: str, context: NewsContext) -> str:
    # The token must never leave in a message, whatever an exception chose to quote.
    token = context.settings.bot.token.get()
    return text.replace(token, "<redacted>") if token else text


async def _tell_admins(context: NewsContext, note: Callable[[Translate], str]) -> None:
    settings = context.settings
    language = settings.bot.language
    # bot_data.db, not context.db: a fault during shutdown comes after the database closed.
    await tell_owners(context.bot, context.bot_data.db, settings.bot.admins, note, default_language=language)


async def _tell_reader(update: object, context: NewsContext) -> None:
    """A reader whose command hit a fault hears so (buttons are answered by their handler)."""
    if not isinstance(update, Update):
        return
    message = update.message or update.channel_post
    if message is None:
        return
    try:
        tr = context.translate()
        await message.reply_text(tr("Something went wrong. Please try again later."))
    except TelegramError:
        logger.warning("Could not tell chat %d about the fault", message.chat_id)


async def on_error(update: object, context: NewsContext) -> None:
    error = context.error
    if error is not None and _benign(error):
        logger.info("Ignored Telegram answer while handling an update: %s", error)
        return
    logger.error("Unhandled error while handling %r", update, exc_info=error)
    if error is None or context.bot_data.settings is None:
        return
    reports = context.bot_data.error_reports
    key = fault_key(error)
    # Redact before cutting: a cut through the token would leave half of it unrecognised.
    summary = clip(_redact(f"{type(error).__name__}: {error}", context), 300)
    # Counted before anything is sent: a reply waits for its chat's pace, and the count must not.
    report_now = reports.record(key, summary, time.monotonic())
    await _tell_reader(update, context)
    if not context.settings.bot.admins:
        return
    if not report_now:
        logger.info("Fault %s counted, not reported again within the window", key)
        return
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    trace = _redact(trace, context)
    window = reports.window

    # To each owner in their own language, not the update's chat's.
    def note(tr: Translate) -> str:
        repeats = tr("Repeats within {window} are counted and reported once.").format(
            window=tr.ago(window)  # "10 minutes", "10 минут": Babel's words for the language
        )
        return (
            "<b>" + escape(tr("newsbot error")) + f"</b>\n<pre>{escape(trace[-REPORT_LIMIT:])}</pre>\n"
            f"<i>{escape(repeats)}</i>"
        )

    await _tell_admins(context, note)


async def report_held(context: NewsContext) -> None:
    """Send one line per fault that repeated within its closed window, with how often (a job)."""
    if context.bot_data.settings is None or not context.settings.bot.admins:
        return
    held = context.bot_data.error_reports.take_held(time.monotonic())
    if not held:
        return

    def note(tr: Translate) -> str:
        text = "<b>" + escape(tr("newsbot errors, repeated")) + "</b>"
        for n, h in enumerate(held):
            more = tr.ngettext("<b>{n}</b> more time", "<b>{n}</b> more times", h.count).format(n=h.count)
            line = f"\n• {escape(h.summary)} — {more}"
            if utf16_len(text) + utf16_len(line) > REPORT_LIMIT:
                left = len(held) - n
                text += "\n" + tr.ngettext(
                    "… and {n} more kind of fault", "… and {n} more kinds of fault", left
                ).format(n=left)
                break
            text += line
        return text

    await _tell_admins(context, note)
