# ruff: noqa: ASYNC110 - a benchmark polls its own progress
"""The outbox at depth (issue 11): dispatch, idle, /stats and compaction with deep queues.

    python bench/bench_depth.py dispatch [--depths 10000,100000,1000000] [--seconds 20]
    python bench/bench_depth.py idle [--rows 1000000] [--seconds 30]
    python bench/bench_depth.py stats [--rows 1000000,10000000]
    python bench/bench_depth.py prune [--rows 800000] [--cascade]
    python bench/bench_depth.py month [--readers 5000] [--items 200] [--days 30]
    python bench/bench_depth.py forget [--rows 1000000,10000000]

Rows are built with bulk SQL (recursive CTEs), through the real schema and its triggers. The
emulator runs in its own process with Telegram's limits on, so CPU figures are the bot's alone
and every 429 is counted. Prints figures with their goals; never passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

# common.py puts the project root on sys.path, so it comes before the bot imports.
from common import WHOLE_AUDIENCE, emulator_process, make_bot, wait_until_up

from bot.config import DeliverySettings
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.ratelimit import Limiter, Rates
from bot.delivery.sender import make_sender
from bot.emulator import EmulatorClient
from bot.storage import Database, articles, chats, open_database, outbox, subscriptions
from jobs.maintenance import COMPACT_BATCH, COMPACT_PAUSE

FIRST = 10_000_000  # chat ids of the queue start here
LIMITS = DeliverySettings()

# The active-articles query as it was before issue 11, kept to show what the index saves.
OLD_ACTIVE = """
SELECT article_id, MAX(priority) AS priority, MIN(id) AS first_id
FROM outbox WHERE state = 'queued' AND next_attempt_at <= :now
GROUP BY article_id ORDER BY priority DESC, first_id LIMIT 64
"""
OLD_COUNT = "SELECT state, COUNT(*) AS n FROM outbox GROUP BY state"


async def build(
    db: Database,
    *,
    rows: int,
    chats: int,
    now: float,
    state: str = "queued",
    due: float | None = None,
    error: str | None = None,
    first_article: int = 1,
    sent_at: float | None = None,
) -> None:
    """``rows`` outbox rows over ``chats`` chats (rows // chats articles), in one transaction."""
    articles = max(1, rows // chats)
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT OR IGNORE INTO sources (id, name, url, kind, interval, created_at)"
            " VALUES ('wire', 'Wire', 'http://127.0.0.1:9/', 'feed', 60, 0)"
        )
        await conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :chats - 1)"
            " INSERT OR IGNORE INTO chats (id, type, created_at, updated_at)"
            " SELECT :first + i, 'private', 0, 0 FROM n",
            {"chats": chats, "first": FIRST},
        )
        for article in range(first_article, first_article + articles):
            await conn.execute(
                "INSERT INTO articles (id, source_id, guid, url, title, lead, published_at, fetched_at)"
                " VALUES (?, 'wire', ?, ?, ?, 'A lead.', ?, ?)",
                (article, f"g{article}", f"https://news.example/{article}", f"Story {article}", now, now),
            )
            await conn.execute(
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :chats - 1)"
                " INSERT INTO outbox (article_id, chat_id, state, next_attempt_at, created_at, last_error,"
                " sent_at, message_id)"
                " SELECT :article, :first + i, :state, :due, :now, :error, :sent_at,"
                " CASE WHEN :sent_at IS NULL THEN NULL ELSE i + 1 END FROM n",
                {
                    "chats": chats,
                    "first": FIRST,
                    "article": article,
                    "state": state,
                    "due": now if due is None else due,
                    "now": now if sent_at is None else sent_at,
                    "error": error,
                    "sent_at": sent_at,
                },
            )
            # Plain INSERTs bypass fan-out, which keeps the counters: keep them here.
            await conn.execute("UPDATE outbox_counts SET n = n + ? WHERE state = ?", (chats, state))


def p99(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.99)] if values else 0.0


def human(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"


# --- dispatch at depth -------------------------------------------------------------------------


async def dispatch_run(
    db: Database, control: EmulatorClient, port: int, *, rate: float, messages: int
) -> tuple[float, float, int, int]:
    """Send ``messages`` from the queue at ``rate``; return (messages/s, CPU ms per message, 429s, sent)."""
    paid = rate > LIMITS.global_per_second
    await control.reset()
    await control.set_limits(
        global_per_second=rate,
        chat_per_second=LIMITS.chat_per_second,
        group_per_minute=LIMITS.group_per_minute,
    )
    limiter = Limiter(Rates(rate, LIMITS.chat_per_second, LIMITS.group_per_minute, LIMITS.headroom))
    bot = make_bot(port, limiter)
    await bot.initialize()
    dispatcher = Dispatcher(
        db=db,
        send=make_sender(bot, default_tz="UTC", default_language="en", paid_broadcast=paid),
        limiter=limiter,
        stale_after=86_400,
        give_up_after=86_400,
    )
    cpu = time.process_time()
    task = asyncio.create_task(dispatcher.run())
    while dispatcher.counters.sent + dispatcher.counters.failed < messages:
        await asyncio.sleep(0.05)
    cpu = time.process_time() - cpu
    sent = dispatcher.counters.sent
    await dispatcher.stop()
    await task
    await bot.shutdown()
    stats = await control.stats()
    ok = [
        c["t"]
        for c in await control.transcript()
        if c["method"].lower() == "sendmessage" and c["status"] == 200
    ]
    span = max(ok) - min(ok) if len(ok) > 1 else float("nan")
    return (len(ok) - 1) / span, cpu * 1000 / max(sent, 1), int(stats["429"]), sent


async def dispatch(depths: list[int], seconds: float, rates: list[float]) -> None:
    per_run = {rate: int(rate * seconds) for rate in rates}
    known = sum(per_run.values()) + 4000  # the chats the emulator must know: what is sent, and a margin
    with emulator_process(limits=True) as port:
        async with EmulatorClient(f"http://127.0.0.1:{port}/control") as control:
            await wait_until_up(control)
            ids = range(FIRST, FIRST + known)
            for start in range(0, known, 200):
                await asyncio.gather(*(control.add_chat(i, "private") for i in ids[start : start + 200]))
            for depth in depths:
                with tempfile.TemporaryDirectory() as folder:
                    db = await open_database(Path(folder) / "depth.db")
                    started = time.perf_counter()
                    await build(db, rows=depth, chats=depth, now=time.time())
                    await db.fetchall("PRAGMA wal_checkpoint(TRUNCATE)")  # the bulk build is not the run
                    print(
                        f"{human(depth)} rows queued, built in {time.perf_counter() - started:.0f} s",
                        flush=True,
                    )
                    for rate in rates:
                        # At most half the queue per run: the depth stays what it says.
                        achieved, cpu_ms, flood, sent = await dispatch_run(
                            db, control, port, rate=rate, messages=min(per_run[rate], depth // 2)
                        )
                        share = achieved / rate
                        print(
                            f"  paced at {rate:,.0f}/s, {human(depth)} queued: {achieved:,.1f} messages/s "
                            f"({share:.1%}; goal >= 95%), {cpu_ms:.3f} ms CPU per message (goal < 0.5 ms), "
                            f"{flood} answers 429 (goal 0), {sent:,} sent",
                            flush=True,
                        )
                    await db.close()


# --- idle with held rows -----------------------------------------------------------------------


async def idle(rows: int, seconds: float) -> None:
    with emulator_process(limits=True) as port, tempfile.TemporaryDirectory() as folder:
        async with EmulatorClient(f"http://127.0.0.1:{port}/control") as control:
            await wait_until_up(control)
        db = await open_database(Path(folder) / "idle.db")
        now = time.time()
        started = time.perf_counter()
        # Quiet hours: every row waits for a morning eight hours away; 20 articles held overnight.
        await build(db, rows=rows, chats=rows // 20, now=now, due=now + 8 * 3600, error="quiet")
        print(f"{human(rows)} rows held for quiet hours, built in {time.perf_counter() - started:.0f} s")
        cost = []
        for _ in range(3):
            t = time.perf_counter()
            await db.fetchall(OLD_ACTIVE, {"now": time.time()})
            cost.append(time.perf_counter() - t)
        print(
            f"  the active-articles query before issue 11: {statistics.median(cost) * 1000:.1f} ms per call"
        )
        cost = []
        for _ in range(20):
            t = time.perf_counter()
            await outbox.active_articles(db, now=time.time())
            cost.append(time.perf_counter() - t)
        print(f"  the active-articles query now: {statistics.median(cost) * 1000:.3f} ms per call")
        limiter = Limiter(Rates(30, 1, 20))
        bot = make_bot(port, limiter)
        await bot.initialize()
        dispatcher = Dispatcher(
            db=db,
            send=make_sender(bot, default_tz="UTC", default_language="en"),
            limiter=limiter,
            stale_after=86_400,
            give_up_after=86_400,
        )
        task = asyncio.create_task(dispatcher.run())
        await asyncio.sleep(2)  # start-up (release_claims) is not idling
        cpu, wall = time.process_time(), time.perf_counter()
        ends = wall + seconds
        while time.perf_counter() < ends:
            await asyncio.sleep(5)
            dispatcher.wake()  # the application's nudge job does this every 5 s
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        await dispatcher.stop()
        await task
        await bot.shutdown()
        await db.close()
    print(
        f"  idle CPU with {human(rows)} held rows: {cpu / wall:.2%} of a core over {wall:.0f} s (goal < 0.5%)"
    )


# --- /stats ------------------------------------------------------------------------------------


async def stats(sizes: list[int]) -> None:
    for size in sizes:
        with tempfile.TemporaryDirectory() as folder:
            db = await open_database(Path(folder) / "stats.db")
            now = time.time()
            started = time.perf_counter()
            chats = min(size, 1_000_000)
            sent = size * 9 // 10
            await build(db, rows=sent, chats=chats, now=now, state="sent", sent_at=now)
            await build(db, rows=size - sent, chats=min(chats, size - sent), now=now, first_article=1000)
            async with db.transaction() as conn:
                await conn.execute(
                    "INSERT INTO subscriptions (chat_id, kind, created_at) SELECT id, 'all', 0 FROM chats"
                )
            print(
                f"{human(size)} outbox rows, {human(chats)} chats, "
                f"built in {time.perf_counter() - started:.0f} s"
            )
            t = time.perf_counter()
            await db.fetchall(OLD_COUNT)
            old = time.perf_counter() - t
            times = []
            for _ in range(50):
                t = time.perf_counter()
                counts = await outbox.stats(db)
                subs = await subscriptions.count_active(db)
                times.append(time.perf_counter() - t)
            await db.close()
        assert counts.queued == size - sent and subs == chats
        print(
            f"  /stats on {human(size)} rows: {statistics.median(times) * 1000:.3f} ms median of 50 "
            f"(goal < 5 ms); the full count it replaced: {old * 1000:.0f} ms"
        )


async def forget(sizes: list[int]) -> None:
    """/forget (a chat and all its deliveries deleted) on an outbox of ``size`` finished rows."""
    for size in sizes:
        with tempfile.TemporaryDirectory() as folder:
            db = await open_database(Path(folder) / "forget.db")
            now = time.time()
            started = time.perf_counter()
            chats_count = 10_000
            await build(db, rows=size, chats=chats_count, now=now, state="sent", sent_at=now)
            print(
                f"{human(size)} delivered rows, {human(chats_count)} chats,"
                f" built in {time.perf_counter() - started:.0f} s"
            )
            times = []
            for n in range(20):
                stamp = await chats.forget_stamp(db, chat_id=FIRST + n)
                assert stamp is not None
                t = time.perf_counter()
                assert await chats.forget_chat(db, chat_id=FIRST + n, stamp=stamp)
                times.append(time.perf_counter() - t)
            left = int(await db.scalar("SELECT COUNT(*) FROM outbox"))
            await db.close()
        assert left == size - 20 * (size // chats_count)
        print(
            f"  /forget of a chat with {size // chats_count} deliveries:"
            f" {statistics.median(times) * 1000:.1f} ms median of 20"
            f" (longest {max(times) * 1000:.1f} ms), the writer held throughout"
        )


# --- compaction under load ---------------------------------------------------------------------


async def probe(db: Database, waits: list[float], stop: asyncio.Event, kind: str) -> None:
    """A send recording its outcome (or a poll storing items) every 10 ms: how long each waited."""
    while not stop.is_set():
        t = time.perf_counter()
        async with db.transaction() as conn:
            if kind == "send":
                await conn.execute("UPDATE sources SET last_error = NULL WHERE id = 'wire'")
            else:
                await conn.execute("UPDATE sources SET last_polled_at = ? WHERE id = 'wire'", (time.time(),))
        waits.append(time.perf_counter() - t)
        await asyncio.sleep(0.01)


async def prune(rows: int, cascade: bool) -> None:
    """Compact ``rows`` delivered rows three days old or, with ``cascade``, prune their articles
    (31 days old, rows never compacted: the hourly article prune deletes them with the articles),
    while a send and a poll write every 10 ms."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "prune.db"
        db = await open_database(path)
        now = time.time()
        started = time.perf_counter()
        age = (31 if cascade else 3) * 86400
        await build(db, rows=rows, chats=rows // 8, now=now - age, state="sent", sent_at=now - age)
        await db.fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
        size = path.stat().st_size
        print(
            f"{rows:,} delivered rows {age // 86400} days old ({size / 1e6:.0f} MB), "
            f"built in {time.perf_counter() - started:.0f} s"
        )
        sends: list[float] = []
        polls: list[float] = []
        stop = asyncio.Event()
        probes = [
            asyncio.create_task(probe(db, sends, stop, "send")),
            asyncio.create_task(probe(db, polls, stop, "poll")),
        ]
        t = time.perf_counter()
        if cascade:
            pruned = await articles.prune(db, older_than=now - 30 * 86400)
        else:
            done = await outbox.compact(
                db,
                before=now - 48 * 3600,
                batch=COMPACT_BATCH,
                pause=COMPACT_PAUSE,
                target=outbox.STEP_TARGET,
            )
        took = time.perf_counter() - t
        stop.set()
        await asyncio.gather(*probes)
        await db.fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
        after = path.stat().st_size
        stats_after = await outbox.stats(db)
        await db.close()
    if cascade:
        print(
            f"  article prune: {pruned:,} articles and their {rows:,} rows, {took:.1f} s; "
            f"file {size / 1e6:.0f} -> {after / 1e6:.1f} MB"
        )
    else:
        print(
            f"  compaction: {done.rows:,} rows in {done.batches:,} batches, {took:.1f} s; longest "
            f"transaction {done.longest * 1000:.1f} ms; {done.pages_freed:,} pages freed; "
            f"file {size / 1e6:.0f} -> {after / 1e6:.1f} MB"
        )
    print(
        f"  waits meanwhile: send longest {max(sends) * 1000:.1f} ms, "
        f"99th percentile {p99(sends) * 1000:.1f} ms, "
        f"median {statistics.median(sends) * 1000:.2f} ms; "
        f"poll longest {max(polls) * 1000:.1f} ms, 99th percentile {p99(polls) * 1000:.1f} ms "
        "(goal: none over 50 ms); "
        f"/stats still says {stats_after.sent:,} sent"
    )


# --- a simulated month --------------------------------------------------------------------------


async def month(readers: int, items: int, days: int, keep_hours: float, compact: bool) -> None:
    """Every day ``items`` articles reach every reader; compaction and the 30-day prune run daily."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "month.db"
        db = await open_database(path)
        start = time.time() - days * 86400
        await build(db, rows=0, chats=readers, now=start)  # the readers, no rows
        await db.write("DELETE FROM articles")
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO subscriptions (chat_id, kind, created_at) SELECT id, 'all', 0 FROM chats"
            )
        stalls: list[float] = []
        longest_batch = 0.0
        print(f"{readers:,} readers, {items} items a day, deliveries kept {keep_hours:g} h", flush=True)
        for day in range(days):
            wall = time.perf_counter()
            base = start + day * 86400
            async with db.transaction() as conn:
                for n in range(items):
                    at = base + n * 86400 / items
                    cursor = await conn.execute(
                        "INSERT INTO articles (source_id, guid, url, title, lead, published_at, fetched_at)"
                        " VALUES ('wire', ?, ?, 'A story of the day', 'Its lead, a sentence long.', ?, ?)",
                        (f"d{day}-{n}", f"https://news.example/{day}/{n}", at, at),
                    )
                    assert cursor.lastrowid is not None
                    await outbox.fan_out(
                        conn,
                        article_id=cursor.lastrowid,
                        priority=0,
                        category="",
                        source="wire",
                        text="",
                        now=at,
                        slice_chats=WHOLE_AUDIENCE,
                    )
                # Every delivery went out a few seconds after its fan-out, with a message id.
                await conn.execute(
                    "UPDATE outbox SET state = 'sent', sent_at = created_at + 5, message_id = id,"
                    " attempts = 1"
                    " WHERE state = 'queued'"
                )
            now = base + 86400
            # In life a day's deliveries arrive over the day, with checkpoints in between; here they
            # came in one transaction, so the WAL is emptied before the measured part begins.
            await db.fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
            sends: list[float] = []
            stop = asyncio.Event()
            probes = [asyncio.create_task(probe(db, sends, stop, "send"))]
            if compact:
                done = await outbox.compact(
                    db,
                    before=now - keep_hours * 3600,
                    batch=COMPACT_BATCH,
                    pause=COMPACT_PAUSE,
                    target=outbox.STEP_TARGET,
                )
                longest_batch = max(longest_batch, done.longest)
            await articles.prune(db, older_than=now - 30 * 86400)
            stop.set()
            await asyncio.gather(*probes)
            stalls.extend(sends)
            await db.fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
            kept = int(await db.scalar("SELECT COUNT(*) FROM outbox"))
            sent = (await outbox.stats(db)).sent
            print(
                f"  day {day + 1:2d}: file {path.stat().st_size / 1e6:7.1f} MB, {kept:,} rows kept, "
                f"{sent:,} deliveries counted; longest send wait {max(sends, default=0) * 1000:.1f} ms "
                f"({time.perf_counter() - wall:.0f} s)",
                flush=True,
            )
        size = path.stat().st_size
        await db.close()
    per_reader = size / readers
    print(
        f"after {days} days: {size / 1e6:.1f} MB = {per_reader / 1e3:.1f} kB per reader; at 100,000 readers "
        f"about {per_reader * 100_000 / 1e9:.1f} GB (linear); longest compaction transaction "
        f"{longest_batch * 1000:.1f} ms; send waits during compaction and prune: longest "
        f"{max(stalls, default=0) * 1000:.1f} ms, 99th percentile {p99(stalls) * 1000:.1f} ms "
        "(goal: none over 50 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("dispatch")
    p.add_argument("--depths", default="10000,100000,1000000")
    p.add_argument("--rates", default="30,1000")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each run")
    p = sub.add_parser("idle")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--seconds", type=float, default=30.0)
    p = sub.add_parser("stats")
    p.add_argument("--rows", default="1000000,10000000")
    p = sub.add_parser("prune")
    p.add_argument("--rows", type=int, default=800_000)
    p.add_argument("--cascade", action="store_true", help="prune the rows' articles instead of compacting")
    p = sub.add_parser("forget")
    p.add_argument("--rows", default="1000000,10000000")
    p = sub.add_parser("month")
    p.add_argument("--readers", type=int, default=5000)
    p.add_argument("--items", type=int, default=200)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--keep-hours", type=float, default=48.0)
    p.add_argument("--no-compact", action="store_true", help="as before issue 11: rows kept until pruned")
    args = parser.parse_args()
    if args.what == "dispatch":
        depths = [int(d) for d in args.depths.split(",")]
        asyncio.run(dispatch(depths, args.seconds, [float(r) for r in args.rates.split(",")]))
    elif args.what == "idle":
        asyncio.run(idle(args.rows, args.seconds))
    elif args.what == "stats":
        asyncio.run(stats([int(r) for r in args.rows.split(",")]))
    elif args.what == "forget":
        asyncio.run(forget([int(r) for r in args.rows.split(",")]))
    elif args.what == "prune":
        asyncio.run(prune(args.rows, args.cascade))
    else:
        asyncio.run(month(args.readers, args.items, args.days, args.keep_hours, not args.no_compact))


if __name__ == "__main__":
    main()
