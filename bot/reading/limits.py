"""Per-reader limits on page fetches and searches: one reader's burst slows nobody else."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

Kind = Literal["fetch", "search"]


@dataclass(frozen=True, slots=True)
class Rate:
    burst: int  # requests allowed at once
    per_minute: float  # refilled steadily


DEFAULT_RATES: dict[Kind, Rate] = {"fetch": Rate(3, 6.0), "search": Rate(10, 30.0)}
MAX_READERS = 50_000  # the table forgets the least recently seen readers beyond this


class ReaderLimits:
    """Token buckets per (reader, kind), kept in memory; a restart forgives everyone."""

    def __init__(self, rates: dict[Kind, Rate] | None = None) -> None:
        self.rates = dict(DEFAULT_RATES if rates is None else rates)
        self._buckets: OrderedDict[tuple[int, Kind], tuple[float, float]] = OrderedDict()

    def allow(self, user_id: int, kind: Kind, *, now: float) -> bool:
        """Take one token from the reader's bucket; False when it is empty."""
        rate = self.rates[kind]
        key = (user_id, kind)
        tokens, since = self._buckets.pop(key, (float(rate.burst), now))
        tokens = min(float(rate.burst), tokens + (now - since) * rate.per_minute / 60.0)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        while len(self._buckets) > MAX_READERS:
            self._buckets.popitem(last=False)
        return allowed
