"""Keyword fan-out: the cost of one article with 10,000 and 100,000 keyword subscriptions.

    python bench/bench_keywords.py [--sizes 10000,100000] [--distinct 1000]

Readers pick keywords from a vocabulary of ``--distinct`` words, a few popular ones most often,
100 subscriptions per chat (the default cap). Prints milliseconds per article (median of 5);
the goal is a cost that follows the number of distinct keywords, not of subscriptions.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.storage import open_database, outbox

PER_CHAT = 100


async def measure(count: int, distinct: int) -> tuple[float, int]:
    rng = random.Random(7)
    words = [f"word{n}" for n in range(distinct)]
    with tempfile.TemporaryDirectory() as folder:
        db = await open_database(Path(folder) / "bench.db")
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO sources (id, name, url, kind, interval, created_at)"
                " VALUES ('wire', 'Wire', 'http://127.0.0.1:9/', 'feed', 60, 0)"
            )
            chats = count // PER_CHAT
            await conn.executemany(
                "INSERT INTO chats (id, type, created_at, updated_at) VALUES (?, 'private', 0, 0)",
                ((i,) for i in range(1, chats + 1)),
            )
            rows = []
            for chat in range(1, chats + 1):
                # Zipf-like: a few keywords are wanted by many readers.
                picked = {
                    words[min(int(rng.paretovariate(1.0)) - 1, distinct - 1)] for _ in range(PER_CHAT * 3)
                }
                picked |= set(rng.sample(words, PER_CHAT))
                rows.extend((chat, word) for word in list(picked)[:PER_CHAT])
            await conn.executemany(
                "INSERT INTO subscriptions (chat_id, kind, value, label, created_at)"
                " VALUES (?, 'keyword', ?, ?, 0)",
                ((chat, word, word) for chat, word in rows),
            )
        times = []
        queued = 0
        for n in range(5):
            async with db.transaction() as conn:
                cursor = await conn.execute(
                    "INSERT INTO articles (source_id, guid, url, title, published_at, fetched_at)"
                    " VALUES ('wire', ?, ?, 'Story', 0, 0)",
                    (f"g{n}", f"https://news.example/{n}"),
                )
                assert cursor.lastrowid is not None
                text = f"a story about {words[0]} and {words[n + 10]} with {words[-1]} in it"
                started = time.perf_counter()
                queued = await outbox.fan_out(
                    conn,
                    article_id=cursor.lastrowid,
                    priority=0,
                    category="",
                    source="wire",
                    text=text,
                    now=0,
                    slice_chats=1 << 62,  # the whole audience: the matching is what is timed
                )
                times.append(time.perf_counter() - started)
        await db.close()
    return statistics.median(times), queued


async def main(sizes: list[int], distinct: int) -> None:
    for size in sizes:
        seconds, queued = await measure(size, distinct)
        print(
            f"keyword fan-out, {size:,} keyword subscriptions ({distinct:,} distinct words): "
            f"{seconds * 1000:.1f} ms per article (median of 5), {queued:,} rows queued"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--distinct", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(main([int(s) for s in args.sizes.split(",")], args.distinct))
