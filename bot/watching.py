"""The watching endpoint: ``/metrics`` for Prometheus and ``/healthz`` for a supervisor or a probe.

Served by aiohttp on the bot's own event loop, so a scrape sees the live dispatcher and
supervisor, and costs a few reads of counters on the database's read connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.errors import ConfigError
from bot.metrics import Metrics
from bot.storage import DATABASE_ERRORS, watch
from bot.storage.interface import Database
from bot.supervisor import Supervisor
from bot.workers import Roles, Workers

logger = logging.getLogger(__name__)

# How long /healthz waits for the database's write lock before it calls the database unwritable:
# a normal transaction holds it for milliseconds; a backup or a stuck process for much longer.
WRITE_TIMEOUT = 1.0
# One process doing everything (SQLite, or ``--role all``).
EVERYTHING = Roles(updates=True, ingest=True, dispatch=True, shared=False)


@dataclass(frozen=True, slots=True)
class Health:
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def body(self) -> str:
        return json.dumps({"status": "ok" if self.ok else "failing", "problems": list(self.problems)})


class Watcher:
    """Answers /metrics and /healthz from the application's services."""

    def __init__(
        self,
        db: Database,
        metrics: Metrics,
        *,
        supervisor: Supervisor,
        dispatcher_task: Callable[[], asyncio.Task[None] | None],
        pollers_running: Callable[[], bool],
        updates_running: Callable[[], bool] = lambda: True,
        roles: Roles = EVERYTHING,
        workers: Workers | None = None,
        write_timeout: float = WRITE_TIMEOUT,
    ) -> None:
        # The services themselves, not the application's BotData: this module sits below context.
        self._db = db
        self._roles = roles
        self._workers = workers
        self._updates_running = updates_running
        self._supervisor = supervisor
        self._dispatcher_task = dispatcher_task
        self._metrics = metrics
        self._pollers_running = pollers_running
        self._write_timeout = write_timeout
        self._probe_lock = asyncio.Lock()  # one write probe at a time on its connection
        self._runner: web.AppRunner | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The host and port served (the real port when 0 was asked for)."""
        assert self._runner is not None, "start() first"
        host, port = self._runner.addresses[0][:2]
        return str(host), int(port)

    async def start(self, address: str) -> None:
        """Listen on "HOST:PORT"."""
        host, _, port = address.rpartition(":")
        app = web.Application()
        app.router.add_get("/metrics", self._on_metrics)
        app.router.add_get("/healthz", self._on_healthz)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, host.strip("[]"), int(port)).start()
        except OSError as exc:  # the port is taken, or the address is not this machine's
            await runner.cleanup()
            raise ConfigError("bot.metrics", f"cannot listen on {address}: {exc.strerror or exc}") from None
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        logger.info("Serving /metrics and /healthz on http://%s:%d", *self.address)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _on_metrics(self, request: web.Request) -> web.Response:
        db = self._db
        now = time.time()
        queue = await watch.queue_figures(db, now=now)
        sources = await watch.source_figures(db)
        body = self._metrics.render(queue, sources, now=now)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _on_healthz(self, request: web.Request) -> web.Response:
        health = await self.health()
        return web.Response(
            text=health.body(), status=200 if health.ok else 503, content_type="application/json"
        )

    async def health(self) -> Health:
        """What is wrong now with the work of this worker's roles, its leases, or the database."""
        problems: list[str] = []
        roles = self._roles
        watched: list[str] = []  # the supervised kinds: delivery is the dispatcher, ingest the pollers
        if roles.dispatch:
            watched.append("delivery")
            task = self._dispatcher_task()
            if task is None or task.done():
                problems.append("delivery: the dispatcher is not running")
        if roles.ingest:
            watched.append("ingest")
            if not self._pollers_running():
                problems.append("ingest: the job queue that polls the sources is not running")
        if self._workers is not None:
            problems.extend(self._updates_problems(self._workers))
            problems.extend(self._workers.problems())
        for kind in watched:
            health = self._supervisor.health.get(kind)
            if health is not None and health.failing:
                problems.append(
                    f"{kind}: failing, retrying with back-off"
                    f" ({', '.join(sorted(health.failing))}: {health.last_error})"
                )
        problems.extend(await self._database_problems())
        return Health(tuple(problems))

    def _updates_problems(self, workers: Workers) -> list[str]:
        # One process alone stops when its polling ends (bot.app.serve); a worker among several
        # may legitimately stand by while another polls, so it is judged by the election.
        if not self._roles.updates:
            return []
        if workers.elects_poller:
            if workers.receives_updates:
                return []
            return ["updates: no worker is known to poll Telegram (this one is not elected)"]
        if self._updates_running():
            return []
        return ["updates: the webhook server is not running"]

    async def _database_problems(self) -> list[str]:
        db = self._db
        try:
            async with self._probe_lock:
                await asyncio.wait_for(
                    db.check_writable(lock_wait=self._write_timeout), self._write_timeout + 1
                )
        except DATABASE_ERRORS as exc:
            return [f"database: not writable ({' '.join(str(exc).split()) or type(exc).__name__})"]
        return []
