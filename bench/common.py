"""Pieces the benchmarks share: the emulator in its own process, a seeded broadcast, the bot."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

os.environ.setdefault("PTB_TIMEDELTA", "1")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from telegram.ext import ExtBot  # noqa: E402

from bot.delivery.aiohttp_request import AiohttpRequest  # noqa: E402
from bot.delivery.dispatcher import in_flight_for  # noqa: E402
from bot.delivery.ratelimit import Limiter  # noqa: E402
from bot.delivery.shared_limiter import SharedRateLimiter  # noqa: E402
from bot.emulator import EmulatorClient  # noqa: E402
from bot.storage import outbox  # noqa: E402
from bot.storage.interface import Database, inserted_id  # noqa: E402

TOKEN = "123456:BENCH-token-not-real"
# Benchmark set-up queues a whole audience in one transaction (the bot queues it a slice at a time).
WHOLE_AUDIENCE = 1 << 62


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def emulator_process(*, limits: bool) -> Iterator[int]:
    """Run the emulator in its own process, so CPU figures are the bot's alone; yield its port."""
    port = free_port()
    command = [sys.executable, "-m", "bot.emulator", "--port", str(port)]
    emulator = subprocess.Popen(
        [*command] if limits else [*command, "--no-limits"], cwd=ROOT, stdout=subprocess.DEVNULL
    )
    try:
        yield port
    finally:
        emulator.terminate()
        emulator.wait(10)


async def wait_until_up(control: EmulatorClient) -> None:
    for _ in range(100):
        with contextlib.suppress(Exception):
            await control.health()
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("the emulator did not start")


async def seed_broadcast(db: Database, targets: Sequence[tuple[int, str]], articles: int, now: float) -> int:
    """Chats subscribed to everything and ``articles`` items fanned out to them; return the row count."""
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO sources (id, name, url, kind, interval, created_at)"
            " VALUES ('wire', 'Wire', 'http://127.0.0.1:9/', 'feed', 60, 0)"
        )
        await conn.executemany(
            "INSERT INTO chats (id, type, created_at, updated_at) VALUES (?, ?, 0, 0)", targets
        )
        await conn.executemany(
            "INSERT INTO subscriptions (chat_id, kind, created_at) VALUES (?, 'all', 0)",
            ((chat_id,) for chat_id, _ in targets),
        )
        for n in range(articles):
            cursor = await conn.execute(
                "INSERT INTO articles (source_id, guid, url, title, lead, published_at, fetched_at)"
                " VALUES ('wire', ?, ?, ?, 'A lead.', ?, ?) RETURNING id",
                (f"g{n}", f"https://news.example/{n}", f"Story {n}", now, now),
            )
            article_id = await inserted_id(cursor)
            assert article_id is not None
            await outbox.fan_out(
                conn,
                article_id=article_id,
                priority=0,
                category="",
                source="wire",
                text="",
                now=now,
                slice_chats=WHOLE_AUDIENCE,
            )
    return int(await db.scalar("SELECT COUNT(*) FROM outbox"))


async def seed_held(db: Database, rows: int, now: float, *, per_article: int = 10_000) -> None:
    """Queue ``rows`` deliveries that are not due (held for quiet hours): a deep queue to send past."""
    articles = max(1, -(-rows // per_article))
    chats = min(rows, per_article)
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO sources (id, name, url, kind, interval, created_at)"
            " VALUES ('held', 'Held', 'http://127.0.0.1:9/held', 'feed', 60, 0) ON CONFLICT DO NOTHING"
        )
        await conn.executemany(
            "INSERT INTO chats (id, type, created_at, updated_at) VALUES (?, 'private', 0, 0)",
            ((9_000_000 + n,) for n in range(chats)),
        )
        for n in range(articles):
            cursor = await conn.execute(
                "INSERT INTO articles (source_id, guid, url, title, lead, published_at, fetched_at)"
                " VALUES ('held', ?, ?, 'Held story', '', ?, ?) RETURNING id",
                (f"held{n}", f"https://news.example/held/{n}", now, now),
            )
            held_id = await inserted_id(cursor)
            await conn.executemany(
                "INSERT INTO outbox (article_id, chat_id, state, next_attempt_at, created_at, last_error)"
                " VALUES (?, ?, 'queued', ?, ?, 'quiet')",
                (
                    (held_id, 9_000_000 + c, now + 86_400, now)
                    for c in range(min(chats, rows - n * per_article))
                ),
            )


def make_bot(port: int, limiter: Limiter) -> ExtBot[None]:
    """The bot as the application builds it: aiohttp requests, the shared limiter, a sized pool."""
    pool = in_flight_for(1.0 / limiter.rates.global_interval) + 16
    return ExtBot(
        TOKEN,
        base_url=f"http://127.0.0.1:{port}/bot",
        rate_limiter=SharedRateLimiter(limiter),
        request=AiohttpRequest(connection_pool_size=pool),
    )
