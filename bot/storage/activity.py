"""Figures for /stats: chats and subscriptions by kind, deliveries per hour by outcome."""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage.interface import Database

# From counters kept by triggers (migration 0011): the same few rows at any number of readers.
CHATS_BY_TYPE = "SELECT type, n FROM chat_type_counts WHERE n > 0"
SUBSCRIPTIONS_BY_KIND = """
SELECT kind, exclude, n FROM subscription_kind_counts WHERE n > 0 ORDER BY kind, exclude
"""
# Outcomes by the hour they happened, from the per-hour counters the recording statement keeps
# (migration 0011): a few rows however many deliveries the outbox holds.
DELIVERIES_BY_HOUR = """
SELECT hour, CAST(SUM(sent) AS BIGINT) AS sent, CAST(SUM(failed) AS BIGINT) AS failed,
       CAST(SUM(blocked + stale) AS BIGINT) AS other
FROM outcome_hours WHERE hour >= :since GROUP BY hour
"""


@dataclass(frozen=True, slots=True)
class HourCounts:
    hour: int  # unix seconds // 3600
    sent: int
    failed: int
    other: int  # blocked chats and items too stale to send


async def chats_by_type(db: Database) -> dict[str, int]:
    return {r["type"]: r["n"] for r in await db.read(CHATS_BY_TYPE)}


async def subscriptions_by_kind(db: Database) -> dict[str, int]:
    """Counts keyed like 'keyword' or 'not keyword'."""
    return {
        ("not " if r["exclude"] else "") + r["kind"]: r["n"] for r in await db.read(SUBSCRIPTIONS_BY_KIND)
    }


async def deliveries_by_hour(db: Database, *, now: float, hours: int = 24) -> list[HourCounts]:
    """One entry per hour of the last ``hours``, oldest first, zeros included."""
    first = int(now // 3600) - hours + 1
    rows = {r["hour"]: r for r in await db.read(DELIVERIES_BY_HOUR, {"since": first})}
    out = []
    for hour in range(first, first + hours):
        r = rows.get(hour)
        out.append(
            HourCounts(hour, int(r["sent"]), int(r["failed"]), int(r["other"]))
            if r
            else HourCounts(hour, 0, 0, 0)
        )
    return out
