"""Measure one poll cycle over 500 sources served from loopback (prints figures only).

Run from the project root: .venv/bin/python bench/bench_poll.py

The news site runs in a child process, so the CPU seconds printed are the bot's alone. Half the
sources answer 304 to a conditional GET (ETag); the other half serve a 20-item RSS feed that
gains one or two new items per request. Every poll goes through the real poll_source and a real
SQLite file. All 500 feeds live on one loopback host, so the fetcher's per-host limit is raised
to stand in for 500 different sites.
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from email.utils import formatdate
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import feedparser  # noqa: E402
import httpx  # noqa: E402

from bot.news.feeds import parse_feed  # noqa: E402
from bot.news.fetcher import Fetcher  # noqa: E402
from bot.news.ingest import poll_source  # noqa: E402
from bot.storage import open_database, sources  # noqa: E402
from bot.storage.interface import Database  # noqa: E402

SOURCES = 500
ITEMS = 20
CYCLES = 5


def serve() -> None:
    """The child process: a loopback news site; prints its port, stops when stdin closes."""
    from aiohttp import web

    hits: dict[int, int] = {}

    def rss(n: int, hit: int) -> str:
        newest = hit * (1 + (n // 2) % 2) + ITEMS  # one or two new items per request
        entries = "".join(
            f"<item><title>Story {k} of site {n}</title><link>http://site{n}.example/news/{k}</link>"
            f"<guid>site{n}-{k}</guid><pubDate>{formatdate(1_700_000_000 + k * 60)}</pubDate>"
            f"<description>Lead of story {k}, a sentence or two long.</description></item>"
            for k in range(newest, newest - ITEMS, -1)
        )
        head = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Site {n}</title>'
        return f"{head}{entries}</channel></rss>"

    async def handle(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        if n % 2 == 0:
            etag = f'"site{n}-v1"'
            if request.headers.get("If-None-Match") == etag:
                return web.Response(status=304, headers={"ETag": etag})
            return web.Response(text=rss(n, 0), content_type="application/rss+xml", headers={"ETag": etag})
        hits[n] = hits.get(n, 0) + 1
        return web.Response(text=rss(n, hits[n]), content_type="application/rss+xml")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/feed/{n}.xml", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = runner.addresses[0][1]
        print(port, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await runner.cleanup()

    asyncio.run(main())


async def cycle(db: Database, fetcher: Fetcher, tz: ZoneInfo, now: float) -> tuple[int, int, int]:
    """Poll every source once, all at once as the job queue would; return (new, not modified, errors)."""
    all_sources = await sources.list_sources(db)
    reports = await asyncio.gather(
        *(poll_source(db, fetcher, s, now=now, tz=tz, max_backoff=3600) for s in all_sources)
    )
    return (
        sum(r.new for r in reports),
        sum(r.not_modified for r in reports),
        sum(r.error is not None for r in reports),
    )


async def plain_cycles(port: int) -> list[float]:
    """The yardstick: a plain httpx + feedparser loop that sends ETags, nothing stored; CPU per cycle."""
    urls = [f"http://127.0.0.1:{port}/feed/{n}.xml" for n in range(SOURCES)]
    etags: dict[str, str] = {}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)

    async def poll(client: httpx.AsyncClient, url: str) -> None:
        headers = {"If-None-Match": etags[url]} if url in etags else {}
        response = await client.get(url, headers=headers)
        if response.status_code == 200:
            feedparser.parse(response.content)
            if "etag" in response.headers:
                etags[url] = response.headers["etag"]

    cpus = []
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await asyncio.gather(*(poll(client, url) for url in urls))  # the first cycle learns the ETags
        for _ in range(CYCLES):
            cpu = time.process_time()
            await asyncio.gather(*(poll(client, url) for url in urls))
            cpus.append(time.process_time() - cpu)
    return cpus


async def unstored_cycles(port: int, *, parse: bool) -> list[float]:
    """newsbot's own fetcher (and parser when ``parse``) over the same loop, nothing stored; CPU per cycle.

    Set beside the full poll, it splits newsbot's cost into fetching, parsing and storing.
    """
    urls = [f"http://127.0.0.1:{port}/feed/{n}.xml" for n in range(SOURCES)]
    etags: dict[str, str] = {}

    async def poll(fetcher: Fetcher, url: str) -> None:
        result = await fetcher.fetch(url, etag=etags.get(url), trusted=True)
        if result.not_modified:
            return
        if parse:
            parse_feed(result.content, url=result.url, content_type=result.content_type)
        if result.etag:
            etags[url] = result.etag

    cpus = []
    async with Fetcher(per_host=64, total_timeout=30) as fetcher:
        await asyncio.gather(*(poll(fetcher, url) for url in urls))  # the first cycle learns the ETags
        for _ in range(CYCLES):
            cpu = time.process_time()
            await asyncio.gather(*(poll(fetcher, url) for url in urls))
            cpus.append(time.process_time() - cpu)
    return cpus


async def run(port: int, folder: Path) -> None:
    tz = ZoneInfo("UTC")
    db = await open_database(folder / "bench.db")
    await sources.sync_configured(
        db,
        sources=[
            {
                "id": f"s{n}",
                "name": f"Site {n}",
                "url": f"http://127.0.0.1:{port}/feed/{n}.xml",
                "kind": "feed",
                "interval": 300,
            }
            for n in range(SOURCES)
        ],
        now=time.time(),
    )
    walls: list[float] = []
    cpus: list[float] = []
    async with Fetcher(per_host=64, total_timeout=30) as fetcher:
        new, _, errors = await cycle(db, fetcher, tz, time.time())  # the first poll seeds every source
        print(f"seed cycle: {new} items stored, {errors} errors")
        for n in range(CYCLES):
            wall, cpu = time.perf_counter(), time.process_time()
            new, not_modified, errors = await cycle(db, fetcher, tz, time.time())
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
            print(
                f"cycle {n + 1}: {walls[-1]:.2f} s wall, {cpus[-1]:.2f} s CPU, {new} new, "
                f"{not_modified} not modified, {errors} errors"
            )
    await db.close()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    print(
        f"median over {CYCLES} cycles of {SOURCES} sources: {statistics.median(walls):.2f} s wall, "
        f"{statistics.median(cpus):.2f} s CPU; peak memory {peak_mb:.0f} MB"
    )
    plain = await plain_cycles(port)
    bot_ms = statistics.median(cpus) * 1000 / SOURCES
    plain_ms = statistics.median(plain) * 1000 / SOURCES
    fetch_ms = statistics.median(await unstored_cycles(port, parse=False)) * 1000 / SOURCES
    parse_ms = statistics.median(await unstored_cycles(port, parse=True)) * 1000 / SOURCES - fetch_ms
    print(
        f"newsbot's share per source per cycle: fetch {fetch_ms:.2f} ms, parse {parse_ms:.2f} ms, store and "
        f"fan-out (and the rest) {bot_ms - fetch_ms - parse_ms:.2f} ms"
    )
    print(
        f"poll CPU per source per cycle: newsbot {bot_ms:.2f} ms (fetch, parse, store, fan-out); a plain "
        f"httpx+feedparser loop with ETags, nothing stored: {plain_ms:.2f} ms; ratio {bot_ms / plain_ms:.2f} "
        "(goal <= 1)"
    )


def main() -> None:
    # Our own interpreter running this file as the news site.
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        with tempfile.TemporaryDirectory() as folder:
            asyncio.run(run(port, Path(folder)))
    finally:
        assert server.stdin is not None
        server.stdin.close()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    if "--serve" in sys.argv:
        serve()
    else:
        main()
