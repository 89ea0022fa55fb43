"""Several worker processes on one PostgreSQL database: dispatch throughput and ingest cycles.

    python bench/bench_workers.py dispatch [--workers 1 2 4] [--messages N] [--rounds R]
                                           [--reply-headroom H]
    python bench/bench_workers.py ingest [--workers 1 2 4] [--sources N] [--interval S] [--rounds R]

Each run starts real workers (``python -m bot.cli run --role dispatch|ingest``) on a fresh database
of a throw-away server (tests/pgserver.py), or of the server ``--postgres URL`` names (the bench
makes its own databases there and drops them). Telegram is the emulator in its own process.

dispatch: one broadcast of ``--messages`` rows at the paid ceiling (1,000/s), queued only once the
workers hold their shards (their start-up CPU is taken off). Prints messages/s from the first send
to the last as Telegram saw them, the 429s, and CPU per message of each worker; in the same round,
bench_dispatch.py's single-process SQLite figure, so the ratio is of one machine at one time.

ingest: ``--sources`` configured feeds on a local feed server (its own process; tiny feeds with an
ETag, 304 to a conditional GET), all due at once every ``--interval`` seconds. Prints the time for
every source to be polled once (the first cycle, which stores one item each, and a steady one of
304s), sources polled twice in a cycle or missed, and CPU per source of each worker.

Medians over the rounds are printed last. Figures only; never passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from aiohttp import ClientSession, web

# common.py puts the project root on sys.path, so it comes before the bot imports.
from common import ROOT, TOKEN, emulator_process, free_port, wait_until_up

from bot.emulator import EmulatorClient
from bot.storage import open_database, outbox
from tests.pgserver import PostgresServer

FIRST_CHAT = 1_000_000
SHARDS = 16  # the [workers] default
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- the database ----------------------------------------------------------------------------


class Databases:
    """Fresh databases for each run: on a throw-away server, or on the one ``--postgres`` names."""

    def __init__(self, url: str | None) -> None:
        self._given = url
        self._server: PostgresServer | None = None
        self._made: list[str] = []

    def __enter__(self) -> Databases:
        if self._given is None:
            self._server = PostgresServer().__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.stop()

    async def fresh(self) -> str:
        """A new empty database with the schema, as a deploy migrates before starting workers."""
        if self._server is not None:
            url = await self._server.make_database()
        else:
            assert self._given is not None
            name = f"bench_workers_{os.getpid()}_{len(self._made)}"
            admin = await asyncpg.connect(self._given)
            try:
                await admin.execute(f'CREATE DATABASE "{name}"')
            finally:
                await admin.close()
            self._made.append(name)
            url = urlunsplit(urlsplit(self._given)._replace(path="/" + name))
        await (await open_database(url)).close()
        return url

    async def drop(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        if self._server is not None:
            await self._server.drop_database(name)
            return
        assert self._given is not None
        admin = await asyncpg.connect(self._given)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


# --- worker processes ------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of a live process, from /proc (the process's own threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path
    name: str
    idle_cpu: float = 0.0
    cpu: float = 0.0

    @property
    def pid(self) -> int:
        return self.process.pid

    def check(self) -> None:
        if self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{tail}")


def start_worker(role: str, name: str, config: Path, folder: Path, db: str, api: str) -> Worker:
    log = folder / f"{name}.log"
    env = {
        **os.environ,
        "NEWSBOT_DB": db,
        "NEWSBOT_API_URL": api,
        "NEWSBOT_TOKEN": TOKEN,
        "PTB_TIMEDELTA": "1",
        # The feed server tells the ingest workers apart by it.
        "NEWSBOT_INGEST__USER_AGENT": name,
    }
    command = [sys.executable, "-m", "bot.cli", "run", "--role", role, "--config", str(config)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=out)
    return Worker(process, log, name)


def stop_workers(workers: Sequence[Worker]) -> None:
    for worker in workers:
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.process.wait(30)
        except subprocess.TimeoutExpired:
            print(f"  {worker.name} did not stop in 30 s after SIGTERM: killed")
            worker.process.kill()
            worker.process.wait()


@contextlib.contextmanager
def workers_running(
    role: str, count: int, config: Path, folder: Path, db: str, api: str
) -> Iterator[list[Worker]]:
    workers = [start_worker(role, f"{role}-{i + 1}", config, folder, db, api) for i in range(count)]
    try:
        yield workers
    finally:
        stop_workers(workers)
        for worker in workers:
            report_log(worker)


def report_log(worker: Worker) -> None:
    """Print the warnings and errors a worker logged, counted by kind (numbers and ids folded)."""
    kinds: Counter[str] = Counter()
    for line in worker.log.read_text(errors="replace").splitlines():
        found = re.search(r" (WARNING|ERROR|CRITICAL) (.*)", line)
        if found is not None or line.startswith("Traceback"):
            text = found.group(0) if found is not None else line
            kinds[re.sub(r"[0-9]+", "N", re.sub(r'"[^"]*"', '"..."', text))[:110]] += 1
    for kind, count in kinds.most_common(5):
        print(f"  {worker.name} logged {count} x{kind}")
    text = worker.log.read_text(errors="replace")
    if "Traceback" in text:  # the last one whole: the counts above fold it to a line
        start = text.rindex("Traceback")
        print("    " + "\n    ".join(text[start:].splitlines()[:30]))


# --- dispatch --------------------------------------------------------------------------------


@dataclass
class DispatchRun:
    workers: int
    sent: int
    rate: float
    too_many: int
    cpu_ms: list[float] = field(default_factory=list)  # per message, per worker


async def seed_readers(url: str, count: int, now: float) -> int:
    """Chats subscribed to everything and one article; its fan-out comes later. Return its id.

    COPY without the counting triggers, as bench_fanout.py seeds: a row trigger updating one counter
    row per reader in one transaction leaves that many versions of it to walk (60,000 readers took
    40 s a table with them), and no figure here reads those counters."""
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute("ALTER TABLE chats DISABLE TRIGGER USER")
            await conn.execute("ALTER TABLE subscriptions DISABLE TRIGGER USER")
            await conn.execute(
                "INSERT INTO sources (id, name, url, kind, interval, created_at)"
                " VALUES ('wire', 'Wire', 'http://127.0.0.1:9/', 'feed', 60, 0)"
            )
            chats = range(FIRST_CHAT, FIRST_CHAT + count)
            await conn.copy_records_to_table(
                "chats",
                records=((i, "private", 0.0, 0.0) for i in chats),
                columns=("id", "type", "created_at", "updated_at"),
            )
            await conn.copy_records_to_table(
                "subscriptions",
                records=((i, "all", 0.0) for i in chats),
                columns=("chat_id", "kind", "created_at"),
            )
            await conn.execute("ALTER TABLE chats ENABLE TRIGGER USER")
            await conn.execute("ALTER TABLE subscriptions ENABLE TRIGGER USER")
            article: int = await conn.fetchval(
                "INSERT INTO articles (source_id, guid, url, title, lead, published_at, fetched_at)"
                " VALUES ('wire', 'g', 'https://news.example/1', 'Story', 'A lead.', $1, $1) RETURNING id",
                now,
            )
        await conn.execute("ANALYZE")
        return article
    finally:
        await conn.close()


async def shard_holders(url: str) -> dict[int, str]:
    """Shard -> holder of its live lease."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT name, holder FROM leases WHERE name LIKE 'shard:%'"
            " AND expires_at > EXTRACT(EPOCH FROM clock_timestamp())"
        )
    finally:
        await conn.close()
    return {int(row["name"].split(":")[1]): row["holder"] for row in rows}


async def sent_count(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT COUNT(*) FROM outbox WHERE state = 'sent'"))
    finally:
        await conn.close()


async def dispatch_run(
    databases: Databases, count: int, workers: int, port: int, folder: Path, headroom: float
) -> DispatchRun:
    api = f"http://127.0.0.1:{port}"
    url = await databases.fresh()
    config = folder / "dispatch.toml"
    config.write_text(
        f'[delivery]\npaid_broadcast = true\n\n[workers]\nshards = {SHARDS}\nreply_headroom = {headroom}\n'
    )
    async with EmulatorClient(f"{api}/control") as control:
        await control.reset()
        await control.set_limits(global_per_second=1000)
        now = time.time()
        article = await seed_readers(url, count, now)
        with workers_running("dispatch", workers, config, folder, url, api) as running:
            # Every shard held (the balancer's fair share each), then the idle start-up is behind them.
            deadline = time.monotonic() + 60
            while True:
                for worker in running:
                    worker.check()
                holders = await shard_holders(url)
                pids = {int(h.split(":")[1]) for h in holders.values()}
                if len(holders) == SHARDS and pids == {w.pid for w in running}:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"shards not all held after 60 s: {holders}")
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)
            for worker in running:
                worker.idle_cpu = cpu_seconds(worker.pid)
            db = await open_database(url)
            try:
                async with db.transaction() as conn:
                    queued = await outbox.fan_out(
                        conn,
                        article_id=article,
                        priority=0,
                        category="",
                        source="wire",
                        text="",
                        now=now,
                        slice_chats=1 << 62,  # setup: every reader in one transaction
                    )
            finally:
                await db.close()
            assert queued == count, queued
            # Stalls show as no progress for a while: wait for the last row, or report a stall.
            last, progress = -1, time.monotonic()
            while (done := await sent_count(url)) < count:
                for worker in running:
                    worker.check()
                if done != last:
                    last, progress = done, time.monotonic()
                elif time.monotonic() - progress > 30:
                    raise RuntimeError(f"dispatch stalled at {done:,} of {count:,} sent")
                await asyncio.sleep(0.2)
            final = await shard_holders(url)
            for worker in running:
                worker.cpu = cpu_seconds(worker.pid) - worker.idle_cpu
        stats = await control.stats()
        ok = [c["t"] for c in await control.transcript() if c["method"] == "sendMessage" and c["ok"]]
        per_chat = Counter(m["chat_id"] for m in await control.messages())
    doubled = sum(1 for n in per_chat.values() if n > 1)
    if doubled:
        print(f"  {doubled} chats got the broadcast twice")
    await databases.drop(url)
    span = max(ok) - min(ok)
    # Each worker's share: the rows of the shards it held at the end (no shard moved during a run).
    shares: Counter[int] = Counter()
    for chat in range(FIRST_CHAT, FIRST_CHAT + count):
        shares[int(final[chat % SHARDS].split(":")[1])] += 1
    cpu_ms = [w.cpu * 1000 / max(shares[w.pid], 1) for w in running]
    return DispatchRun(workers, len(ok), (len(ok) - 1) / span, int(stats["429"]), cpu_ms)


def sqlite_figure(count: int) -> float:
    """bench_dispatch.py's CPU per message on SQLite, one process, as a subprocess (ms)."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_dispatch.py"), "--messages", str(count)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = re.search(r"bot CPU: ([0-9.]+) ms", out)
    if found is None:
        raise RuntimeError(f"bench_dispatch.py printed no CPU figure:\n{out}")
    return float(found.group(1))


async def dispatch(args: argparse.Namespace) -> None:
    runs: dict[int, list[DispatchRun]] = defaultdict(list)
    sqlite: list[float] = []
    with Databases(args.postgres) as databases, emulator_process(limits=True) as port:
        async with EmulatorClient(f"http://127.0.0.1:{port}/control") as control:
            await wait_until_up(control)
            # The chats Telegram knows, once: reset() keeps them.
            for start in range(FIRST_CHAT, FIRST_CHAT + args.messages, 500):
                end = min(start + 500, FIRST_CHAT + args.messages)
                await asyncio.gather(*(control.add_chat(i, "private") for i in range(start, end)))
        for round_ in range(args.rounds):
            order = args.workers if round_ % 2 == 0 else args.workers[::-1]
            for n in order:
                with tempfile.TemporaryDirectory() as folder:
                    run = await dispatch_run(
                        databases, args.messages, n, port, Path(folder), args.reply_headroom
                    )
                runs[n].append(run)
                cpu = ", ".join(f"{ms:.3f}" for ms in run.cpu_ms)
                print(
                    f"round {round_ + 1}, {n} dispatch workers: {run.sent:,} sent at {run.rate:,.0f}/s,"
                    f" 429s {run.too_many}; CPU ms per message per worker: {cpu}"
                )
            sqlite.append(sqlite_figure(args.sqlite_messages))
            print(f"round {round_ + 1}, SQLite, one process: {sqlite[-1]:.3f} ms CPU per message")
    base = statistics.median(sqlite)
    print(f"\nmedians over {args.rounds} rounds ({args.messages:,} rows, paid ceiling 1,000/s):")
    print(f"  SQLite, one process (bench_dispatch.py, {args.sqlite_messages:,} rows): {base:.3f} ms/message")
    for n, results in sorted(runs.items()):
        rate = statistics.median(r.rate for r in results)
        cpu = statistics.median(ms for r in results for ms in r.cpu_ms)
        too_many = statistics.median(r.too_many for r in results)
        print(
            f"  {n} workers: {rate:,.0f} messages/s, {cpu:.3f} ms CPU per message per worker"
            f" ({cpu / base - 1:+.0%} against SQLite), 429s {too_many:g}"
        )


# --- ingest ----------------------------------------------------------------------------------


FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Feed {n}</title><link>http://127.0.0.1/</link>
<description>One of many</description>
<item><title>Story {n}</title><link>http://127.0.0.1:{port}/story/{n}</link>
<guid>story-{n}</guid><pubDate>Thu, 03 Dec 2026 07:00:00 GMT</pubDate>
<description>A lead.</description></item>
</channel></rss>
"""


def serve_feeds(port: int) -> None:
    """The feed server's process: /feed/<n> with an ETag, 304 to If-None-Match; /hits the log."""
    hits: list[tuple[float, int, int, str]] = []  # (time, source, status, user agent)

    async def feed(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        tag = f'"v1-{n}"'
        agent = request.headers.get("User-Agent", "")
        if request.headers.get("If-None-Match") == tag:
            hits.append((time.time(), n, 304, agent))
            return web.Response(status=304, headers={"ETag": tag})
        hits.append((time.time(), n, 200, agent))
        body = FEED.format(n=n, port=port)
        return web.Response(text=body, content_type="application/rss+xml", headers={"ETag": tag})

    async def log(request: web.Request) -> web.Response:
        since = int(request.query.get("since", "0"))
        return web.json_response(hits[since:])

    async def clear(request: web.Request) -> web.Response:
        hits.clear()
        return web.json_response({"ok": True})

    app = web.Application()
    app.add_routes([web.get("/feed/{n}", feed), web.get("/hits", log), web.post("/clear", clear)])
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


@contextlib.contextmanager
def feed_process() -> Iterator[int]:
    port = free_port()
    command = [sys.executable, str(Path(__file__).resolve()), "feeds", "--port", str(port)]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        yield port
    finally:
        server.terminate()
        server.wait(10)


@dataclass
class Cycle:
    seconds: float
    polled: int
    doubled: int
    cpu_ms: list[float]  # per source, per worker


@dataclass
class IngestRun:
    workers: int
    startup: float  # start of the processes to the first poll
    first: Cycle
    steady: Cycle


class HitLog:
    def __init__(self, session: ClientSession, port: int) -> None:
        self._session = session
        self._url = f"http://127.0.0.1:{port}"
        self.hits: list[tuple[float, int, int, str]] = []

    async def clear(self) -> None:
        for _ in range(100):  # the feed server may still be starting
            with contextlib.suppress(OSError):
                async with self._session.post(f"{self._url}/clear") as response:
                    response.raise_for_status()
                    break
            await asyncio.sleep(0.1)
        self.hits = []

    async def read(self) -> None:
        async with self._session.get(f"{self._url}/hits", params={"since": len(self.hits)}) as response:
            self.hits += [tuple(h) for h in json.loads(await response.text())]


def cycle_of(hits: Sequence[tuple[float, int, int, str]], sources: int, cpu: dict[str, float]) -> Cycle:
    per_source = Counter(n for _, n, _, _ in hits)
    per_worker = Counter(agent for *_, agent in hits)
    times = [t for t, *_ in hits]
    return Cycle(
        seconds=max(times) - min(times) if times else float("nan"),
        polled=len(per_source),
        doubled=sum(1 for c in per_source.values() if c > 1),
        cpu_ms=[cpu[name] * 1000 / max(per_worker[name], 1) for name in sorted(cpu)],
    )


async def ingest_run(
    databases: Databases, args: argparse.Namespace, workers: int, feeds: int, api: str, folder: Path
) -> IngestRun:
    url = await databases.fresh()
    sources, interval = args.sources, args.interval
    config = folder / "ingest.toml"
    entries = "".join(
        f'[[sources]]\nid = "s{n}"\nname = "Feed {n}"\nurl = "http://127.0.0.1:{feeds}/feed/{n}"\n'
        f"interval = {interval}\n\n"
        for n in range(sources)
    )
    # Item pages are not fetched: the cycle is the feeds' own.
    config.write_text(f"[ingest]\nfetch_articles = false\n\n{entries}")
    async with ClientSession() as session:
        log = HitLog(session, feeds)
        await log.clear()
        started = time.time()
        with workers_running("ingest", workers, config, folder, url, api) as running:

            async def wait_for(cycles: int, within: float) -> None:
                deadline = time.monotonic() + within
                while True:
                    for worker in running:
                        worker.check()
                    await log.read()
                    done = Counter(n for _, n, _, _ in log.hits)
                    if len(done) == sources and min(done.values()) >= cycles:
                        return
                    if time.monotonic() > deadline:
                        return  # the missed ones show in the figures
                    await asyncio.sleep(0.5)

            await wait_for(1, 600)
            first_hits = list(log.hits)
            first_cpu = {w.name: cpu_seconds(w.pid) for w in running}
            first_at = min(t for t, *_ in first_hits)
            # Idle until shortly before the next cycle is due, then its CPU is the cycle's own.
            await asyncio.sleep(max(0.0, first_at + interval - 2 - time.time()))
            await log.read()
            for worker in running:
                worker.idle_cpu = cpu_seconds(worker.pid)
            between = len(log.hits)
            await wait_for(2, max(2 * interval, 600))  # a cycle may outlast its interval
            await asyncio.sleep(1.0)
            for worker in running:
                worker.cpu = cpu_seconds(worker.pid) - worker.idle_cpu
            await log.read()
            steady_hits = log.hits[between:]
    await databases.drop(url)
    return IngestRun(
        workers,
        startup=first_at - started,
        first=cycle_of(first_hits, sources, first_cpu),
        steady=cycle_of(steady_hits, sources, {w.name: w.cpu for w in running}),
    )


def describe(cycle: Cycle, sources: int) -> str:
    missed = sources - cycle.polled
    cpu = ", ".join(f"{ms:.2f}" for ms in cycle.cpu_ms)
    return (
        f"{cycle.seconds:.1f} s, {cycle.polled:,} polled ({missed} missed, {cycle.doubled} twice);"
        f" CPU ms per source per worker: {cpu}"
    )


async def ingest(args: argparse.Namespace) -> None:
    runs: dict[int, list[IngestRun]] = defaultdict(list)
    with (
        Databases(args.postgres) as databases,
        emulator_process(limits=False) as port,
        feed_process() as feeds,
    ):
        async with EmulatorClient(f"http://127.0.0.1:{port}/control") as control:
            await wait_until_up(control)
        for round_ in range(args.rounds):
            order = args.workers if round_ % 2 == 0 else args.workers[::-1]
            for n in order:
                with tempfile.TemporaryDirectory() as folder:
                    api = f"http://127.0.0.1:{port}"
                    run = await ingest_run(databases, args, n, feeds, api, Path(folder))
                runs[n].append(run)
                print(f"round {round_ + 1}, {n} ingest workers (first poll {run.startup:.1f} s after start):")
                print(f"  first cycle (200s, incl. start-up CPU): {describe(run.first, args.sources)}")
                print(f"  steady cycle (304s): {describe(run.steady, args.sources)}")
    print(f"\nmedians over {args.rounds} rounds ({args.sources:,} sources, every {args.interval:g} s):")
    for n, results in sorted(runs.items()):
        first = statistics.median(r.first.seconds for r in results)
        steady = statistics.median(r.steady.seconds for r in results)
        cpu = statistics.median(ms for r in results for ms in r.steady.cpu_ms)
        total = statistics.median(sum(r.steady.cpu_ms) / len(r.steady.cpu_ms) for r in results)
        print(
            f"  {n} workers: first cycle {first:.1f} s, steady cycle {steady:.1f} s,"
            f" {cpu:.2f} ms CPU per source polled per worker (mean {total:.2f})"
        )


# --- the command line ------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("dispatch", "ingest"):
        sub = commands.add_parser(name)
        sub.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4], help="worker counts")
        sub.add_argument("--rounds", type=int, default=2, help="rounds, worker counts alternating")
        sub.add_argument(
            "--postgres", metavar="URL", help="a server to make databases on (default: a throw-away one)"
        )
    dispatch_args, ingest_args = commands.choices["dispatch"], commands.choices["ingest"]
    dispatch_args.add_argument("--messages", type=int, default=20_000, help="rows of the broadcast")
    dispatch_args.add_argument(
        "--reply-headroom",
        type=float,
        default=0.1,
        help="workers.reply_headroom: the share of the limit left for replies (the bot's default 0.1)",
    )
    dispatch_args.add_argument(
        "--sqlite-messages", type=int, default=5000, help="rows of bench_dispatch.py's SQLite run"
    )
    ingest_args.add_argument("--sources", type=int, default=10_000)
    ingest_args.add_argument("--interval", type=float, default=60.0, help="seconds between polls")
    feeds = commands.add_parser("feeds", help="serve the feeds (the ingest bench starts it)")
    feeds.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    if args.command == "feeds":
        serve_feeds(args.port)
    else:
        asyncio.run(dispatch(args) if args.command == "dispatch" else ingest(args))


if __name__ == "__main__":
    main()
