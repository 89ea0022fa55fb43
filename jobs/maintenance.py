"""Housekeeping: nudging the dispatcher and pruning old articles."""

from __future__ import annotations

import logging
import time

from bot.context import NewsContext
from bot.storage import articles, search

logger = logging.getLogger(__name__)


async def nudge_dispatcher(context: NewsContext) -> None:
    """Make the dispatcher look for rows that became due (retries, quiet hours ending)."""
    context.dispatcher.wake()


async def prune_articles(context: NewsContext) -> None:
    cutoff = time.time() - context.settings.ingest.retention_days * 86400
    removed = await articles.prune(context.db, older_than=cutoff)
    # Saved searches only serve their Next/Previous buttons; a day is plenty.
    await search.prune_search_queries(context.db, older_than=time.time() - 86400)
    if removed:
        logger.info(
            "Pruned %d articles older than %.0f days", removed, context.settings.ingest.retention_days
        )
