"""Admin commands. A non-admin gets no effect and no hint that they exist."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

from telegram import Update

from bot.context import NewsContext
from bot.i18n import _
from bot.render.admin import stats_text
from bot.render.chart import deliveries_chart
from bot.render.html import escape
from bot.render.moderation import activity_text
from bot.storage import activity, moderation, outbox, subscriptions, watch
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
    now = time.time()
    hours = await activity.deliveries_by_hour(db, now=now)
    # The last hour, from per-hour counters: the whole hour that began an hour ago, and this one.
    since = (now - 3600) // 3600 * 3600
    tr = context.translate()
    text = stats_text(
        tr,
        counts,
        subscriptions=subs,
        dispatcher=context.dispatcher.counters,
        sources=await watch.source_figures(db),
        recent=await watch.outcomes_since(db, since=since),
        recent_since=datetime.fromtimestamp(since, context.settings.bot.tz).strftime("%H:%M"),
    )
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
