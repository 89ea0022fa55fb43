# ruff: noqa: E402, ASYNC110, ASYNC220 - imports follow the path fix; a benchmark polls and spawns freely
"""Dispatch throughput against the emulator in its own process, limits lifted.

    python bench/bench_dispatch.py [--messages N] [--rate R]

The dispatcher paces at ``--rate`` messages a second overall (default 1000, Telegram's paid
broadcast ceiling; 0 means unpaced, as fast as the loop goes), with the HTTP pool sized as the
application sizes it. Prints messages per second and this process's CPU time per delivered
message, outbox bookkeeping included (goal < 0.5 ms). Never passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PTB_TIMEDELTA", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from telegram.ext import ExtBot

from bot.delivery.aiohttp_request import AiohttpRequest
from bot.delivery.dispatcher import Dispatcher, in_flight_for
from bot.delivery.ratelimit import Limiter, Rates
from bot.delivery.sender import make_sender
from bot.delivery.shared_limiter import SharedRateLimiter
from bot.emulator import EmulatorClient
from bot.storage import open_database, outbox

TOKEN = "123456:BENCH-token-not-real"
FIRST = 1_000_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def main(count: int, rate: float) -> None:
    port = free_port()
    emulator = subprocess.Popen(
        [sys.executable, "-m", "bot.emulator", "--port", str(port), "--no-limits"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    try:
        await run(count, port, rate)
    finally:
        emulator.terminate()
        emulator.wait(10)


async def run(count: int, port: int, rate: float) -> None:
    async with EmulatorClient(f"http://127.0.0.1:{port}/control") as control:
        for _ in range(100):
            try:
                await control.health()
                break
            except Exception:
                await asyncio.sleep(0.1)
        for i in range(FIRST, FIRST + count):
            await control.add_chat(i, "private")
        with tempfile.TemporaryDirectory() as folder:
            db = await open_database(Path(folder) / "bench.db")
            now = time.time()
            async with db.transaction() as conn:
                await conn.execute(
                    "INSERT INTO sources (id, name, url, kind, interval, created_at)"
                    " VALUES ('wire', 'Wire', 'http://127.0.0.1:9/', 'feed', 60, 0)"
                )
                await conn.executemany(
                    "INSERT INTO chats (id, type, created_at, updated_at) VALUES (?, 'private', 0, 0)",
                    ((i,) for i in range(FIRST, FIRST + count)),
                )
                await conn.executemany(
                    "INSERT INTO subscriptions (chat_id, kind, created_at) VALUES (?, 'all', 0)",
                    ((i,) for i in range(FIRST, FIRST + count)),
                )
                cursor = await conn.execute(
                    "INSERT INTO articles (source_id, guid, url, title, lead, published_at, fetched_at)"
                    " VALUES ('wire', 'g', 'https://news.example/1', 'Benchmark story', 'A lead.', ?, ?)",
                    (now, now),
                )
                assert cursor.lastrowid is not None
                await outbox.fan_out(
                    conn,
                    article_id=cursor.lastrowid,
                    priority=0,
                    category="",
                    source="wire",
                    text="",
                    now=now,
                )
            global_rate = rate or 100_000.0
            limiter = Limiter(
                Rates(global_per_second=global_rate, chat_per_second=1000, group_per_minute=60_000)
            )
            bot: ExtBot[None] = ExtBot(
                TOKEN,
                base_url=f"http://127.0.0.1:{port}/bot",
                rate_limiter=SharedRateLimiter(limiter),
                request=AiohttpRequest(connection_pool_size=in_flight_for(global_rate) + 16),
            )
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
    pace = f"paced at {rate:,.0f}/s" if rate else "unpaced"
    print(
        f"dispatch ({pace}): {sent:,} of {count:,} delivered in {wall:.2f} s = {sent / wall:,.0f} messages/s"
    )
    print(f"bot CPU: {cpu * 1000 / max(sent, 1):.3f} ms per delivered message (goal < 0.5 ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=1000.0, help="overall pace; 0 = unpaced")
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.rate))
