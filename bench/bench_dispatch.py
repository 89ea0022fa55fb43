# ruff: noqa: ASYNC110 - a benchmark polls its own progress
"""Dispatch throughput against the emulator in its own process, enforcing the paced rate.

    python bench/bench_dispatch.py [--messages N] [--rate R] [--held N]

The dispatcher paces at ``--rate`` messages a second overall (default 1000, Telegram's paid
broadcast ceiling; 0 means unpaced, as fast as the loop goes, with the limits lifted), with the
HTTP pool sized as the application sizes it. The emulator enforces ``--rate`` as its overall
limit and answers 429 beyond it. Prints messages per second (wall time from start, and the rate
Telegram saw from first to last send, as a share of ``--rate``), the 429s received (goal 0) and
this process's CPU time per delivered message, outbox bookkeeping included (goal < 0.5 ms).
``--held`` first queues that many deliveries that are not due (held for quiet hours), the deep
queue a long-running outlet has. Never passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

# common.py puts the project root on sys.path, so it comes before the bot imports.
from common import emulator_process, make_bot, seed_broadcast, seed_held, wait_until_up

from bot.delivery.dispatcher import Dispatcher
from bot.delivery.ratelimit import Limiter, Rates
from bot.delivery.sender import make_sender
from bot.emulator import EmulatorClient
from bot.storage import open_database

FIRST = 1_000_000


async def run(count: int, port: int, rate: float, held: int = 0) -> None:
    async with EmulatorClient(f"http://127.0.0.1:{port}/control") as control:
        await wait_until_up(control)
        if rate:
            await control.set_limits(global_per_second=rate)
        for i in range(FIRST, FIRST + count):
            await control.add_chat(i, "private")
        with tempfile.TemporaryDirectory() as folder:
            db = await open_database(Path(folder) / "bench.db")
            targets = [(i, "private") for i in range(FIRST, FIRST + count)]
            await seed_broadcast(db, targets, 1, time.time())
            if held:
                await seed_held(db, held, time.time())
            global_rate = rate or 100_000.0
            limiter = Limiter(
                Rates(global_per_second=global_rate, chat_per_second=1000, group_per_minute=60_000)
            )
            bot = make_bot(port, limiter)
            await bot.initialize()
            dispatcher = Dispatcher(
                db=db,
                send=make_sender(bot, default_tz="UTC", default_language="en"),
                limiter=limiter,
                stale_after=3600,
                give_up_after=3600,
            )
            cpu, wall = time.process_time(), time.perf_counter()
            task = asyncio.create_task(dispatcher.run())
            while dispatcher.counters.sent + dispatcher.counters.failed < count:
                await asyncio.sleep(0.05)
            await dispatcher.stop()
            await task
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            await bot.shutdown()
            sent = int(await db.scalar("SELECT COUNT(*) FROM outbox WHERE state = 'sent'"))
            await db.close()
        stats = await control.stats()
        ok = [c["t"] for c in await control.transcript() if c["method"] == "sendMessage" and c["ok"]]
    pace = f"paced at {rate:,.0f}/s" if rate else "unpaced"
    pace += f", {held:,} held rows queued" if held else ""
    print(
        f"dispatch ({pace}): {sent:,} of {count:,} delivered in {wall:.2f} s = {sent / wall:,.0f} messages/s"
    )
    span = max(ok) - min(ok) if len(ok) > 1 else float("nan")
    seen = (len(ok) - 1) / span if span else float("nan")
    share = f" = {seen / rate:.1%} of the limit" if rate else ""
    print(f"Telegram saw {seen:,.1f} messages/s{share}; 429 answers: {stats['429']}")
    print(f"bot CPU: {cpu * 1000 / max(sent, 1):.3f} ms per delivered message (goal < 0.5 ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=1000.0, help="overall pace; 0 = unpaced")
    parser.add_argument("--held", type=int, default=0, help="deliveries queued but not due")
    args = parser.parse_args()
    with emulator_process(limits=bool(args.rate)) as port:
        asyncio.run(run(args.messages, port, args.rate, args.held))
