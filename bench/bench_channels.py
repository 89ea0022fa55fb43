"""The channel job's storage work per tick, with a deep outbox: milliseconds per pass.

    python bench/bench_channels.py [--deliveries N] [--posts N] [--channels N]

Seeds N finished reader deliveries (default 500,000), channel posts across channels, and a
handful in flight; then times what the job runs every second: settle, list the channels, new
articles, edits due, review cards without a message. Prints medians; never passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.storage import channels, moderation, open_database


async def main(deliveries: int, posts: int, channel_count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = await open_database(Path(folder) / "bench.db")
        now = time.time()
        articles = max(posts // channel_count + 10, 1000)
        started = time.perf_counter()
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO sources (id, name, url, kind, interval, created_at)"
                " VALUES ('wire', 'Wire', 'http://127.0.0.1:9/', 'feed', 60, 0)"
            )
            await conn.executemany(
                "INSERT INTO articles (id, source_id, guid, url, title, published_at, fetched_at)"
                " VALUES (?, 'wire', ?, ?, 'Title', ?, ?)",
                [(i, f"g{i}", f"http://127.0.0.1:9/{i}", now, now) for i in range(1, articles + 1)],
            )
            chats = 5000
            await conn.executemany(
                "INSERT INTO chats (id, type, created_at, updated_at) VALUES (?, 'private', 0, 0)",
                [(i,) for i in range(1, chats + 1)],
            )
            await conn.executemany(
                "INSERT INTO chats (id, type, created_at, updated_at) VALUES (?, 'channel', 0, 0)",
                [(-1000 - c,) for c in range(channel_count)],
            )
            # Finished pushes: the outbox a busy bot keeps for two days.
            await conn.executemany(
                "INSERT INTO outbox (article_id, chat_id, state, next_attempt_at, created_at, sent_at,"
                " message_id) VALUES (?, ?, ?, 0, ?, ?, 1)",
                (
                    (1 + i // chats, 1 + i % chats, "sent" if i % 10 else "failed", now, now)
                    for i in range(deliveries)
                ),
            )
            for c in range(channel_count):
                await conn.execute(
                    "INSERT INTO channels (id, ref, chat_id, options, last_article, created_at)"
                    " VALUES (?, ?, ?, '{\"min_interval\": 60}', ?, 0)",
                    (c + 1, f"@bench{c}", -1000 - c, articles),
                )
                per = posts // channel_count
                await conn.executemany(
                    "INSERT INTO channel_posts (channel_id, article_id, state, message_id, posted_at,"
                    " created_at) VALUES (?, ?, 'posted', 1, ?, 0)",
                    [(c + 1, a, now - (a % 200) * 3600) for a in range(1, per + 1)],
                )
        seeded = time.perf_counter() - started
        timings: dict[str, list[float]] = {k: [] for k in ("settle", "channels", "new", "edits", "cards")}
        for _ in range(30):
            for name, call in (
                ("settle", lambda: channels.settle(db)),
                ("channels", lambda: channels.list_channels(db)),
                ("new", lambda: channels.new_articles(db, after=articles)),
                ("edits", lambda: channels.edits_due(db, now=now)),
                ("cards", lambda: moderation.cardless(db)),
            ):
                t = time.perf_counter()
                await call()
                timings[name].append((time.perf_counter() - t) * 1000)
        await db.close()
    total = sum(statistics.median(v) for v in timings.values())
    print(
        f"seeded {deliveries:,} deliveries, {posts:,} channel posts in {channel_count} channels"
        f" in {seeded:.1f} s"
    )
    for name, values in timings.items():
        print(f"  {name:9s} median {statistics.median(values):7.3f} ms   max {max(values):7.3f} ms")
    print(f"  one tick's storage work: {total:.2f} ms (median sum)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=500_000)
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--channels", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.deliveries, args.posts, args.channels))
