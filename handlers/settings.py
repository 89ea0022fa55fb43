"""/digest, /quiet, /timezone and /settings: when and how a chat gets its news."""

from __future__ import annotations

import difflib
import time
from functools import lru_cache
from zoneinfo import available_timezones

from telegram import Chat, Message, Update
from telegram.error import BadRequest

from bot.context import NewsContext
from bot.delivery.schedule import ScheduleError, parse_hhmm, parse_range, parse_timezone
from bot.i18n import _
from bot.models import PushOptions
from bot.render import callbacks
from bot.render.html import ANSWER_LIMIT, clip
from bot.render.options import settings_keyboard, settings_text
from bot.storage import chats
from handlers.common import may_configure, reply_usage

DIGEST_USAGE = "/digest HH:MM | /digest off"
QUIET_USAGE = "/quiet HH:MM-HH:MM | /quiet off"
TIMEZONE_USAGE = "/timezone Area/City (Europe/Istanbul)"
NOT_ADMIN = _("Only the group's administrators can change its settings.")
NOT_CHANNEL_ADMIN = _("Only the channel's administrators can change its settings.")
SETTINGS_USAGE = "/settings"
BUTTON_GONE = _("This button no longer works.")
SAVED = _("Saved.")
MAX_ARG = 64  # the longest IANA zone name is about 32 characters; a time range 11


@lru_cache(maxsize=1)
def _zones() -> dict[str, str]:
    return {z.lower(): z for z in available_timezones()}


def _closest_zone(typed: str) -> str | None:
    found = difflib.get_close_matches(typed.lower(), list(_zones()), n=1, cutoff=0.6)
    return _zones()[found[0]] if found else None


def _one_arg(context: NewsContext) -> str | None:
    """The single short, printable argument a settings command takes; None otherwise."""
    args = context.args or []
    if len(args) != 1 or len(args[0]) > MAX_ARG or not args[0].isprintable():
        return None
    return args[0]


async def _allowed(update: Update, context: NewsContext) -> bool:
    message = update.effective_message
    if message is None or update.effective_chat is None:
        return False
    if not await may_configure(update, context):
        channel = update.effective_chat.type == Chat.CHANNEL
        await message.reply_text(context.translate()(NOT_CHANNEL_ADMIN if channel else NOT_ADMIN))
        return False
    return True


async def _usage(update: Update, context: NewsContext, usage: str, problem: str = "") -> None:
    await reply_usage(update, context, usage, problem)


async def _zone(context: NewsContext, chat_id: int) -> str:
    chat = await chats.get_chat(context.db, chat_id=chat_id)
    return (chat.timezone if chat else None) or context.settings.bot.timezone


async def digest(update: Update, context: NewsContext) -> None:
    """Collect news into one message a day at HH:MM (the chat's timezone), or turn that off."""
    if not await _allowed(update, context):
        return
    assert update.effective_message is not None and update.effective_chat is not None
    _ = context.translate()
    if (arg := _one_arg(context)) is None:
        await _usage(update, context, DIGEST_USAGE)
        return
    chat_id = update.effective_chat.id
    if arg.lower() == "off":
        await chats.set_digest(context.db, chat_id=chat_id, at=None, now=time.time())
        await update.effective_message.reply_text(_("Digest off: news arrives as it is published."))
        return
    try:
        at = parse_hhmm(arg)
    except ScheduleError as exc:
        await _usage(update, context, DIGEST_USAGE, exc.explain(context.translate()))
        return
    await chats.set_digest(context.db, chat_id=chat_id, at=at, now=time.time())
    zone = await _zone(context, chat_id)
    await update.effective_message.reply_text(
        _("News will come as one digest a day at {at} ({zone}).").format(at=at, zone=zone)
    )


async def quiet(update: Update, context: NewsContext) -> None:
    """Hold news during HH:MM-HH:MM and send it as one list afterwards, or turn that off."""
    if not await _allowed(update, context):
        return
    assert update.effective_message is not None and update.effective_chat is not None
    _ = context.translate()
    if (arg := _one_arg(context)) is None:
        await _usage(update, context, QUIET_USAGE)
        return
    chat_id = update.effective_chat.id
    if arg.lower() == "off":
        await chats.set_quiet_hours(context.db, chat_id=chat_id, start=None, end=None, now=time.time())
        await update.effective_message.reply_text(_("Quiet hours off."))
        return
    try:
        start, end = parse_range(arg)
    except ScheduleError as exc:
        await _usage(update, context, QUIET_USAGE, exc.explain(context.translate()))
        return
    await chats.set_quiet_hours(context.db, chat_id=chat_id, start=start, end=end, now=time.time())
    zone = await _zone(context, chat_id)
    await update.effective_message.reply_text(
        _("Quiet hours {start}-{end} ({zone}): news waits and comes as one list.").format(
            start=start, end=end, zone=zone
        )
    )


async def timezone(update: Update, context: NewsContext) -> None:
    """Set the timezone digests, quiet hours and item times use."""
    if not await _allowed(update, context):
        return
    assert update.effective_message is not None and update.effective_chat is not None
    if (arg := _one_arg(context)) is None:
        await _usage(update, context, TIMEZONE_USAGE)
        return
    try:
        zone = parse_timezone(arg)
    except (ScheduleError, OSError):  # OSError: a name the zone database cannot even look up
        _ = context.translate()
        closest = _closest_zone(arg)
        hint = " " + _("Did you mean {zone}?").format(zone=closest) if closest else ""
        await _usage(update, context, TIMEZONE_USAGE, _("Unknown timezone.") + hint)
        return
    await chats.set_timezone(context.db, chat_id=update.effective_chat.id, timezone=zone, now=time.time())
    tr = context.translate()
    await update.effective_message.reply_text(tr("Timezone set: {zone}.").format(zone=zone))


async def settings_command(update: Update, context: NewsContext) -> None:
    """Show how pushed items arrive here (sound, preview, photo, form) as toggle buttons."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    if context.args:
        await reply_usage(update, context, SETTINGS_USAGE)
        return
    if not await _allowed(update, context):
        return
    tr = context.translate()
    found = await chats.get_chat(context.db, chat_id=chat.id)
    options = found.options if found else PushOptions()
    await message.reply_text(settings_text(tr), reply_markup=settings_keyboard(options, tr))


async def on_settings_button(update: Update, context: NewsContext) -> None:
    """Set the option a /settings button names and redraw the buttons; always answer the press."""
    query, chat = update.callback_query, update.effective_chat
    if query is None:
        return
    tr = context.translate()
    message = query.message if isinstance(query.message, Message) else None
    try:
        name, on = callbacks.option_choice(callbacks.decode(query.data))
    except callbacks.CallbackDataError:
        await query.answer(tr(BUTTON_GONE))
        return
    if chat is None or message is None:
        await query.answer(tr(BUTTON_GONE))  # too old for Telegram to show us; nothing to edit
        return
    if not await may_configure(update, context):
        refusal = NOT_CHANNEL_ADMIN if chat.type == Chat.CHANNEL else NOT_ADMIN
        await query.answer(clip(tr(refusal), ANSWER_LIMIT), show_alert=True)
        return
    if not await chats.set_option(context.db, chat_id=chat.id, name=name, on=on, now=time.time()):
        await query.answer(tr(BUTTON_GONE))  # a chat the database forgot: /settings again redraws it
        return
    found = await chats.get_chat(context.db, chat_id=chat.id)
    await query.answer(tr(SAVED))
    try:
        await message.edit_reply_markup(settings_keyboard(found.options if found else PushOptions(), tr))
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():  # a double press: already drawn this way
            raise
