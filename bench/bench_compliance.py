"""Compliance with Telegram's limits: a broadcast against the emulator enforcing them.

    python bench/bench_compliance.py [--chats 5000] [--articles 4] [--groups 0.1]

Every chat (a share of them groups) subscribes to everything; ``--articles`` items are fanned
out, so the default sends 20,000 messages to 5,000 chats. The emulator runs in its own process
and enforces 30 messages/s overall, 1/s per private chat and 20/min per group, answering 429
beyond them. Prints the 429s received (goal: zero) and the achieved overall rate as a share of
the 30/s limit (goal: at least 95%). At 30/s the default takes about 11 minutes; never passes
or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

# common.py puts the project root on sys.path, so it comes before the bot imports.
from common import emulator_process, make_bot, seed_broadcast, wait_until_up

from bot.config import DeliverySettings
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.ratelimit import Limiter, Rates
from bot.delivery.sender import make_sender
from bot.emulator import EmulatorClient
from bot.storage import open_database

LIMIT = DeliverySettings()  # Telegram's figures: 30/s, 1/s, 20/min


def chat_ids(chats: int, group_share: float) -> list[tuple[int, str]]:
    groups = int(chats * group_share)
    return [(-1_000_000_000_000 - n, "supergroup") for n in range(groups)] + [
        (5_000_000 + n, "private") for n in range(chats - groups)
    ]


async def run(port: int, chats: int, articles: int, group_share: float) -> None:
    targets = chat_ids(chats, group_share)
    async with EmulatorClient(f"http://127.0.0.1:{port}/control") as control:
        await wait_until_up(control)
        await control.set_limits(
            global_per_second=LIMIT.global_per_second,
            chat_per_second=LIMIT.chat_per_second,
            group_per_minute=LIMIT.group_per_minute,
        )
        for chat_id, kind in targets:
            await control.add_chat(chat_id, kind, title=None if kind == "private" else f"Group {chat_id}")
        with tempfile.TemporaryDirectory() as folder:
            db = await open_database(Path(folder) / "bench.db")
            total = await seed_broadcast(db, targets, articles, time.time())
            rates = Rates(
                LIMIT.global_per_second, LIMIT.chat_per_second, LIMIT.group_per_minute, LIMIT.headroom
            )
            limiter = Limiter(rates)
            bot = make_bot(port, limiter)
            await bot.initialize()
            dispatcher = Dispatcher(
                db=db,
                send=make_sender(bot, default_tz="UTC", default_language="en"),
                limiter=limiter,
                stale_after=86_400,
                give_up_after=86_400,
            )
            print(
                f"{total:,} messages to {len(targets):,} chats ({int(chats * group_share):,} groups)",
                flush=True,
            )
            started = time.perf_counter()
            task = asyncio.create_task(dispatcher.run())
            last_report = started
            while dispatcher.counters.sent + dispatcher.counters.failed < total:
                await asyncio.sleep(0.5)
                if time.perf_counter() - last_report >= 60:
                    last_report = time.perf_counter()
                    done = dispatcher.counters.sent
                    print(f"  {done:,} sent after {last_report - started:.0f} s", flush=True)
            await dispatcher.stop()
            await task
            await bot.shutdown()
            await db.close()
        stats = await control.stats()
        transcript = [c for c in await control.transcript() if c["method"].lower() == "sendmessage"]
    ok = [c["t"] for c in transcript if c["status"] == 200]
    span = max(ok) - min(ok) if len(ok) > 1 else float("nan")
    achieved = (len(ok) - 1) / span if span else float("nan")
    print(f"sent {len(ok):,} of {total:,}; 429 answers: {stats['429']} (by scope: {stats['429_by_scope']})")
    print(
        f"achieved {achieved:.2f} messages/s over {span:.0f} s = "
        f"{achieved / LIMIT.global_per_second:.1%} of the {LIMIT.global_per_second:g}/s limit"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chats", type=int, default=5000)
    parser.add_argument("--articles", type=int, default=4)
    parser.add_argument("--groups", type=float, default=0.1, help="share of chats that are groups")
    args = parser.parse_args()
    with emulator_process(limits=True) as port:
        asyncio.run(run(port, args.chats, args.articles, args.groups))


if __name__ == "__main__":
    main()
