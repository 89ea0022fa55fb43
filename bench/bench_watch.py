"""Watching it (issue 12): what a scrape, /healthz and /stats cost at depth, and what the per-hour
outcome trigger adds to recording a send.

    python bench/bench_watch.py [--rows 1000000] [--record 20000]

Rows are built with bench_depth's bulk SQL, through the real schema. Prints figures with their
goals; never passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

# common.py (through bench_depth) puts the project root on sys.path before the bot imports.
from bench_depth import build, human

from bot.metrics import Metrics
from bot.models import DispatchCounters
from bot.storage import activity, moderation, open_database, outbox, subscriptions, watch
from bot.storage import channels as channel_store

RUNS = 50


async def timed(call: Callable[[], Awaitable[Any]], runs: int = RUNS) -> float:
    """Median milliseconds of ``runs`` calls."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


async def depth(rows: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = await open_database(Path(folder) / "watch.db")
        now = time.time()
        started = time.perf_counter()
        chats = min(rows, 1_000_000)
        sent = rows * 9 // 10
        await build(db, rows=sent, chats=chats, now=now, state="sent", sent_at=now)
        await build(db, rows=rows - sent, chats=min(chats, rows - sent), now=now - 60, first_article=1000)
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO subscriptions (chat_id, kind, created_at) SELECT id, 'all', 0 FROM chats"
            )
        print(
            f"{human(rows)} outbox rows, {human(chats)} chats, built in {time.perf_counter() - started:.0f} s"
        )
        metrics = Metrics(lambda: DispatchCounters(sent=123))

        async def scrape() -> None:
            queue = await watch.queue_figures(db, now=time.time())
            metrics.render(queue, await watch.source_figures(db), now=time.time())

        print(f"  /metrics scrape: {await timed(scrape):.3f} ms median of {RUNS} (goal < 5 ms)")
        print(f"  /healthz write probe: {await timed(lambda: db.check_writable(lock_wait=1.0)):.3f} ms")
        parts: dict[str, Callable[[], Awaitable[Any]]] = {
            "outbox counters": lambda: outbox.stats(db),
            "active subscriptions": lambda: subscriptions.count_active(db),
            "source health": lambda: watch.source_figures(db),
            "last hour": lambda: watch.outcomes_since(db, since=now - 3600),
            "24 hours by hour": lambda: activity.deliveries_by_hour(db, now=now),
            "chats by kind": lambda: activity.chats_by_type(db),
            "subscriptions by kind": lambda: activity.subscriptions_by_kind(db),
            "channel queue": lambda: channel_store.queued_total(db),
            "review queue": lambda: moderation.count_pending(db),
        }
        total = 0.0
        for name, call in parts.items():
            ms = await timed(call, runs=5)
            total += ms
            print(f"  /stats {name}: {ms:.3f} ms")
        print(f"  /stats text, every read: {total:.1f} ms (the chart's drawing not included)")
        await db.close()


async def record_cost(rows: int) -> None:
    """CPU per recorded send, with and without the outcome_hours trigger, alternated."""
    per_row: dict[str, list[float]] = {"with trigger": [], "without": []}
    for attempt in range(6):
        label = "with trigger" if attempt % 2 == 0 else "without"
        with tempfile.TemporaryDirectory() as folder:
            db = await open_database(Path(folder) / "record.db")
            now = time.time()
            await build(db, rows=rows, chats=rows, now=now)
            if label == "without":
                await db.write("DROP TRIGGER outcome_hours_update")
            claimed = await outbox.claim(db, article_id=1, limit=rows, now=now)
            cpu = time.process_time()
            for first in range(0, len(claimed), 50):  # the dispatcher's FLUSH_SIZE
                done = outbox.Outcomes.empty()
                done.sent.extend((i, now, r.id) for i, r in enumerate(claimed[first : first + 50]))
                await outbox.record(db, done)
            per_row[label].append((time.process_time() - cpu) / len(claimed) * 1e6)
            await db.close()
    with_, without = (statistics.median(per_row[k]) for k in ("with trigger", "without"))
    print(
        f"recording {human(rows)} sends in batches of 50: {with_:.1f} µs CPU per send with the trigger, "
        f"{without:.1f} µs without (+{with_ - without:.1f} µs; medians of 3 alternated runs each)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--record", type=int, default=20_000)
    args = parser.parse_args()
    asyncio.run(depth(args.rows))
    asyncio.run(record_cost(args.record))


if __name__ == "__main__":
    main()
