"""Data in and out: a reader's /export and /forget, the admins' /import and /export sources (OPML)."""

from __future__ import annotations

import logging
import time

from telegram import Chat, Message, Update
from telegram.error import TelegramError

from bot.context import NewsContext
from bot.i18n import N_, _
from bot.news.opml import MAX_BYTES, OpmlError, render_opml
from bot.news.opml_import import import_opml
from bot.reader_data import export_chat
from bot.render import callbacks
from bot.render.dataio import (
    EXPORT_USAGE,
    FORGET_USAGE,
    IMPORT_HINT,
    IMPORT_USAGE,
    forget_buttons,
    forget_text,
    import_report_text,
)
from bot.render.html import clip, escape
from bot.storage import chats, moderation, sources
from handlers.common import may_configure, reply_usage, staff_message, translate_for

logger = logging.getLogger(__name__)

NOT_ADMIN = _("Only the group's administrators can do that here.")
NO_DATA = _("The bot keeps nothing about this chat.")
EXPORT_CAPTION = _("The subscriptions and settings the bot keeps for this chat.")
POSTING_CHANNEL = _("The bot posts to this channel on its own: an admin stops that with /channel_remove.")
STALE_BUTTON = _("This button no longer works.")
FORGOTTEN = _("Everything the bot kept about this chat is deleted. Send /start to begin again.")
CANCELLED = _("Nothing was deleted.")
NOT_OPML_FILE = _("Send an OPML file: its name ends in .opml or .xml.")
TOO_BIG = _("The file is larger than 1 MB.")
NOT_IMPORTED = _("Not imported: {reason}")
SOURCES_CAPTION = N_("{count} source (OPML 2.0).", "{count} sources (OPML 2.0).")
OPML_TYPES = ("xml", "opml")


async def _audit(update: Update, context: NewsContext, action: str, details: str = "") -> None:
    user = update.effective_user
    if user is not None:
        await moderation.record(
            context.db, actor=user.id, action=action, target="", details=details, now=time.time()
        )


async def _configurable(update: Update, context: NewsContext, message: Message) -> bool:
    """Private chats always; groups and channels only for their administrators (told otherwise)."""
    if await may_configure(update, context):
        return True
    await message.reply_text(translate_for(update, context)(NOT_ADMIN))
    return False


async def export_command(update: Update, context: NewsContext) -> None:
    """/export: the chat's own data as JSON; /export sources: the admins' OPML of every source."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    args = [a.lower() for a in context.args or []]
    if args == ["sources"]:
        await _export_sources(update, context)
        return
    if args:
        await reply_usage(update, context, EXPORT_USAGE)
        return
    if not await _configurable(update, context, message):
        return
    tr = translate_for(update, context)
    data = await export_chat(context.db, chat_id=chat.id, now=time.time())
    if data is None:
        await message.reply_text(tr(NO_DATA))
        return
    await message.reply_document(
        document=data, filename=f"newsbot-chat-{chat.id}.json", caption=tr(EXPORT_CAPTION)
    )


async def _export_sources(update: Update, context: NewsContext) -> None:
    if (message := await staff_message(update, context, "admin")) is None:
        return
    listed = await sources.list_sources(context.db)
    caption = translate_for(update, context).ngettext(*SOURCES_CAPTION, len(listed)).format(count=len(listed))
    await message.reply_document(
        document=render_opml(listed), filename="newsbot-sources.opml", caption=caption
    )
    await _audit(update, context, "sources export", f"{len(listed)} sources")


async def forget_command(update: Update, context: NewsContext) -> None:
    """Ask before deleting the chat's data; the buttons name the chat row, so they work once."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    if context.args:
        await reply_usage(update, context, FORGET_USAGE)
        return
    if not await _configurable(update, context, message):
        return
    tr = translate_for(update, context)
    if await chats.is_posting_channel(context.db, chat_id=chat.id):
        await message.reply_text(tr(POSTING_CHANNEL))
        return
    stamp = await chats.forget_stamp(context.db, chat_id=chat.id)
    if stamp is None:
        await message.reply_text(tr(NO_DATA))
        return
    await message.reply_text(forget_text(tr), reply_markup=forget_buttons(tr, stamp))


async def on_forget_button(update: Update, context: NewsContext) -> None:
    """Delete (or not) what /forget asked about; always answer the query."""
    query, chat = update.callback_query, update.effective_chat
    if query is None or chat is None:
        return
    tr = translate_for(update, context)
    try:
        confirm, stamp = callbacks.forget_choice(callbacks.decode(query.data))
    except callbacks.CallbackDataError:
        await query.answer(tr(STALE_BUTTON))
        return
    if chat.type != Chat.PRIVATE and not await may_configure(update, context):
        await query.answer(tr(NOT_ADMIN))
        return
    if not confirm:
        if await chats.forget_stamp(context.db, chat_id=chat.id) != stamp:
            await query.answer(tr(STALE_BUTTON))
            return
        await query.answer(tr(CANCELLED))
        await query.edit_message_text(tr(CANCELLED), reply_markup=None)
        return
    if not await chats.forget_chat(context.db, chat_id=chat.id, stamp=stamp):
        await query.answer(tr(STALE_BUTTON))
        return
    logger.info("Chat %d asked to be forgotten: its row, subscriptions and deliveries are deleted", chat.id)
    await query.answer()
    try:
        await query.edit_message_text(tr(FORGOTTEN), reply_markup=None)
    except TelegramError as exc:  # the data is gone either way; the edit is only the receipt
        logger.info("Could not edit the /forget message in chat %d: %s", chat.id, exc)


async def import_command(update: Update, context: NewsContext) -> None:
    """/import alone: say how to send the file (a document whose caption is /import lands below)."""
    if (message := await staff_message(update, context, "admin")) is None:
        return
    if context.args:
        await reply_usage(update, context, IMPORT_USAGE)
        return
    await message.reply_text(translate_for(update, context)(IMPORT_HINT))


def _is_hint_reply(message: Message, context: NewsContext, hint: str) -> bool:
    replied = message.reply_to_message
    return (
        replied is not None
        and replied.from_user is not None
        and replied.from_user.id == context.bot.id
        and replied.text == hint
    )


async def on_document(update: Update, context: NewsContext) -> None:
    """An OPML file with the caption /import, or sent in reply to the /import hint."""
    message = update.effective_message
    if message is None or message.document is None:
        return
    tr = translate_for(update, context)
    captioned = (message.caption or "").split(maxsplit=1)[:1] in (
        ["/import"],
        [f"/import@{context.bot.username}"],
    )
    if not captioned and not _is_hint_reply(message, context, tr(IMPORT_HINT)):
        return  # a file meant for something else
    if await staff_message(update, context, "admin") is None:
        return
    document = message.document
    name = (document.file_name or "").lower()
    mime = (document.mime_type or "").lower()
    if not (name.endswith((".opml", ".xml")) or any(t in mime for t in OPML_TYPES)):
        await message.reply_text(tr(NOT_OPML_FILE))
        return
    if document.file_size is not None and document.file_size > MAX_BYTES:
        await message.reply_text(tr(TOO_BIG))
        return
    await message.reply_chat_action("typing")
    telegram_file = await context.bot.get_file(document.file_id)
    data = bytes(await telegram_file.download_as_bytearray())
    try:
        report = await import_opml(
            context.db, context.fetcher, data, now=time.time(), tz=context.settings.bot.tz
        )
    except OpmlError as exc:
        await message.reply_html(escape(tr(NOT_IMPORTED).format(reason=clip(exc.explain(tr), 300))))
        return
    if context.bot_data.schedule_source is not None:
        for source in report.added:
            context.bot_data.schedule_source(source)
    await _audit(
        update,
        context,
        "sources import",
        f"added {len(report.added)}, present {len(report.present)}, failed {len(report.failed)}",
    )
    await message.reply_html(import_report_text(tr, report))
