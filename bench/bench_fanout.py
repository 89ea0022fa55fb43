"""Fan-out of one article to N subscriptions (default 1,000,000): seconds and peak RSS.

    python bench/bench_fanout.py [--subscriptions N]

Goal: under 3 s and under 200 MB. Prints figures; never passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.storage import open_database, outbox

# 40% everything, 40% a category, 20% a keyword: (kind, value, exclude)
MIX = (("all", "", 0), ("category", "sport", 0), ("keyword", "baku", 0))


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = await open_database(Path(folder) / "bench.db")
        now = time.time()
        started = time.perf_counter()
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO sources (id, name, url, kind, interval, created_at)"
                " VALUES ('wire', 'Wire', 'http://127.0.0.1:9/', 'feed', 60, 0)"
            )
            await conn.executemany(
                "INSERT INTO chats (id, type, created_at, updated_at) VALUES (?, 'private', 0, 0)",
                ((i,) for i in range(1, count + 1)),
            )
            # A mix: most readers take everything, some a category, a few a keyword or an exclusion.
            await conn.executemany(
                "INSERT INTO subscriptions (chat_id, kind, value, exclude, created_at)"
                " VALUES (?, ?, ?, ?, 0)",
                ((i, *MIX[i % 10 // 4]) for i in range(1, count + 1)),
            )
            await conn.executemany(
                "INSERT INTO subscriptions (chat_id, kind, value, exclude, created_at)"
                " VALUES (?, 'category', 'weather', 1, 0)",
                ((i,) for i in range(1, count + 1, 50)),
            )
            cursor = await conn.execute(
                "INSERT INTO articles (source_id, guid, url, title, category, published_at, fetched_at)"
                " VALUES ('wire', 'g', 'https://x/1', 'Derby in Baku tonight', 'Sport', ?, ?)",
                (now, now),
            )
            article_id = cursor.lastrowid
            assert article_id is not None
        print(f"setup: {count:,} chats and subscriptions in {time.perf_counter() - started:.1f} s")
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
            )
        elapsed = time.perf_counter() - started
        await db.close()
    print(f"fan-out: {queued:,} rows queued in {elapsed:.2f} s (goal < 3 s)")
    print(f"peak RSS: {rss_mb():.0f} MB (before fan-out {rss_before:.0f} MB; goal < 200 MB)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscriptions", type=int, default=1_000_000)
    asyncio.run(main(parser.parse_args().subscriptions))
