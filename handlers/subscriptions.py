"""/subscribe and /unsubscribe."""

from __future__ import annotations

import time

from telegram import Update

from bot.context import NewsContext
from bot.render.html import escape
from bot.storage import subscriptions
from bot.subscribing import USAGE, UsageError, Wanted, parse_wanted
from handlers.common import may_configure, thread_of


def _describe(wanted: Wanted) -> str:
    text = "all news" if wanted.kind == "all" else f"{wanted.kind} «{wanted.label}»"
    return f"everything except {text}" if wanted.exclude else text


async def subscribe(update: Update, context: NewsContext) -> None:
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    _ = context.translate(update.effective_user.language_code if update.effective_user else None)
    if not await may_configure(update, context):
        await message.reply_text(_("Only the group's administrators can change its subscriptions."))
        return
    try:
        wanted = parse_wanted(context.args or [])
    except UsageError as exc:
        await message.reply_html(_("Usage:") + f" <code>{escape(USAGE)}</code>\n" + escape(str(exc)))
        return
    added = await subscriptions.subscribe(
        context.db,
        chat_id=chat.id,
        thread_id=thread_of(message),
        kind=wanted.kind,
        value=wanted.value,
        label=wanted.label,
        exclude=wanted.exclude,
        now=time.time(),
    )
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
        await message.reply_text(_("Only the group's administrators can change its subscriptions."))
        return
    args = context.args or []
    try:
        wanted = parse_wanted(args) if args else None
    except UsageError as exc:
        usage = USAGE.replace("/subscribe", "/unsubscribe")
        await message.reply_html(_("Usage:") + f" <code>{escape(usage)}</code>\n" + escape(str(exc)))
        return
    removed = await subscriptions.unsubscribe(
        context.db,
        chat_id=chat.id,
        thread_id=thread_of(message),
        kind=wanted.kind if wanted else None,
        value=wanted.value if wanted else "",
        exclude=wanted.exclude if wanted else False,
    )
    if not removed:
        await message.reply_text(_("There was no such subscription."))
    elif wanted is None:
        await message.reply_text(_("Unsubscribed from everything. /subscribe brings the news back."))
    else:
        await message.reply_html(_("Unsubscribed: {what}.").format(what=escape(_describe(wanted))))
