"""Housekeeping: nudging the dispatcher, compacting delivered rows, pruning old articles and leases."""

from __future__ import annotations

import logging
import time

from bot.context import NewsContext
from bot.storage import articles, outbox, search, watch
from bot.workers import forget_dead

logger = logging.getLogger(__name__)

COMPACT_BATCH = 250  # rows per transaction at most: a few milliseconds, so no send or poll waits long
COMPACT_PAUSE = 0.01  # seconds between batches, leaving the loop to sends and polls
OUTCOME_HOURS_KEPT = 7 * 86400  # seconds of per-hour outcomes kept for /stats and its chart


async def nudge_dispatcher(context: NewsContext) -> None:
    """Make the dispatcher look for rows that became due (retries, quiet hours ending)."""
    context.dispatcher.wake()


async def compact_deliveries(context: NewsContext) -> None:
    """Fold deliveries older than the window into per-article and per-hour totals; free the pages."""
    hours = context.settings.delivery.keep_delivered_hours
    await watch.prune_outcome_hours(context.db, before=time.time() - OUTCOME_HOURS_KEPT)
    done = await outbox.compact(
        context.db,
        before=time.time() - hours * 3600,
        batch=COMPACT_BATCH,
        pause=COMPACT_PAUSE,
        target=outbox.STEP_TARGET,
    )
    if done.rows or done.pages_freed:
        logger.info(
            "Compacted %d deliveries older than %.0f h in %d batches (longest %.0f ms); freed %d pages",
            done.rows,
            hours,
            done.batches,
            done.longest * 1000,
            done.pages_freed,
        )


async def prune_articles(context: NewsContext) -> None:
    cutoff = time.time() - context.settings.ingest.retention_days * 86400
    removed = await articles.prune(context.db, older_than=cutoff)
    # Saved searches only serve their Next/Previous buttons; a day is plenty.
    await search.prune_search_queries(context.db, older_than=time.time() - 86400)
    if removed:
        logger.info(
            "Pruned %d articles older than %.0f days", removed, context.settings.ingest.retention_days
        )


async def forget_dead_leases(context: NewsContext) -> None:
    """Several workers: delete the leases of workers gone for a day (each start has a new name)."""
    forgotten = await forget_dead(context.db)
    if forgotten:
        logger.info("Forgot %d leases of workers gone for a day", forgotten)
