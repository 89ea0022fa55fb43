"""A per-user command budget: a token bucket that refills at N commands a minute.

One reader sending hundreds of commands must not take the bot's time from everyone else. Each
sender (a user, or a channel posting as itself) gets ``per_minute`` commands at once and then
one more every ``60 / per_minute`` seconds. The first command over budget is told so politely;
the rest are ignored until the bucket has room again.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

MAX_TRACKED = 10_000  # senders kept at once; a full bucket is the same as no entry


class Verdict(Enum):
    ALLOW = "allow"
    WARN = "warn"  # over budget, first time since the last allowed command: say so once
    DROP = "drop"  # over budget and already told


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float
    warned: bool = False


class CommandBudget:
    """Token buckets per sender; O(1) per command, memory bounded by ``MAX_TRACKED``."""

    def __init__(self, per_minute: float) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._buckets: dict[int, _Bucket] = {}

    def check(self, sender: int, now: float) -> Verdict:
        """Spend one command of the sender's budget, and say whether it may run."""
        bucket = self._buckets.get(sender)
        if bucket is None:
            if len(self._buckets) >= MAX_TRACKED:
                self._forget_full(now)
            bucket = self._buckets[sender] = _Bucket(tokens=self.capacity, at=now)
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            bucket.warned = False
            return Verdict.ALLOW
        if bucket.warned:
            return Verdict.DROP
        bucket.warned = True
        return Verdict.WARN

    def seconds_until_next(self, sender: int) -> float:
        """How long until the sender may send one more command."""
        bucket = self._buckets.get(sender)
        if bucket is None or bucket.tokens >= 1.0:
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled completely: forgetting them changes nothing."""
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.at) * self.rate >= self.capacity]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= MAX_TRACKED:
            # Everyone is busy at once: forget the oldest half rather than grow without bound.
            oldest = sorted(self._buckets, key=lambda k: self._buckets[k].at)[: MAX_TRACKED // 2]
            for key in oldest:
                del self._buckets[key]
