# ruff: noqa: E402 - imports follow the path fix
"""Latency from an item appearing in a feed to the first reader's message, polling excluded.

    python bench/bench_latency.py [--items 20] [--readers 50]

The real application runs against the emulator (Telegram's limits on) and a loopback news site.
The clock starts when the site first serves the feed containing a new item (so the wait for
the next poll is excluded) and stops when the emulator receives the first message carrying it:
fetch, parse, store, fan-out, claim, render and send. Prints median, 90th percentile and max.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import tempfile
import time
from email.utils import formatdate
from pathlib import Path

os.environ.setdefault("PTB_TIMEDELTA", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiohttp import web

from bot.app import build_application, running
from bot.config import BotSettings, IngestSettings, Secret, Settings, SourceSettings
from bot.emulator import Emulator, EmulatorClient, RunningEmulator

TOKEN = "123456:BENCH-token-not-real"


class Site:
    """A feed whose items the benchmark publishes one by one; remembers when each was first served."""

    def __init__(self) -> None:
        self.items: list[int] = list(range(-5, 0))  # backlog, present at the first poll
        self.first_served: dict[int, float] = {}

    def rss(self) -> str:
        now = time.time()
        for n in self.items:
            self.first_served.setdefault(n, now)
        entries = "".join(
            f"<item><title>Latency probe {n}</title><link>http://news.example/{n}</link>"
            f"<guid>probe-{n}</guid><pubDate>{formatdate(now)}</pubDate></item>"
            for n in reversed(self.items)
        )
        return (
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>Probe</title>{entries}</channel></rss>'
        )

    async def handle(self, request: web.Request) -> web.Response:
        return web.Response(text=self.rss(), content_type="application/rss+xml")


async def run(items: int, readers: int) -> None:
    site = Site()
    app = web.Application()
    app.router.add_get("/rss.xml", site.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    feed_url = f"http://127.0.0.1:{sock.getsockname()[1]}/rss.xml"

    latencies: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        async with RunningEmulator(Emulator()) as api, EmulatorClient(api.control_url) as control:
            settings = Settings(
                bot=BotSettings(
                    token=Secret(TOKEN), api_url=f"http://127.0.0.1:{api.port}", db=Path(folder) / "l.db"
                ),
                ingest=IngestSettings(fetch_articles=False),
                sources=(SourceSettings(id="probe", name="Probe", url=feed_url, interval=1),),
            )
            async with running(build_application(settings)):
                for n in range(readers):
                    await control.send_text(7_000_000 + n, 7_000_000 + n, "/subscribe all")
                await control.wait_for_messages(7_000_000 + readers - 1, 1, timeout=120)
                await asyncio.sleep(2)  # the first poll has stored the backlog
                for n in range(items):
                    site.items.append(n)
                    probe = f"Latency probe {n}"
                    deadline = time.monotonic() + 30
                    while time.monotonic() < deadline:
                        found = [m for m in await control.messages() if m["text"].startswith(probe)]
                        if found:
                            latencies.append(min(m["t"] for m in found) - site.first_served[n])
                            break
                        await asyncio.sleep(0.01)
                    # Let the previous item's broadcast to every reader finish at 1/s per chat.
                    await asyncio.sleep(max(1.2, readers / 29))
            refused = (await control.stats())["429"]
    await runner.cleanup()
    ms = sorted(x * 1000 for x in latencies)
    p90 = ms[int(len(ms) * 0.9) - 1] if ms else float("nan")
    print(f"{len(ms)} items, {readers} readers each")
    median = statistics.median(ms)
    print(f"feed served -> first reader's message: median {median:.0f} ms, p90 {p90:.0f} ms", end="")
    print(f", max {ms[-1]:.0f} ms")
    print(f"429 answers: {refused}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--readers", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(run(args.items, args.readers))
