"""Telegram's three send limits, enforced together.

Telegram counts messages in sliding windows: about 30 a second overall, about one a second in
one private chat, 20 a minute in one group or channel, and a 429 (our bug, not bad luck) pauses
everything for ``retry_after``.

A chat's sends are spaced evenly at a little under its rate ("headroom"). The overall limit is
kept the way Telegram counts it: at most ``floor(limit * headroom)`` sends in any one second,
from a log of the last second's sends, with a minimum gap of half the even spacing so sends
still spread out. Plain even spacing lost every millisecond the event loop was late (a database
write, a timer firing late) and reached only ~94% of the limit; the log lets a late send be
made up within the same second, without ever exceeding the window.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

WINDOW = 1.0  # seconds: Telegram's overall limit is counted per second
CHAT_TABLE = 10_000  # chats whose next slot is remembered before idle ones are dropped


@dataclass(frozen=True, slots=True)
class Rates:
    global_per_second: float
    chat_per_second: float
    group_per_minute: float
    headroom: float = 0.97

    @property
    def global_interval(self) -> float:
        return 1.0 / (self.global_per_second * self.headroom)

    @property
    def global_per_window(self) -> int:
        """Sends allowed in any one-second window."""
        return max(1, math.floor(self.global_per_second * self.headroom))

    @property
    def private_interval(self) -> float:
        return 1.0 / (self.chat_per_second * self.headroom)

    @property
    def group_interval(self) -> float:
        return 60.0 / (self.group_per_minute * self.headroom)


class Limiter:
    """Next free send time overall and per chat; all times are the caller's monotonic clock."""

    def __init__(self, rates: Rates) -> None:
        self.rates = rates
        self._recent: deque[float] = deque(maxlen=rates.global_per_window)  # newest last
        self._min_gap = rates.global_interval / 2
        self._chat_next: dict[int, float] = {}
        self._paused_until = 0.0

    def chat_ready_at(self, chat_id: int) -> float:
        return max(self._chat_next.get(chat_id, 0.0), self._paused_until)

    def global_ready_at(self) -> float:
        if not self._recent:
            return self._paused_until
        ready = self._recent[-1] + self._min_gap
        if len(self._recent) == self._recent.maxlen:
            # The window is full: the next send may go one second after the oldest in it.
            ready = max(ready, self._recent[0] + WINDOW)
        return max(ready, self._paused_until)

    def take(self, chat_id: int, *, private: bool, now: float) -> None:
        """Reserve the slots one send uses: the overall one now and the chat's next one."""
        self._recent.append(now)
        if len(self._chat_next) >= CHAT_TABLE:
            self._forget_idle(now)
        interval = self.rates.private_interval if private else self.rates.group_interval
        self._chat_next[chat_id] = max(self._chat_next.get(chat_id, 0.0), now) + interval

    def hold_chat(self, chat_id: int, until: float) -> None:
        self._chat_next[chat_id] = max(self._chat_next.get(chat_id, 0.0), until)

    def pause(self, until: float) -> None:
        """Stop all sending until a time: Telegram said we went too fast."""
        self._paused_until = max(self._paused_until, until)

    def _forget_idle(self, now: float) -> None:
        """Drop chats whose next slot has passed, so a million-chat broadcast does not stay in memory.

        Run from ``take`` once the table passes a size: at most a few seconds' worth of chats
        survive each pass, so the cost per send stays constant.
        """
        self._chat_next = {k: v for k, v in self._chat_next.items() if v > now}
