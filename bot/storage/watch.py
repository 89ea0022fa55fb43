"""Figures for watching the bot (/metrics, /stats), read from counters on the read connection.

Nothing here counts outbox rows: every figure is a counter kept by the writing transaction, a
probe of an index, or a small table (sources, per-hour outcomes), so a scrape costs the same at
ten queued rows and at ten million.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage.interface import Database

# Summed over slots: on PostgreSQL each connection counts in a row of its own (migration 0014).
OUTBOX_COUNTS = "SELECT state, CAST(SUM(n) AS BIGINT) AS n FROM outbox_counts GROUP BY state"
CHAT_COUNTS = "SELECT status, n FROM chat_counts"
# The oldest delivery that is due now: a skip-scan over the distinct articles with queued rows
# (one per broadcast in progress), then one probe of outbox_due for each article's first row in
# due order, as the dispatcher's own ACTIVE_ARTICLES does every second. Rows held for quiet hours
# or a retry not yet due are not waiting for the bot, so they do not age the queue. The rows of
# one fan-out share their created_at, so an article's first due row carries its age.
OLDEST_DUE = """
WITH RECURSIVE queued (article_id) AS (
    SELECT MIN(article_id) FROM outbox WHERE state = 'queued'
    UNION ALL
    SELECT (SELECT MIN(o.article_id) FROM outbox AS o
            WHERE o.state = 'queued' AND o.article_id > q.article_id)
    FROM queued AS q WHERE q.article_id IS NOT NULL
)
SELECT MIN(o.created_at) AS oldest
FROM queued AS q
JOIN outbox AS o ON o.id = (
    SELECT h.id FROM outbox AS h WHERE h.state = 'queued' AND h.article_id = q.article_id
    ORDER BY h.next_attempt_at, h.id LIMIT 1
)
WHERE q.article_id IS NOT NULL AND o.next_attempt_at <= :now
"""
# Reserved sources (ids starting with '_', broadcasts) are not polled: they have no health.
SOURCE_FIGURES = """
SELECT id, paused, retired_at IS NOT NULL AS retired, consecutive_failures, items_total
FROM sources WHERE substr(id, 1, 1) != '_' ORDER BY id
"""
OUTCOME_HOURS = """
SELECT hour, CAST(SUM(sent) AS BIGINT) AS sent, CAST(SUM(failed) AS BIGINT) AS failed,
       CAST(SUM(blocked) AS BIGINT) AS blocked, CAST(SUM(stale) AS BIGINT) AS stale
FROM outcome_hours WHERE hour >= :since GROUP BY hour
"""
PRUNE_OUTCOME_HOURS = "DELETE FROM outcome_hours WHERE hour < :before"


@dataclass(frozen=True, slots=True)
class QueueFigures:
    by_state: dict[str, int]  # outbox rows by state, compacted ones included
    chats: dict[str, int]  # chats by status
    oldest_due: float | None  # created_at of the oldest delivery due now; None when none is

    @property
    def depth(self) -> int:
        """Deliveries waiting to be sent: queued (due or not) and claimed by the dispatcher."""
        return self.by_state.get("queued", 0) + self.by_state.get("sending", 0)


@dataclass(frozen=True, slots=True)
class SourceFigures:
    id: str
    paused: bool
    retired: bool
    failures: int  # consecutive failed polls
    stored: int  # articles stored from it, ever


@dataclass(frozen=True, slots=True)
class Outcomes:
    """Deliveries finished in a span of time, by outcome."""

    sent: int = 0
    failed: int = 0
    blocked: int = 0
    stale: int = 0


async def queue_figures(db: Database, *, now: float) -> QueueFigures:
    """Outbox and chat counters and the oldest due delivery, without counting rows."""
    by_state = {str(r["state"]): int(r["n"]) for r in await db.read(OUTBOX_COUNTS)}
    chats = {str(r["status"]): int(r["n"]) for r in await db.read(CHAT_COUNTS)}
    rows = await db.read(OLDEST_DUE, {"now": now})
    oldest = rows[0]["oldest"] if rows else None
    return QueueFigures(by_state, chats, None if oldest is None else float(oldest))


async def source_figures(db: Database) -> list[SourceFigures]:
    """Every source's health and article count."""
    return [
        SourceFigures(
            str(r["id"]),
            bool(r["paused"]),
            bool(r["retired"]),
            int(r["consecutive_failures"]),
            int(r["items_total"]),
        )
        for r in await db.read(SOURCE_FIGURES)
    ]


async def outcomes_since(db: Database, *, since: float) -> Outcomes:
    """Deliveries finished in the hours from the one holding ``since`` until now."""
    rows = await db.read(OUTCOME_HOURS, {"since": int(since // 3600)})
    return Outcomes(
        sent=sum(int(r["sent"]) for r in rows),
        failed=sum(int(r["failed"]) for r in rows),
        blocked=sum(int(r["blocked"]) for r in rows),
        stale=sum(int(r["stale"]) for r in rows),
    )


async def fold_counter_slots(db: Database) -> None:
    """Fold the counter rows of closed server connections into slot 0 (PostgreSQL; none on SQLite),
    so the tables stay a few rows per live connection."""
    for statement in db.dialect.fold_slots:
        await db.write(statement)


async def prune_outcome_hours(db: Database, *, before: float) -> int:
    """Drop per-hour outcomes older than ``before``; return how many hours went."""
    return await db.write(PRUNE_OUTCOME_HOURS, {"before": int(before // 3600)})
