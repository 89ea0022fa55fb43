"""/latest: the newest items, on demand."""

from __future__ import annotations

from telegram import Update

from bot.context import NewsContext
from bot.render.lists import latest_list
from bot.storage import articles
from bot.storage.chats import get_chat
from handlers.common import reply_usage, translate_for

LATEST_USAGE = "/latest [1-20]"


async def latest(update: Update, context: NewsContext) -> None:
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    _ = translate_for(update, context)
    args = context.args or []
    count = 5
    if args:
        # ASCII digits only: "²".isdigit() is true, yet int("²") raises.
        text = args[0]
        if len(args) > 1 or not (text.isascii() and text.isdigit() and len(text) <= 2):
            await reply_usage(update, context, LATEST_USAGE)
            return
        count = int(text)
        if not 1 <= count <= 20:
            await reply_usage(update, context, LATEST_USAGE)
            return
    items = await articles.latest(context.db, limit=count)
    if not items:
        await message.reply_text(_("No news yet. Try again in a few minutes."))
        return
    known = await get_chat(context.db, chat_id=chat.id)
    tz = (known.timezone if known else None) or context.settings.bot.timezone
    await message.reply_html(latest_list(items, tz=tz, translate=_))
