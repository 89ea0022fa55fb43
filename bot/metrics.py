"""Prometheus metrics in a registry of their own (tests build many applications in one process).

Most figures are read when scraped, from counters that exist anyway: the dispatcher's
``DispatchCounters`` and the database's trigger-kept counters. Only what nothing counts yet is
instrumented: the time a send takes, a poll's duration and failures, and fan-out sizes, each
observed outside the dispatcher's own loop.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import fields
from typing import ParamSpec, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.models import DispatchCounters
from bot.storage.watch import QueueFigures, SourceFigures

P = ParamSpec("P")
R = TypeVar("R")

# A send is one HTTPS round trip to Telegram: tens of milliseconds, seconds when it struggles.
SEND_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
POLL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
FAN_OUT_BUCKETS = (0, 1, 10, 100, 1_000, 10_000, 100_000, 1_000_000)


class Metrics:
    """The bot's metrics; ``render()`` gives the text exposition a scrape answers with."""

    def __init__(self, counters: Callable[[], DispatchCounters | None]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.send_seconds = Histogram(
            "newsbot_send_seconds",
            "Seconds from a delivery's send call to Telegram's answer",
            buckets=SEND_BUCKETS,
            registry=self.registry,
        )
        self.poll_seconds = Histogram(
            "newsbot_poll_seconds",
            "Seconds one poll of a source took (fetch, parse, store, fan-out)",
            ["source"],
            buckets=POLL_BUCKETS,
            registry=self.registry,
        )
        self.poll_failures = Counter(
            "newsbot_poll_failures",
            "Polls of a source that failed",
            ["source"],
            registry=self.registry,
        )
        self.fan_out_size = Histogram(
            "newsbot_fanout_size",
            "Deliveries queued for one new article",
            buckets=FAN_OUT_BUCKETS,
            registry=self.registry,
        )
        self._collector = _Figures(counters)
        self.registry.register(self._collector)

    def render(self, queue: QueueFigures, sources: list[SourceFigures], *, now: float) -> bytes:
        """The exposition text, with these database figures read just before."""
        self._collector.queue, self._collector.sources, self._collector.now = queue, sources, now
        try:
            return generate_latest(self.registry)
        finally:
            self._collector.queue, self._collector.sources = None, []

    def timed(self, send: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        """Wrap a send function so each call's time to Telegram's answer (or error) is observed."""
        observe = self.send_seconds.observe

        async def timed_send(*args: P.args, **kwargs: P.kwargs) -> R:
            started = time.perf_counter()
            try:
                return await send(*args, **kwargs)
            finally:
                observe(time.perf_counter() - started)

        return timed_send


class _Figures(Collector):
    """Reads existing counters at scrape time instead of instrumenting the paths that move them."""

    def __init__(self, counters: Callable[[], DispatchCounters | None]) -> None:
        self._counters = counters
        self.queue: QueueFigures | None = None
        self.sources: list[SourceFigures] = []
        self.now = 0.0

    def describe(self) -> Iterator[Metric]:
        return iter(())  # names depend on what is scraped; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        counters = self._counters() or DispatchCounters()
        deliveries = CounterMetricFamily(
            "newsbot_deliveries",
            "Deliveries the dispatcher finished since start, by outcome",
            labels=["outcome"],
        )
        for f in fields(DispatchCounters):
            if f.name not in ("flood_waits", "late_outcomes"):
                deliveries.add_metric([f.name], getattr(counters, f.name))
        yield deliveries
        yield CounterMetricFamily(
            "newsbot_telegram_429",
            "Sends Telegram answered with 429 Too Many Requests, since start",
            value=counters.flood_waits,
        )
        yield CounterMetricFamily(
            "newsbot_late_outcomes",
            "Send outcomes dropped since start: another worker had taken their rows over",
            value=counters.late_outcomes,
        )
        queue = self.queue
        if queue is not None:
            yield GaugeMetricFamily(
                "newsbot_queue_depth", "Deliveries queued or being sent", value=queue.depth
            )
            age = 0.0 if queue.oldest_due is None else max(0.0, self.now - queue.oldest_due)
            yield GaugeMetricFamily(
                "newsbot_queue_oldest_due_seconds",
                "Age of the oldest delivery that is due now (0 when none waits)",
                value=age,
            )
            rows = GaugeMetricFamily(
                "newsbot_outbox_rows", "Deliveries by state, compacted ones included", labels=["state"]
            )
            for state, n in sorted(queue.by_state.items()):
                rows.add_metric([state], n)
            yield rows
            chats = GaugeMetricFamily("newsbot_chats", "Chats by status", labels=["status"])
            for status, n in sorted(queue.chats.items()):
                chats.add_metric([status], n)
            yield chats
        if self.sources:
            stored = CounterMetricFamily(
                "newsbot_articles_stored", "Articles stored from a source, ever", labels=["source"]
            )
            failing = GaugeMetricFamily(
                "newsbot_source_failing_polls", "Consecutive failed polls of a source", labels=["source"]
            )
            for source in self.sources:
                stored.add_metric([source.id], source.stored)
                failing.add_metric([source.id], source.failures)
            yield stored
            yield failing
