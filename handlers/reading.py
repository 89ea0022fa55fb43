"""/latest: the newest items, on demand."""

from __future__ import annotations

from telegram import Update

from bot.context import NewsContext
from bot.render.html import escape
from bot.render.lists import latest_list
from bot.storage import articles
from bot.storage.chats import get_chat

LATEST_USAGE = "/latest [1-20]"


async def latest(update: Update, context: NewsContext) -> None:
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    _ = context.translate(update.effective_user.language_code if update.effective_user else None)
    args = context.args or []
    count = 5
    if args:
        if len(args) > 1 or not args[0].isdigit() or not 1 <= int(args[0]) <= 20:
            await message.reply_html(_("Usage:") + f" <code>{escape(LATEST_USAGE)}</code>")
            return
        count = int(args[0])
    items = await articles.latest(context.db, limit=count)
    if not items:
        await message.reply_text(_("No news yet. Try again in a few minutes."))
        return
    known = await get_chat(context.db, chat_id=chat.id)
    tz = (known.timezone if known else None) or context.settings.bot.timezone
    await message.reply_html(latest_list(items, tz=tz, translate=_))
