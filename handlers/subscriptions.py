"""/subscribe, /unsubscribe, /mysubs and their buttons."""

from __future__ import annotations

import time

from telegram import InlineKeyboardMarkup, Message, Update

from bot.context import NewsContext
from bot.render import callbacks, keyboards
from bot.render.html import escape
from bot.storage import sources, subscriptions
from bot.subscribing import USAGE, UsageError, Wanted, parse_wanted
from handlers.common import may_configure, thread_of

CATEGORY_WINDOW = 14 * 86400  # categories offered on the menu: those seen in two weeks
NOT_ADMIN = "Only the group's administrators can change its subscriptions."


def _describe(wanted: Wanted) -> str:
    text = "all news" if wanted.kind == "all" else f"{wanted.kind} «{wanted.label}»"
    return f"everything except {text}" if wanted.exclude else text


TOO_MANY = (
    "This chat already has {limit} subscriptions, the most a chat may have. Remove some with /mysubs first."
)


async def _add(context: NewsContext, chat_id: int, thread_id: int, wanted: Wanted) -> bool:
    """Subscribe; raises ``TooManySubscriptions`` at the configured cap."""
    return await subscriptions.subscribe(
        context.db,
        chat_id=chat_id,
        thread_id=thread_id,
        kind=wanted.kind,
        value=wanted.value,
        label=wanted.label,
        exclude=wanted.exclude,
        now=time.time(),
        limit=context.settings.delivery.max_subscriptions,
    )


async def subscribe(update: Update, context: NewsContext) -> None:
    """With arguments subscribe at once; without, offer the choices as buttons."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    _ = context.translate(update.effective_user.language_code if update.effective_user else None)
    if not await may_configure(update, context):
        await message.reply_text(_(NOT_ADMIN))
        return
    if not context.args:
        categories = await subscriptions.recent_categories(context.db, since=time.time() - CATEGORY_WINDOW)
        known = [(s.id, s.name) for s in await sources.list_sources(context.db) if not s.paused]
        menu = keyboards.subscribe_menu(categories, known, everything=_("Everything"))
        await message.reply_text(_("What would you like to receive?"), reply_markup=menu)
        return
    try:
        wanted = parse_wanted(context.args)
    except UsageError as exc:
        await message.reply_html(_("Usage:") + f" <code>{escape(USAGE)}</code>\n" + escape(str(exc)))
        return
    try:
        added = await _add(context, chat.id, thread_of(message), wanted)
    except subscriptions.TooManySubscriptions as exc:
        await message.reply_text(_(TOO_MANY).format(limit=exc.limit))
        return
    what = escape(_describe(wanted))
    if added:
        await message.reply_html(_("Subscribed: {what}. New items will arrive here.").format(what=what))
    else:
        await message.reply_html(_("You already have this subscription: {what}.").format(what=what))


async def unsubscribe(update: Update, context: NewsContext) -> None:
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    _ = context.translate(update.effective_user.language_code if update.effective_user else None)
    if not await may_configure(update, context):
        await message.reply_text(_(NOT_ADMIN))
        return
    args = context.args or []
    if not args:
        # Like /subscribe, no argument offers the choices: each subscription, or all of them.
        text, markup = await _reply_list(context, chat.id, thread_of(message))
        await message.reply_text(text, reply_markup=markup)
        return
    try:
        wanted = parse_wanted(args)
    except UsageError as exc:
        usage = USAGE.replace("/subscribe", "/unsubscribe")
        await message.reply_html(_("Usage:") + f" <code>{escape(usage)}</code>\n" + escape(str(exc)))
        return
    removed = await subscriptions.unsubscribe(
        context.db,
        chat_id=chat.id,
        thread_id=thread_of(message),
        kind=wanted.kind,
        value=wanted.value,
        exclude=wanted.exclude,
    )
    if not removed:
        await message.reply_text(_("There was no such subscription."))
    else:
        await message.reply_html(_("Unsubscribed: {what}.").format(what=escape(_describe(wanted))))


async def _reply_list(
    context: NewsContext, chat_id: int, thread_id: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The /mysubs text and its remove buttons."""
    subs = await subscriptions.list_for_chat(context.db, chat_id=chat_id, thread_id=thread_id)
    _ = context.translate()
    if not subs:
        return _("No subscriptions here. /subscribe to choose some."), None
    lines = [_("Subscriptions here:")] + [f"• {s.describe()}" for s in subs]
    return "\n".join(lines), keyboards.remove_buttons(subs, stop_all=_("✖ Stop all news here"))


async def mysubs(update: Update, context: NewsContext) -> None:
    """List this chat's (topic's) subscriptions, each with a button that removes it."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    text, markup = await _reply_list(context, chat.id, thread_of(message))
    await message.reply_text(text, reply_markup=markup)


def _button_message(update: Update) -> Message | None:
    query = update.callback_query
    if query is None or not isinstance(query.message, Message):
        return None  # too old for Telegram to show us; nothing to edit
    return query.message


async def on_button(update: Update, context: NewsContext) -> None:
    """Subscribe or remove from a button; always answer the query so the client stops spinning."""
    query, chat = update.callback_query, update.effective_chat
    if query is None:
        return
    message = _button_message(update)
    _ = context.translate(query.from_user.language_code)
    try:
        action = callbacks.decode(query.data)
    except callbacks.CallbackDataError:
        await query.answer(_("This button no longer works."))
        return
    if chat is None or message is None:
        await query.answer(_("This button no longer works."))
        return
    if not await may_configure(update, context):
        await query.answer(_(NOT_ADMIN), show_alert=True)
        return
    thread_id = thread_of(message)
    if action.prefix == callbacks.SUBSCRIBE:
        kind, _sep, value = action.arg.partition(":")
        try:
            wanted = parse_wanted([kind, value] if value else [kind])
        except UsageError:
            await query.answer(_("This button no longer works."))
            return
        try:
            added = await _add(context, chat.id, thread_id, wanted)
        except subscriptions.TooManySubscriptions as exc:
            await query.answer(_(TOO_MANY).format(limit=exc.limit)[:200], show_alert=True)
            return
        what = _describe(wanted)
        text = _("Subscribed: {what}.") if added else _("You already have this subscription: {what}.")
        await query.answer(text.format(what=what)[:200])
        if added:
            await message.reply_text(_("Subscribed: {what}. New items will arrive here.").format(what=what))
        return
    # callbacks.REMOVE
    if action.arg == callbacks.ALL:
        await subscriptions.unsubscribe(context.db, chat_id=chat.id, thread_id=thread_id)
        await query.answer(_("Unsubscribed from everything."))
        text, markup = await _reply_list(context, chat.id, thread_id)
        await message.edit_text(text, reply_markup=markup)
        return
    try:
        subscription_id = int(action.arg)
    except ValueError:
        await query.answer(_("This button no longer works."))
        return
    sub = await subscriptions.get_by_id(context.db, chat_id=chat.id, subscription_id=subscription_id)
    removed = await subscriptions.remove_by_id(context.db, chat_id=chat.id, subscription_id=subscription_id)
    if not (removed and sub):
        await query.answer(_("Already removed."))
        return
    await query.answer(_("Removed: {what}.").format(what=sub.describe())[:200])
    text, markup = await _reply_list(context, chat.id, thread_id)
    await message.edit_text(text, reply_markup=markup)
