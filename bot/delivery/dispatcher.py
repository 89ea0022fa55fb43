"""The dispatcher: claims due outbox rows, sends them at Telegram's limits, records every outcome.

One long-running task per process. It keeps a small window of claimed rows in memory, grouped
by chat, oldest article first; a chat is eligible when its own limit allows, and eligible
chats are served breaking first, then in claim order, in small bursts as the overall window
frees. Rows are claimed round-robin across the articles that have due rows, so a reader's item
from a small send does not wait behind a 100,000-chat broadcast that began minutes earlier.

Outcome rules (see TELEGRAM.md): 403 blocks the chat; ChatMigrated moves it and resends; 429
holds that chat for ``retry_after`` (every chat, when several are refused together); any other
400 fails the row for good; network errors and 5xx retry with capped back-off until
``give_up_after``. Nothing is marked sent before Telegram answered with a message id.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import heapq
import itertools
import logging
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)

from bot.delivery.ratelimit import NEVER, Limiter
from bot.delivery.schedule import quiet_until
from bot.models import Article, DispatchCounters
from bot.storage import DATABASE_ERRORS, articles, chats, outbox
from bot.storage.interface import Database
from bot.storage.outbox import ALL_SHARDS, ClaimedRow, Outcomes, Shards

logger = logging.getLogger(__name__)

# (row, article) -> Telegram message id; raises PTB's exceptions.
SendFunc = Callable[[ClaimedRow, Article], Awaitable[int]]
# (row naming the chat and topic, articles) -> message id of one list message.
BatchSendFunc = Callable[[ClaimedRow, list[Article]], Awaitable[int]]

_LOST_CHAT = ("chat not found", "chat_id is empty", "user not found", "peer_id_invalid")
# Outcomes are recorded once the oldest unrecorded one is FLUSH_EVERY old, or FLUSH_SIZE are
# waiting: what a crash can double is bounded by both. One transaction costs ~0.34 ms of CPU,
# so at 30/s recording each send on its own was a quarter of the CPU per message.
FLUSH_EVERY = 0.25  # seconds
FLUSH_SIZE = 50  # at the 1,000/s ceiling this keeps what a crash can double where 50 ms kept it
ACTIVE_EVERY = 1.0  # seconds between looks for articles with rows to send
RECHECK = 0.05  # seconds: a chat waiting for an answer in flight is looked at again this often
MAX_IN_FLIGHT = 100
ARTICLE_CACHE = 1000


def in_flight_for(global_per_second: float, *, round_trip: float = 0.1) -> int:
    """Sends to keep in flight to reach a rate over a link with the given round trip.

    More is not free: httpcore scans every pooled connection on each request, so an oversized
    pool costs CPU on every message. 30/s needs a handful; the 1000/s paid ceiling needs ~100.
    """
    return max(4, min(MAX_IN_FLIGHT, math.ceil(global_per_second * round_trip)))


@dataclass(slots=True)
class _ChatQueue:
    rows: deque[ClaimedRow] = field(default_factory=deque)
    busy: bool = False  # a send to this chat is in flight; keeps a chat's messages in order


class Dispatcher:
    """Sends the outbox; ``run()`` until ``stop()``; ``wake()`` when fan-out queued something."""

    def __init__(
        self,
        *,
        db: Database,
        send: SendFunc,
        limiter: Limiter,
        stale_after: float,
        give_up_after: float,
        window: int | None = None,
        wall_clock: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
        send_batch: BatchSendFunc | None = None,
        default_tz: str = "UTC",
        shards: Shards | None = None,
    ) -> None:
        self._db = db
        # None: the only dispatcher on the database, sending every chat. Else the shards this
        # worker leases, changed by its ShardBalancer (bot/workers.py) as workers come and go.
        self._sharded = shards is not None
        self._shards = shards if shards is not None else ALL_SHARDS
        self._send = send
        self._send_batch = send_batch
        self._default_tz = default_tz
        self._batches: dict[int, list[ClaimedRow]] = {}  # first row id -> the rows sent with it
        self._limiter = limiter
        rates = limiter.rates
        self._stale_after = stale_after
        self._give_up_after = give_up_after
        # Enough claimed rows for about two seconds of sending at the overall rate.
        self._window = window or max(50, min(4000, int(2 / rates.global_interval)))
        # Rows waiting for their own chat's turn (a group's next item, 3 s later) do not fill
        # the window; this bounds how many may wait in memory.
        self._max_claimed = max(20 * self._window, 5000)
        self._now = wall_clock
        self._clock = clock
        self._chats: dict[int, _ChatQueue] = {}
        self._claimed = 0
        self._ready: list[tuple[int, int, int]] = []  # (-priority, seq, chat id)
        self._waiting: list[tuple[float, int, int]] = []  # (ready at, seq, chat id)
        self._seq = itertools.count()
        self._articles: dict[int, Article] = {}
        self._active: deque[tuple[int, int]] = deque()  # (article id, priority)
        self._active_checked = -1e9
        self._outcomes = Outcomes.empty()
        self._unrecorded_since: float | None = None  # when the oldest unrecorded outcome was seen
        self._wake = asyncio.Event()
        self._stopping = False
        self._running = False
        self._in_flight: set[asyncio.Task[None]] = set()
        # Claims run beside the sends: awaited in the loop, a claim of a thousand rows stopped
        # every send for its whole transaction (gaps of 50-120 ms at the 1,000/s ceiling).
        self._refilling: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None  # what a claim or record in the background raised
        self._recording: asyncio.Task[None] | None = None  # outcomes being written, likewise beside the sends
        self._slots = asyncio.Semaphore(in_flight_for(1.0 / rates.global_interval))
        self.counters = DispatchCounters()

    # --- control ---------------------------------------------------------------------------

    def wake(self) -> None:
        """Look for due rows now (new fan-out, or a periodic nudge)."""
        self._active_checked = -1e9
        self._wake.set()

    async def stop(self) -> None:
        """Finish the sends in flight, record them, and hand unsent claimed rows back."""
        self._stopping = True
        self._wake.set()
        if not self._running and self._outcomes:
            # Stopped between a failed run and its restart: what was sent must still be
            # recorded, or the next start re-queues and sends it again.
            try:
                await self._flush()
            except Exception:
                logger.exception("Could not record %d delivery outcomes at shutdown", len(self._outcomes))

    def set_shards(self, shards: Shards) -> None:
        """Send only these shards' chats from now on; rows of the others are dropped from memory.

        Dropped rows stay 'sending' in the database: whoever takes their shard next re-queues
        them first (a shard given back cleanly is re-queued by ``settle`` and its caller).
        """
        self._shards = shards
        for chat_id in [c for c in self._chats if not shards.owns(c)]:
            queue = self._chats[chat_id]
            for row in queue.rows:
                self._batches.pop(row.id, None)
            self._claimed -= len(queue.rows)
            queue.rows.clear()
            if not queue.busy:  # a send in flight ends in _finish, which forgets the chat
                del self._chats[chat_id]
        self.wake()

    async def settle(self, shards: Shards) -> None:
        """Wait until no send to these shards' chats is in flight, then record every outcome."""
        # Polled: a chat's busy flag is cleared in several places, none of which signals.
        while any(queue.busy and shards.owns(chat_id) for chat_id, queue in self._chats.items()):  # noqa: ASYNC110
            await asyncio.sleep(RECHECK)
        await self._flush()

    async def run(self) -> None:
        """Send until stopped. Rows a previous process left claimed go back to the queue first."""
        # run() may be called again on the same dispatcher after it raised (a supervisor
        # restarting it): outcomes the failed run could not record are written first, so a row
        # already sent is never re-queued, and the limiter keeps its memory of recent sends.
        self._running = True
        try:
            await self._flush()
            self._forget_claims()
            # Sharded: only the shards held, which no other worker sends while we hold them.
            released = await outbox.release_claims(self._db, shards=self._shards if self._sharded else None)
            if released:
                logger.info("Re-queued %d deliveries claimed before a restart", released)
            try:
                while not self._stopping:
                    await self._step()
            finally:
                await self._drain()
        finally:
            self._running = False

    # --- the loop --------------------------------------------------------------------------

    async def _step(self) -> None:
        # Cleared before looking for work, never just before waiting: a wake-up (a send that
        # finished, new fan-out) that arrives while this step runs must not be lost.
        self._wake.clear()
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure
        now = self._clock()
        if self._refilling is None and self._wants_rows() and self._claim_due():
            self._refilling = asyncio.create_task(self._refill())
            self._refilling.add_done_callback(self._refilled)
        self._promote(now)
        if not self._ready:
            # Not a flush per idle step: at 30/s that was two transactions per message.
            await self._flush_if_due()
            await self._idle(now)
            return
        room = self._limiter.global_room(now)
        if room <= 0:
            await self._sleep_until(self._limiter.global_ready_at(now), now)
            return
        # A small burst per tick: one send per sleep lost the rate to the timer's granularity
        # (a 0.5 ms sleep takes about 1.1 ms here), while the window keeps any burst legal.
        started = 0
        while started < room and self._ready:
            _, _, chat_id = heapq.heappop(self._ready)
            queue = self._chats.get(chat_id)
            if queue is None or not queue.rows or queue.busy:
                continue
            ready_at = self._limiter.chat_ready_at(chat_id, now=now)
            if ready_at > now:  # a reply went first, or a 429 held the chat
                self._defer(chat_id, ready_at, now)
                continue
            row = queue.rows.popleft()
            queue.busy = True
            self._limiter.begin(chat_id, private=row.chat_type == "private", now=now)
            await self._slots.acquire()
            task = asyncio.create_task(self._deliver(row, chat_id))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
            started += 1
        await self._flush_if_due()

    def _refilled(self, task: asyncio.Task[None]) -> None:
        self._refilling = None
        self._background_done(task)

    def _recorded(self, task: asyncio.Task[None]) -> None:
        self._recording = None
        self._background_done(task)

    def _background_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self._failure = task.exception()
        self._wake.set()  # rows to send, outcomes to record next, or a failure to raise

    def _wants_rows(self) -> bool:
        """Claim more while few chats are ready to send: counting rows that merely wait for
        their chat's limit would let one article's groups, claimed across four articles, starve
        the overall rate."""
        return len(self._ready) < self._window // 2 and self._claimed < self._max_claimed

    def _claim_due(self) -> bool:
        """Whether a claim would ask the database anything: an article known to have rows, or
        the look for new articles due. A claim task started otherwise returned at once and woke
        the loop, which started the next: a spin while idle or after another worker emptied an
        article, until the next look a second later."""
        return bool(self._active) or self._now() - self._active_checked >= ACTIVE_EVERY

    def _promote(self, now: float) -> None:
        while self._waiting and self._waiting[0][0] <= now:
            _, _, chat_id = heapq.heappop(self._waiting)
            self._push_ready(chat_id)

    def _push_ready(self, chat_id: int) -> None:
        queue = self._chats.get(chat_id)
        if queue is None or not queue.rows or queue.busy:
            return
        heapq.heappush(self._ready, (-queue.rows[0].priority, next(self._seq), chat_id))

    def _defer(self, chat_id: int, ready_at: float, now: float) -> None:
        # NEVER means "after an answer in flight" (a reply's): look again shortly.
        when = ready_at if ready_at != NEVER else now + RECHECK
        heapq.heappush(self._waiting, (when, next(self._seq), chat_id))

    def _schedule(self, chat_id: int) -> None:
        """Put a chat back in line for its next row, when its own limit allows."""
        queue = self._chats.get(chat_id)
        if queue is None:
            return
        if not queue.rows:
            if not queue.busy:
                del self._chats[chat_id]
            return
        now = self._clock()
        ready_at = self._limiter.chat_ready_at(chat_id, now=now)
        if ready_at <= now:
            self._push_ready(chat_id)
        else:
            self._defer(chat_id, ready_at, now)

    async def _idle(self, now: float) -> None:
        if self._refilling is None and self._active and self._wants_rows():
            return  # the articles being broadcast have more rows to claim right now
        timeout = 1.0
        if self._waiting:
            timeout = min(timeout, max(self._waiting[0][0] - now, 0.001))
        if self._unrecorded_since is not None:  # record them in time even with nothing to send
            timeout = min(timeout, max(self._unrecorded_since + FLUSH_EVERY - now, 0.001))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def _sleep_until(self, ready_at: float, now: float) -> None:
        # Never past the time the oldest unrecorded outcome is due to be recorded.
        await self._flush_if_due()
        limit = FLUSH_EVERY if self._unrecorded_since is None else self._unrecorded_since + FLUSH_EVERY - now
        limit = max(limit, 0.001)
        if ready_at == NEVER:  # the window frees when an answer comes back, which wakes us
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), limit)
        else:
            await asyncio.sleep(min(ready_at - now, limit))

    # --- claiming --------------------------------------------------------------------------

    async def _refill(self) -> None:
        now_wall = self._now()
        if now_wall - self._active_checked >= ACTIVE_EVERY:
            # Look for new articles even while a big one is still being claimed: otherwise a
            # reader's single item would wait for the whole broadcast ahead of it.
            self._active_checked = now_wall
            known = {article_id for article_id, _ in self._active}
            active = await outbox.active_articles(self._db, now=now_wall, shards=self._shards)
            fresh = [a for a in active if a[0] not in known]
            self._active.extendleft(reversed(fresh))
        if not self._active:
            return
        budget = min(self._window - len(self._ready), self._max_claimed - self._claimed)
        share = max(10, budget // len(self._active))
        for _ in range(len(self._active)):
            if budget <= 0:
                break
            article_id, priority = self._active.popleft()
            limit = min(share, budget)
            rows = await outbox.claim(
                self._db, article_id=article_id, limit=limit, now=now_wall, shards=self._shards
            )
            budget -= len(rows)
            # Fewer than asked: the article has no more due rows, or another worker took some
            # between the claim's read and its mark; either way the next look at the active
            # articles (within a second) brings it back if rows are left.
            if len(rows) == limit:
                self._active.append((article_id, priority))  # more may be waiting: round-robin
            if rows:
                await self._accept(article_id, rows, now_wall)

    async def _article(self, article_id: int) -> Article | None:
        """The article a row sends, cached while its broadcast runs."""
        if article_id in self._articles:
            return self._articles[article_id]
        if len(self._articles) >= ARTICLE_CACHE:
            # A long-running bot sees thousands of articles; a cache miss costs one query.
            self._articles.clear()
        article = await articles.get_article(self._db, article_id=article_id)
        if article is not None:
            self._articles[article_id] = article
        return article

    async def _accept(self, article_id: int, rows: list[ClaimedRow], now_wall: float) -> None:
        if await self._article(article_id) is None:  # pruned between fan-out and claim
            self._outcomes.stale.extend(("stale", r.id, r.claim) for r in rows)
            self.counters.stale += len(rows)
            return
        held: dict[int, int] = {}  # chat id -> its first held row in this claim
        accepted: list[ClaimedRow] = []
        # A shard lost while this claim ran: its rows are left to the shard's next holder.
        rows = [row for row in rows if self._shards.owns(row.chat_id)]
        for row in rows:
            if now_wall - row.created_at > self._stale_after:
                # Too old to push as news; a chat with a digest still gets it listed there.
                self._outcomes.stale.append(("digest" if row.digest_time else "stale", row.id, row.claim))
                self.counters.stale += 1
                continue
            if row.kind == "push" and row.quiet_start and row.quiet_end:
                zone = ZoneInfo(row.timezone or self._default_tz)
                moment = datetime.fromtimestamp(now_wall, UTC)
                ends = quiet_until(moment, row.quiet_start, row.quiet_end, zone)
                if ends is not None:
                    self._outcomes.held.append((ends.timestamp(), row.id, row.claim))
                    continue
            if row.held and self._send_batch is not None:
                held.setdefault(row.chat_id, row.id)
            accepted.append(row)
        if held:
            # One transaction for every held chat of this claim; the chat's first held row carries the list.
            others = await outbox.claim_held(self._db, chat_ids=held, now=now_wall)
            for chat_id, chat_rows in others.items():
                self._batches[held[chat_id]] = chat_rows
        for row in accepted:
            queue = self._chats.get(row.chat_id)
            if queue is None:
                queue = self._chats[row.chat_id] = _ChatQueue()
            pending = queue.rows
            if pending and pending[-1].article_id > row.article_id:
                # A chat's items go out oldest first, even when a newer article's rows for it
                # were claimed first (round-robin across articles).
                position = len(pending)
                while position and pending[position - 1].article_id > row.article_id:
                    position -= 1
                pending.insert(position, row)
            else:
                pending.append(row)
            self._claimed += 1
            if len(queue.rows) == 1 and not queue.busy:
                self._schedule(row.chat_id)

    # --- sending and outcomes --------------------------------------------------------------

    async def _deliver(self, row: ClaimedRow, chat_id: int) -> None:
        batch = self._batches.pop(row.id, None)
        try:
            try:
                article = await self._article(row.article_id)
                if article is None:  # pruned while the row waited for its turn
                    message_id = None
                elif batch is not None and self._send_batch is not None:
                    listed = [await self._article(r.article_id) for r in batch]
                    message_id = await self._send_batch(row, [a for a in [article, *listed] if a is not None])
                else:
                    message_id = await self._send(row, article)
            finally:
                # Before any outcome reschedules the chat: its next send is paced from now.
                self._limiter.end(chat_id, now=self._clock())
            if message_id is None:
                self._outcomes.stale.append(("stale", row.id, row.claim))
                self.counters.stale += 1
                self._finish(row, chat_id)
                return
        except RetryAfter as exc:
            self._on_flood(row, chat_id, exc.retry_after)
        except ChatMigrated as exc:
            await self._on_migrated(row, chat_id, exc.new_chat_id)
        except Forbidden as exc:
            self._on_gone(row, chat_id, "blocked", str(exc))
        except BadRequest as exc:
            message = str(exc).lower()
            if any(s in message for s in _LOST_CHAT):
                self._on_gone(row, chat_id, "left", str(exc))
            else:
                self._finish(row, chat_id, failed=str(exc))
        except InvalidToken:
            logger.critical("Telegram refused the bot token; the dispatcher stops")
            self._requeue(row, chat_id)
            self._stopping = True
        except (TimedOut, NetworkError) as exc:
            # A timeout may still have delivered the message: retrying risks a double, never a loss.
            self._on_network_error(row, chat_id, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a bug of ours: record it against the row rather than loop on it
            logger.exception("Unexpected error sending delivery %d", row.id)
            self._finish(row, chat_id, failed=f"{type(exc).__name__}: {exc}")
        else:
            sent_at = self._now()
            self._outcomes.sent.append((message_id, sent_at, row.id))
            self._outcomes.sent.extend((message_id, sent_at, r.id) for r in batch or ())
            self.counters.sent += 1
            self._finish(row, chat_id)
            batch = None
        finally:
            if batch:  # the list did not go out: its other items wait for the next attempt
                self._outcomes.released.extend((self._now(), r.id, r.claim) for r in batch)
            self._slots.release()
            # An idle loop would otherwise sit on this outcome for up to a second unrecorded,
            # widening what a crash can double well beyond FLUSH_EVERY.
            self._wake.set()

    def _finish(self, row: ClaimedRow, chat_id: int, *, failed: str | None = None) -> None:
        if failed is not None:
            self._outcomes.failed.append((failed[:500], row.id, row.claim))
            self.counters.failed += 1
        self._claimed -= 1
        queue = self._chats.get(chat_id)
        if queue is not None:
            queue.busy = False
        self._schedule(chat_id)

    def _requeue(self, row: ClaimedRow, chat_id: int) -> None:
        queue = self._chats.get(chat_id)
        if queue is not None:
            queue.rows.appendleft(row)
            queue.busy = False

    def _on_flood(self, row: ClaimedRow, chat_id: int, retry_after: timedelta | int) -> None:
        seconds = retry_after.total_seconds() if isinstance(retry_after, timedelta) else float(retry_after)
        now = self._clock()
        everyone = self._limiter.flood(chat_id, until=now + seconds, now=now)
        logger.warning(
            "Telegram asked to wait %.0f s (chat %d); holding %s",
            seconds,
            chat_id,
            "all sends" if everyone else "that chat",
        )
        self.counters.flood_waits += 1
        self._requeue(row, chat_id)
        self._schedule(chat_id)

    def _on_gone(self, row: ClaimedRow, chat_id: int, status: str, reason: str) -> None:
        logger.info("Chat %d is %s (%s); stopping deliveries to it", chat_id, status, reason)
        self._outcomes.blocked_chats.append((status, self._now(), chat_id, reason[:200]))
        self.counters.blocked += 1
        queue = self._chats.pop(chat_id, None)
        self._claimed -= 1 + (len(queue.rows) if queue else 0)

    async def _on_migrated(self, row: ClaimedRow, chat_id: int, new_chat_id: int) -> None:
        logger.info("Group %d became supergroup %d; moving it", chat_id, new_chat_id)
        try:
            await self._flush()
            await chats.migrate_chat(self._db, old_id=chat_id, new_id=new_chat_id, now=self._now())
        except DATABASE_ERRORS as exc:
            # Not moved: the row is tried again later, meets the migration again and moves then.
            # (Leaving here by the exception would keep the chat busy for good.)
            self._on_network_error(row, chat_id, f"moving to {new_chat_id}: {type(exc).__name__}: {exc}")
            return
        self.counters.migrated += 1
        old = self._chats.pop(chat_id, None)
        moved = [
            dataclasses.replace(r, chat_id=new_chat_id, chat_type="supergroup")
            for r in (row, *(old.rows if old else ()))
        ]
        queue = self._chats.setdefault(new_chat_id, _ChatQueue())
        queue.rows.extendleft(reversed(moved))
        self._schedule(new_chat_id)

    def _on_network_error(self, row: ClaimedRow, chat_id: int, error: str) -> None:
        now = self._now()
        if now - row.created_at > self._give_up_after:
            self._finish(row, chat_id, failed=f"gave up: {error}")
            return
        delay = min(2.0 ** min(row.attempts, 8), 300.0) * random.uniform(0.8, 1.2)  # noqa: S311 - jitter only
        self._outcomes.retry.append((now + delay, error[:500], row.id, row.claim))
        self.counters.retried += 1
        self._finish(row, chat_id)

    async def _flush_if_due(self) -> None:
        if not self._outcomes:
            return
        now = self._clock()
        if self._unrecorded_since is None:
            # Every send's completion wakes the loop, so this is at most one step after the outcome.
            self._unrecorded_since = now
        if self._recording is None and (
            len(self._outcomes) >= FLUSH_SIZE or now - self._unrecorded_since >= FLUSH_EVERY
        ):
            self._recording = asyncio.create_task(self._record())
            self._recording.add_done_callback(self._recorded)

    async def _flush(self) -> None:
        """Record every outcome now, after the write already under way."""
        if self._recording is not None:
            # A failed write put its outcomes back, so the one below retries them.
            with contextlib.suppress(Exception):
                await asyncio.shield(self._recording)
        await self._record()

    async def _record(self) -> None:
        self._unrecorded_since = None
        if not len(self._outcomes):
            return
        batch, self._outcomes = self._outcomes, Outcomes.empty()
        try:
            late = await outbox.record(self._db, batch)
        except BaseException:
            # Kept for the next flush (or the next run): a sent row whose outcome is lost
            # would be re-queued and sent twice.
            for name in Outcomes.__dataclass_fields__:
                getattr(batch, name).extend(getattr(self._outcomes, name))
            self._outcomes = batch
            raise
        self._count_late(late, len(batch))

    def _count_late(self, late: int, of: int) -> None:
        if late:
            # Rows another worker took over (a shard handed on while these sends were out): its
            # outcome stands. Many of them point at heartbeats that come too late.
            self.counters.late_outcomes += late
            logger.warning(
                "%d of %d outcomes came too late: their rows had been taken over, left as they were",
                late,
                of,
            )

    async def _drain(self) -> None:
        if self._refilling is not None:
            # Its rows are claimed in the database: let it finish, so they are handed back below.
            with contextlib.suppress(Exception):
                await asyncio.shield(self._refilling)
        self._failure = None
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        await self._flush()
        leftovers = Outcomes.empty()
        leftovers.released.extend((self._now(), r.id, r.claim) for q in self._chats.values() for r in q.rows)
        if leftovers.released:
            # Handed back through the same guarded write, so rows taken over meanwhile are counted.
            self._count_late(await outbox.record(self._db, leftovers), len(leftovers.released))
        self._forget_claims()

    def _forget_claims(self) -> None:
        """Drop every claimed row from memory; the database's 'sending' state still has them."""
        self._chats.clear()
        self._ready.clear()
        self._waiting.clear()
        self._batches.clear()
        self._active.clear()
        self._active_checked = -1e9
        self._claimed = 0
