"""One supervisor for every long-running task: a failed step is logged, counted, retried, reported once.

Two shapes of task share it:
- a repeating job (a source's poll, the digests, the pruning) runs ``step()`` each time; a step
  that raises makes that job skip its runs until a doubling back-off has passed;
- a long-running coroutine (the dispatcher) runs under ``keep_running()``, which starts it again
  after a doubling back-off whenever it raises.

Admins hear once when a kind of task starts failing and once when it has recovered, never on every
failure; the counts since start are shown by /stats.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.i18n import Translate, translator

logger = logging.getLogger(__name__)

# Notes go out as a function of the language: each admin reads it in their own.
Note = Callable[[Translate], str]
Notify = Callable[[Note], Awaitable[None]]

# Back-off after a failure doubles from FIRST_DELAY up to MAX_DELAY; a restarted long-running
# task that has run RECOVER_AFTER seconds without failing has recovered.
FIRST_DELAY = 1.0
MAX_DELAY = 300.0
RECOVER_AFTER = 10.0


@dataclass
class TaskHealth:
    """What admins see of one kind of task."""

    errors: int = 0
    last_error: str | None = None
    # Keys (jobs) of this kind failing right now; admins were told when the first one failed.
    failing: set[str] = field(default_factory=set)


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text[:300]


class Supervisor:
    """Runs task steps so that no single failure ends a task for good."""

    def __init__(
        self,
        notify: Notify,
        *,
        first_delay: float | None = None,
        max_delay: float | None = None,
        recover_after: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        translate: Translate | None = None,
    ) -> None:
        self._notify = notify
        # /stats' line speaks this language unless given another (notes speak each admin's).
        self._tr = translate if translate is not None else translator("en")
        self.first_delay = FIRST_DELAY if first_delay is None else first_delay
        self.max_delay = MAX_DELAY if max_delay is None else max_delay
        self.recover_after = RECOVER_AFTER if recover_after is None else recover_after
        self._clock = clock
        self.health: dict[str, TaskHealth] = {}
        self._delay: dict[str, float] = {}
        self._next_try: dict[str, float] = {}
        self._stopping = asyncio.Event()

    # --- repeating jobs ----------------------------------------------------------------------

    async def step(self, kind: str, key: str, run: Callable[[], Awaitable[None]]) -> bool:
        """Run one step of job ``key``; False when it failed or is still backing off."""
        if self._next_try.get(key, 0.0) > self._clock():
            return False
        try:
            await run()
        except Exception as exc:
            await self._failed(kind, key, exc)
            return False
        await self._succeeded(kind, key)
        return True

    def waiting(self, key: str) -> bool:
        """Whether job ``key`` failed and is backing off (``step`` would not run it now)."""
        return self._next_try.get(key, 0.0) > self._clock()

    def failing(self, kind: str) -> set[str]:
        """The jobs of ``kind`` failing now."""
        health = self.health.get(kind)
        return set(health.failing) if health is not None else set()

    async def gone(self, kind: str, key: str) -> None:
        """A failing job ended another way (its work was taken down or done elsewhere): it no
        longer counts as failing, and admins hear of the recovery when it was the last one."""
        await self._succeeded(kind, key)

    # --- long-running tasks ------------------------------------------------------------------

    def keep_running(self, kind: str, run: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """Run ``run()`` in a task until ``stop()``, starting it again after each failure."""
        return asyncio.create_task(self._keep_running(kind, run), name=kind)

    async def _keep_running(self, kind: str, run: Callable[[], Awaitable[None]]) -> None:
        while not self._stopping.is_set():
            task = asyncio.ensure_future(run())
            try:
                done, _ = await asyncio.wait({task}, timeout=self.recover_after)
                if not done:
                    await self._succeeded(kind, kind)
                await task
            except asyncio.CancelledError:
                task.cancel()
                raise
            except Exception as exc:
                await self._failed(kind, kind, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._delay[kind])
                continue
            # run() returned by itself: it was stopped, or chose to stop (a rejected token).
            return

    def stop(self) -> None:
        """Start nothing again; wake the tasks waiting out a back-off so that they end."""
        self._stopping.set()

    # --- bookkeeping -------------------------------------------------------------------------

    async def _failed(self, kind: str, key: str, exc: Exception) -> None:
        health = self.health.setdefault(kind, TaskHealth())
        health.errors += 1
        health.last_error = _describe(exc)
        delay = min(self._delay.get(key, self.first_delay / 2) * 2, self.max_delay)
        self._delay[key] = delay
        self._next_try[key] = self._clock() + delay
        first_of_key = key not in health.failing
        if first_of_key:
            logger.error("%s failed; retrying in %.1f s", key, delay, exc_info=exc)
        else:
            logger.warning("%s failed again (%s); retrying in %.1f s", key, health.last_error, delay)
        if not health.failing:
            health.failing.add(key)
            error = health.last_error

            def failing(tr: Translate) -> str:
                text = tr(
                    "⚠️ <b>{kind}</b> is failing: {error}\n"
                    "It is retried with back-off; you will hear when it recovers."
                )
                return text.format(kind=html.escape(kind), error=html.escape(error))

            await self._tell(failing)
        health.failing.add(key)

    async def _succeeded(self, kind: str, key: str) -> None:
        self._delay.pop(key, None)
        self._next_try.pop(key, None)
        health = self.health.get(kind)
        if health is None or key not in health.failing:
            return
        health.failing.discard(key)
        logger.info("%s has recovered", key)
        if not health.failing:
            errors = health.errors

            def recovered(tr: Translate) -> str:
                text = tr.ngettext(
                    "✅ <b>{kind}</b> has recovered ({n} error since start).",
                    "✅ <b>{kind}</b> has recovered ({n} errors since start).",
                    errors,
                )
                return text.format(kind=html.escape(kind), n=errors)

            await self._tell(recovered)

    async def _tell(self, note: Note) -> None:
        try:
            await self._notify(note)
        except Exception:  # telling the admins must never become a failure of its own
            logger.exception("Could not tell the admins")

    def summary(self, translate: Translate | None = None) -> str:
        """One line for /stats: errors per kind of task since start, and what is failing now."""
        tr = translate or self._tr
        if not self.health:
            return tr("task errors since start: none")
        parts = [f"{kind} {h.errors}" for kind, h in sorted(self.health.items())]
        failing = [kind for kind, h in sorted(self.health.items()) if h.failing]
        line = tr("task errors since start: {counts}").format(counts=", ".join(parts))
        return line + (tr(" (failing now: {kinds})").format(kinds=", ".join(failing)) if failing else "")
