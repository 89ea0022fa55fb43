"""Admin commands. A non-admin gets no effect and no hint that they exist."""

from __future__ import annotations

from telegram import Update

from bot.context import NewsContext
from bot.render.admin import stats_text
from bot.storage import outbox, subscriptions


async def stats(update: Update, context: NewsContext) -> None:
    message, user = update.effective_message, update.effective_user
    if message is None or user is None or not context.is_admin(user.id):
        return
    counts = await outbox.stats(context.db)
    subs = await subscriptions.count_active(context.db)
    text = stats_text(counts, subscriptions=subs, dispatcher=context.dispatcher.counters)
    await message.reply_html(f"{text}\n<i>{context.supervisor.summary()}</i>")
