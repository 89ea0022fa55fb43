"""Fan-out of one article to N subscriptions (default 1,000,000): seconds, longest slice, peak RSS.

    python bench/bench_fanout.py [--subscriptions N] [--backend sqlite|postgresql] [--postgres URL]
                                 [--slice CHATS]

Goals: SQLite under 3 s and under 200 MB; PostgreSQL 1M under 5 s. With ``--backend postgresql`` and
no ``--postgres`` URL, a throw-away server is started (tests/pgserver.py). Prints figures; never
passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg

from bot.storage import Database, open_database, outbox
from tests.pgserver import PostgresServer

# 40% everything, 40% a category, 20% a keyword: (kind, value, exclude)
MIX = (("all", "", 0), ("category", "sport", 0), ("keyword", "baku", 0))
SOURCE = (
    "INSERT INTO sources (id, name, url, kind, interval, created_at)"
    " VALUES ('wire', 'Wire', 'http://127.0.0.1:9/', 'feed', 60, 0)"
)
ARTICLE = (
    "INSERT INTO articles (source_id, guid, url, title, category, published_at, fetched_at)"
    " VALUES ('wire', 'g', 'https://x/1', 'Derby in Baku tonight', 'Sport', ?, ?) RETURNING id"
)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def subscriptions(count: int) -> Iterator[tuple[int, str, str, int]]:
    """A mix: most readers take everything, some a category, a few a keyword; every 50th excludes."""
    for i in range(1, count + 1):
        yield (i, *MIX[i % 10 // 4])
    for i in range(1, count + 1, 50):
        yield (i, "category", "weather", 1)


async def seed_sqlite(path: Path, count: int, now: float) -> int:
    db = await open_database(path)
    try:
        async with db.transaction() as conn:
            await conn.execute(SOURCE)
            await conn.executemany(
                "INSERT INTO chats (id, type, created_at, updated_at) VALUES (?, 'private', 0, 0)",
                ((i,) for i in range(1, count + 1)),
            )
            await conn.executemany(
                "INSERT INTO subscriptions (chat_id, kind, value, exclude, created_at)"
                " VALUES (?, ?, ?, ?, 0)",
                subscriptions(count),
            )
            async with conn.execute(ARTICLE, (now, now)) as cursor:
                row = await cursor.fetchone()
        return int(row[0])
    finally:
        await db.close()


async def seed_postgres(url: str, count: int, now: float) -> int:
    """COPY, the way a large import reaches PostgreSQL (as migrate-db does, without the counting
    triggers: a row trigger updating one counter row a million times in one transaction leaves a
    million versions of it to walk); the keywords fan-out matches are counted afterwards."""
    await (await open_database(url)).close()  # the schema
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute("ALTER TABLE chats DISABLE TRIGGER USER")
            await conn.execute("ALTER TABLE subscriptions DISABLE TRIGGER USER")
            await conn.execute(SOURCE)
            await conn.copy_records_to_table(
                "chats",
                records=((i, "private", 0.0, 0.0) for i in range(1, count + 1)),
                columns=("id", "type", "created_at", "updated_at"),
            )
            await conn.copy_records_to_table(
                "subscriptions",
                records=((*s, 0.0) for s in subscriptions(count)),
                columns=("chat_id", "kind", "value", "exclude", "created_at"),
            )
            await conn.execute(
                "INSERT INTO keywords (value, exclude, n) SELECT value, exclude, COUNT(*)"
                " FROM subscriptions WHERE kind = 'keyword' GROUP BY value, exclude"
            )
            await conn.execute("ALTER TABLE chats ENABLE TRIGGER USER")
            await conn.execute("ALTER TABLE subscriptions ENABLE TRIGGER USER")
            article_id = await conn.fetchval(ARTICLE.replace("?", "$1", 1).replace("?", "$2", 1), now, now)
        await conn.execute("ANALYZE")
        return int(article_id)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def postgres_database(url: str | None) -> AsyncIterator[str]:
    if url is not None:
        yield url
        return
    with PostgresServer() as server:
        yield await server.make_database()


async def main(count: int, backend: str, postgres: str | None, slice_chats: int) -> None:
    now = time.time()
    async with contextlib.AsyncExitStack() as stack:
        started = time.perf_counter()
        if backend == "sqlite":
            folder = stack.enter_context(tempfile.TemporaryDirectory())
            target: Path | str = Path(folder) / "bench.db"
            article_id = await seed_sqlite(target, count, now)
        else:
            target = await stack.enter_async_context(postgres_database(postgres))
            article_id = await seed_postgres(target, count, now)
        seeded = time.perf_counter() - started
        print(f"setup ({backend}): {count:,} chats and subscriptions in {seeded:.1f} s")
        db = await open_database(target)
        rss_before = rss_mb()
        started = time.perf_counter()
        async with db.transaction() as conn:
            queued = await outbox.fan_out(
                conn,
                article_id=article_id,
                priority=0,
                category="sport",
                source="wire",
                text="derby in baku tonight",
                now=now,
                fresh=True,  # as ingest fans out a story it has just stored: it has no rows yet
                slice_chats=slice_chats,
            )
        first = time.perf_counter() - started
        longest, slices = first, 1
        # The rest a slice per transaction, back to back (the bot's job pauses between slices).
        while True:
            began = time.perf_counter()
            done = await outbox.continue_fan_out(db, now=now, slice_chats=slice_chats)
            if done is None:
                break
            longest = max(longest, time.perf_counter() - began)
            queued += done.added
            slices += 1
        elapsed = time.perf_counter() - started
        dispatch = await dispatch_probes(db, now)
        await db.close()
    goal = "3 s" if backend == "sqlite" else "5 s at 1M"
    print(f"fan-out ({backend}): {queued:,} rows queued in {elapsed:.2f} s (goal < {goal})")
    print(
        f"  first slice ({min(slice_chats, count):,} chats, queued with the story) {first * 1000:.0f} ms;"
        f" {slices} slices, longest {longest * 1000:.0f} ms (the writer held at most that long)"
    )
    print(f"peak RSS: {rss_mb():.0f} MB (before fan-out {rss_before:.0f} MB; goal < 200 MB)")
    print(dispatch)


async def dispatch_probes(db: Database, now: float) -> str:
    """What the dispatcher's first steps cost with the whole audience queued: its look for work
    (every second) and a claim of two seconds' worth at the paid ceiling, as the fan-out left the
    planner's statistics (the story unknown to them) and after an ANALYZE (autovacuum's, later)."""

    async def median_ms(step: Callable[[], Awaitable[object]]) -> float:
        times = []
        for _ in range(5):
            began = time.perf_counter()
            await step()
            times.append((time.perf_counter() - began) * 1000)
        return statistics.median(times)

    async def probe() -> str:
        look = await median_ms(lambda: outbox.active_articles(db, now=now + 1))
        article_id = (await outbox.active_articles(db, now=now + 1))[0][0]
        claim = await median_ms(lambda: outbox.claim(db, article_id=article_id, limit=2000, now=now + 1))
        return f"look for work {look:.2f} ms, a claim of 2,000 rows {claim:.1f} ms"

    figures = [f"dispatch at this depth (medians of 5): {await probe()}"]
    if db.dialect.name == "postgresql":
        await db.maintain("ANALYZE outbox")
        figures.append(f"  after ANALYZE: {await probe()}")
    return "\n".join(figures)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscriptions", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres", metavar="URL", help="a database to use (default: a throw-away server)")
    parser.add_argument(
        "--slice", type=int, default=outbox.FAN_OUT_SLICE, help="chats per slice (a huge figure: unsliced)"
    )
    args = parser.parse_args()
    asyncio.run(main(args.subscriptions, args.backend, args.postgres, args.slice))
