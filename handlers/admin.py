"""Admin commands. A non-admin gets no effect and no hint that they exist."""

from __future__ import annotations

import asyncio
import time

from telegram import Update

from bot.context import NewsContext
from bot.i18n import _
from bot.render.admin import stats_text
from bot.render.chart import deliveries_chart
from bot.render.html import escape
from bot.render.moderation import activity_text
from bot.storage import activity, moderation, outbox, subscriptions
from bot.storage import channels as channel_store
from handlers.common import staff_message

CHART_CAPTION = _("Deliveries per hour, last 24 hours")


async def stats(update: Update, context: NewsContext) -> None:
    """Delivery counts, readers, queues, and a chart of the last day's deliveries."""
    if (message := await staff_message(update, context, "admin")) is None:
        return
    db = context.db
    counts = await outbox.stats(db)
    subs = await subscriptions.count_active(db)
    hours = await activity.deliveries_by_hour(db, now=time.time())
    tr = context.translate()
    text = stats_text(counts, subscriptions=subs, dispatcher=context.dispatcher.counters, translate=tr)
    text += f"\n<i>{escape(context.supervisor.summary(tr))}</i>\n\n" + activity_text(
        await activity.chats_by_type(db),
        await activity.subscriptions_by_kind(db),
        hours,
        channel_queue=await channel_store.queued_total(db),
        review_queue=await moderation.count_pending(db),
        translate=tr,
    )
    await message.reply_html(text)
    # Drawing takes a few hundred milliseconds of CPU: off the event loop, so sends go on.
    png = await asyncio.to_thread(deliveries_chart, hours, context.settings.bot.tz, tr)
    await message.reply_photo(png, caption=tr(CHART_CAPTION))
