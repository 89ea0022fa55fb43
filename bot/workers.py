"""Several workers on one PostgreSQL database: roles, leases kept by heartbeat, and outbox shards.

Each piece of work only one worker may do at a time is a lease (``bot/storage/leases.py``): a
dispatch shard, long polling ("updates"), the periodic jobs ("periodic"). A worker renews its leases
every third of the lease time; one that cannot renew stops the work a lease guards a fifth of the
lease time before it could have expired on the server, so two workers never do it at once. On
SQLite one process does everything and none of this runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from bot.config import Settings, WorkerSettings
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.ratelimit import Limiter
from bot.errors import ConfigError
from bot.storage import leases, outbox
from bot.storage.interface import Database
from bot.storage.outbox import Shards

logger = logging.getLogger(__name__)

UPDATES = "updates"  # long polling: exactly one replica calls getUpdates
PERIODIC = "periodic"  # channels tick, digests, pruning, compaction, error reports
SHARD = "shard:"  # shard:<n> of the outbox
DISPATCH_WORKER = "dispatch-worker:"  # dispatch-worker:<holder>: a live dispatcher's own heartbeat
MARGIN = 0.2  # of the lease time: how long before its expiry a holder that cannot renew stops
FORGET_AFTER = 86400.0  # seconds: leases of workers long dead are deleted by the periodic jobs


def holder_id() -> str:
    """This worker's name in the leases table: host, pid, and a random part against pid reuse."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def check_role(settings: Settings) -> None:
    """Refuse a role other than ``all`` on SQLite: one process there does everything."""
    role = settings.workers.role
    if role != "all" and not settings.bot.postgres:
        raise ConfigError(
            "--role",
            f"the {role} role needs a PostgreSQL database (bot.db or NEWSBOT_DB = postgresql://...);"
            " on a SQLite file one process does everything (--role all)",
        )


@dataclass(frozen=True, slots=True)
class Roles:
    """What this process does."""

    updates: bool
    ingest: bool
    dispatch: bool
    shared: bool  # on PostgreSQL: other workers may share the database, so leases decide

    @classmethod
    def of(cls, settings: Settings) -> Roles:
        role = settings.workers.role
        return cls(
            updates=role in ("all", "updates"),
            ingest=role in ("all", "ingest"),
            dispatch=role in ("all", "dispatch"),
            shared=settings.bot.postgres,
        )


class LeaseKeeper:
    """The leases one worker holds: taken, renewed by heartbeat, lost in time, released."""

    def __init__(
        self,
        db: Database,
        *,
        holder: str,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db  # on PostgreSQL a connection of its own (PostgresDatabase.dedicated)
        self.holder = holder
        self.ttl = ttl
        self._clock = clock
        self._valid: dict[str, float] = {}  # name -> when (our clock) the work it guards must stop
        self._guarded: dict[str, set[asyncio.Task[object]]] = {}
        self._cancelled: set[asyncio.Task[object]] = set()
        self.on_lost: list[Callable[[set[str]], None]] = []

    def held(self, name: str) -> bool:
        deadline = self._valid.get(name)
        return deadline is not None and self._clock() < deadline

    def names(self, prefix: str = "") -> set[str]:
        self.expire()
        return {name for name in self._valid if name.startswith(prefix)}

    def _deadline(self, sent: float) -> float:
        # From before the request left: the server starts its ttl later, so this ends first.
        return sent + self.ttl * (1.0 - MARGIN)

    async def acquire(self, name: str) -> bool:
        """Take ``name`` (or extend it when ours); False when another worker holds it."""
        sent = self._clock()
        now = await leases.server_time(self.db)
        if not await leases.acquire(self.db, name=name, holder=self.holder, ttl=self.ttl, now=now):
            return False
        self._valid[name] = self._deadline(sent)
        return True

    async def renew(self) -> None:
        """Extend every lease still held; the ones the database no longer has are lost."""
        names = sorted(self.names())
        if not names:
            return
        sent = self._clock()
        now = await leases.server_time(self.db)
        kept = await leases.renew(self.db, names=names, holder=self.holder, ttl=self.ttl, now=now)
        for name in kept:
            if name in self._valid:
                self._valid[name] = self._deadline(sent)
        self._lose({n for n in names if n not in kept and n in self._valid})

    async def release(self, names: set[str]) -> None:
        """Give leases up: the work stops here first, then the database hears of it."""
        for name in names:
            self._valid.pop(name, None)
        with contextlib.suppress(Exception):  # unreleased, they simply expire
            await leases.release(self.db, names=sorted(names), holder=self.holder)

    def expire(self) -> None:
        """Stop the work of every lease whose renewal did not come in time."""
        now = self._clock()
        self._lose({name for name, deadline in self._valid.items() if deadline <= now})

    def next_deadline(self) -> float | None:
        return min(self._valid.values(), default=None)

    def _lose(self, names: set[str]) -> None:
        if not names:
            return
        for name in names:
            self._valid.pop(name, None)
            for task in self._guarded.pop(name, set()):
                self._cancelled.add(task)
                task.cancel()
        logger.warning("Lost leases %s (no heartbeat in time): their work stops", ", ".join(sorted(names)))
        for callback in self.on_lost:
            callback(names)

    async def guarded(self, name: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` only while ``name`` is held; cancelled (quietly) the moment it is lost."""
        if not self.held(name):
            return
        task: asyncio.Task[object] | None = asyncio.current_task()
        assert task is not None
        self._guarded.setdefault(name, set()).add(task)
        try:
            await work()
        except asyncio.CancelledError:
            if task not in self._cancelled:
                raise
            task.uncancel()
            logger.info("Stopped %s work: its lease was lost", name)
        finally:
            self._cancelled.discard(task)
            self._guarded.get(name, set()).discard(task)

    async def watch(self) -> None:
        """Stop lapsed leases' work on time even while a heartbeat waits for the database."""
        while True:
            deadline = self.next_deadline()
            pause = self.ttl / 10
            if deadline is not None:
                pause = min(pause, max(0.0, deadline - self._clock()))
            await asyncio.sleep(pause)
            self.expire()


def shard_name(shard: int) -> str:
    return f"{SHARD}{shard}"


class ShardBalancer:
    """Keeps this dispatch worker's share of the outbox shards, and of the global send budget."""

    def __init__(
        self,
        db: Database,
        keeper: LeaseKeeper,
        *,
        count: int,
        dispatcher: Dispatcher,
        limiter: Limiter,
        global_per_second: float,
        reply_headroom: float = 0.0,
    ) -> None:
        self._db = db
        self._keeper = keeper
        self.count = count
        self._dispatcher = dispatcher
        self._limiter = limiter
        # Replies (from updates workers anywhere) are not in the shared budget: leave them room.
        self._global = global_per_second * (1.0 - reply_headroom)
        self._me = DISPATCH_WORKER + keeper.holder
        # Shards leased but not yet taken over (their dead holder's rows re-queued): kept across
        # heartbeats, since a heartbeat cut off by its timeout between the two must not leave them.
        self._taking: set[int] = set()
        self._applied: frozenset[int] | None = None
        keeper.on_lost.append(self._lost)
        self._apply()

    def held(self) -> frozenset[int]:
        return frozenset(int(name[len(SHARD) :]) for name in self._keeper.names(SHARD))

    def _apply(self) -> None:
        """Hand the dispatcher the shards held now, and its share of the overall rate."""
        held = self.held() - self._taking
        self._applied = held
        self._dispatcher.set_shards(Shards(self.count, held))
        # The budget is shared by shards, so the workers' rates add up to the limit (less the
        # replies' headroom), never more.
        share = self._global * max(len(held), 1) / self.count
        self._limiter.set_global_rate(share)

    def _lost(self, names: set[str]) -> None:
        if any(name.startswith(SHARD) for name in names):
            self._apply()

    async def balance(self) -> None:
        """Take free shards up to a fair share, or give back what is over it."""
        if not self._keeper.held(self._me):
            await self._keeper.acquire(self._me)
        await self._take_over()
        # The lease table is read on the keeper's connection too: the pool may be full of claims.
        now = await leases.server_time(self._keeper.db)
        workers = len(await leases.live(self._keeper.db, prefix=DISPATCH_WORKER, now=now)) or 1
        target = math.ceil(self.count / workers)
        held = self.held()
        if len(held) > target:
            await self._shed(set(random.sample(sorted(held), len(held) - target)))
            return
        taken = {lease.name for lease in await leases.live(self._keeper.db, prefix=SHARD, now=now)}
        free = [s for s in range(self.count) if shard_name(s) not in taken]
        random.shuffle(free)  # workers starting together do not all race for shard 0 first
        gained: set[int] = set()
        for shard in free:
            if len(held) + len(gained) >= target:
                break
            if await self._keeper.acquire(shard_name(shard)):
                gained.add(shard)
                self._taking.add(shard)
        await self._take_over()
        if self._applied != self.held() - self._taking:
            self._apply()  # a shed cut off half-way, or shards lost meanwhile

    async def _take_over(self) -> None:
        """Start sending the shards just leased, once the rows their last holder left are re-queued."""
        self._taking &= self.held()
        if not self._taking:
            return
        shards = Shards(self.count, frozenset(self._taking))
        # This worker may be that last holder (a late heartbeat lost them a moment ago): its sends
        # still in flight there are recorded first, or re-queued they would go out twice.
        await self._dispatcher.settle(shards)
        # Rows a dead holder left in 'sending' (its in-flight sends) go back to the queue first.
        requeued = await outbox.release_claims(self._db, shards=shards)
        names = ",".join(map(str, sorted(shards.held)))
        logger.info("Took outbox shards %s (%d deliveries re-queued)", names, requeued)
        self._taking -= shards.held
        self._apply()

    async def _shed(self, shards: set[int]) -> None:
        """Give shards back cleanly: no new sends, the ones in flight recorded, the rest re-queued."""
        keep = self.held() - shards
        self._applied = keep
        self._dispatcher.set_shards(Shards(self.count, keep))
        await self._dispatcher.settle(Shards(self.count, frozenset(shards)))
        await outbox.release_claims(self._db, shards=Shards(self.count, frozenset(shards)))
        await self._keeper.release({shard_name(s) for s in shards})
        logger.info("Gave outbox shards %s to other workers", ",".join(map(str, sorted(shards))))
        self._apply()

    async def stop(self) -> None:
        await self._keeper.release({shard_name(s) for s in self.held()} | {self._me})


class Workers:
    """The heartbeat of one worker: renews its leases, balances shards, elects the poller."""

    def __init__(
        self,
        db: Database,
        settings: WorkerSettings,
        roles: Roles,
        *,
        holder: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        lease_db: Database | None = None,
    ) -> None:
        """``lease_db``: where the heartbeat writes (default ``db``); the caller opens and closes it."""
        self._db = db
        self.roles = roles
        self.keeper = LeaseKeeper(
            lease_db or db, holder=holder or holder_id(), ttl=settings.lease_seconds, clock=clock
        )
        self.keeper.on_lost.append(self._lost)
        self.balancer: ShardBalancer | None = None
        self._start_polling: Callable[[], Coroutine[Any, Any, None]] | None = None
        self._stop_polling: Callable[[], Coroutine[Any, Any, None]] | None = None
        self._polling = False
        self._standby = False  # another worker held "updates" at the last heartbeat
        self._tasks: set[asyncio.Task[None]] = set()
        self.heartbeat_error: str | None = None  # why the last heartbeat failed; None when it worked

    def elect_poller(
        self, start: Callable[[], Coroutine[Any, Any, None]], stop: Callable[[], Coroutine[Any, Any, None]]
    ) -> None:
        """Long polling: this worker polls only while it holds the "updates" lease."""
        self._start_polling, self._stop_polling = start, stop

    @property
    def elects_poller(self) -> bool:
        return self._start_polling is not None

    @property
    def receives_updates(self) -> bool:
        """Long polling: True while this worker polls, or another worker is the elected poller."""
        return self._polling or self._standby

    def _lost(self, names: set[str]) -> None:
        if UPDATES in names and self._polling and self._stop_polling is not None:
            self._polling = False
            task = asyncio.get_running_loop().create_task(self._stop_polling())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def step(self) -> None:
        """One heartbeat."""
        await self.keeper.renew()
        if self.balancer is not None:
            await self.balancer.balance()
        if self.roles.ingest and not self.keeper.held(PERIODIC):
            await self.keeper.acquire(PERIODIC)
        if self._start_polling is not None and not self._polling:
            elected = await self.keeper.acquire(UPDATES)
            self._standby = not elected
            if elected:
                logger.info("Elected to poll Telegram for updates")
                self._polling = True
                await self._start_polling()

    async def run(self) -> None:
        """Heartbeat every third of the lease time until cancelled; a failed beat is retried."""
        watch = asyncio.get_running_loop().create_task(self.keeper.watch())
        try:
            while True:
                try:
                    await asyncio.wait_for(self.step(), self.keeper.ttl / 3)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the database away for a moment: the leases' deadlines still hold
                    reason = " ".join(str(exc).split()) or type(exc).__name__
                    self.heartbeat_error = reason
                    self._standby = False  # nobody here knows any more who polls
                    logger.warning("Worker heartbeat failed: %s", reason)
                else:
                    self.heartbeat_error = None
                await asyncio.sleep(self.keeper.ttl / 3)
        finally:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch

    def problems(self) -> list[str]:
        """What /healthz says about this worker's leases: a heartbeat that cannot renew them."""
        if self.heartbeat_error is None:
            return []
        held = ", ".join(sorted(self.keeper.names())) or "none left"
        return [f"leases: cannot renew ({self.heartbeat_error}); still held: {held}"]

    async def stop(self) -> None:
        """Give every lease back, so the other workers take over at once rather than after expiry."""
        if self.balancer is not None:
            await self.balancer.stop()
        await self.keeper.release(self.keeper.names())


async def forget_dead(db: Database) -> int:
    """Delete leases nobody renewed for a day: those of workers long gone, whose names never return."""
    now = await leases.server_time(db)
    return await leases.forget_dead(db, before=now - FORGET_AFTER)
