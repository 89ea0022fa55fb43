"""Telegram's three send limits, enforced together.

Telegram counts messages in sliding windows: about 30 a second overall, about one a second in
one private chat, 20 a minute in one group or channel. We space sends evenly at a little under
each rate ("headroom"), which keeps every sliding window under its limit whatever the jitter on
the way, and a 429 (our bug, not bad luck) pauses everything for ``retry_after``.

The overall limit also allows a small burst, the share of the limit the headroom leaves unused:
with spacing T and burst B, any one-second window holds at most floor(1/T) + B sends, which
stays within the limit. At 30/s that burst is one (plain spacing); at the paid 1000/s it is 30,
which spares the dispatcher a timer wake-up per message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


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
    def global_burst(self) -> int:
        limit = self.global_per_second
        return max(1, math.floor(limit - math.floor(limit * self.headroom)))

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
        self._global_next = 0.0
        self._chat_next: dict[int, float] = {}
        self._paused_until = 0.0

    def chat_ready_at(self, chat_id: int) -> float:
        return max(self._chat_next.get(chat_id, 0.0), self._paused_until)

    def global_ready_at(self) -> float:
        # GCRA: a send conforms while it is at most (burst - 1) intervals ahead of the schedule.
        tolerance = (self.rates.global_burst - 1) * self.rates.global_interval
        return max(self._global_next - tolerance, self._paused_until)

    def take(self, chat_id: int, *, private: bool, now: float) -> None:
        """Reserve the slots one send uses: the overall one now and the chat's next one."""
        self._global_next = max(self._global_next, now) + self.rates.global_interval
        interval = self.rates.private_interval if private else self.rates.group_interval
        self._chat_next[chat_id] = max(self._chat_next.get(chat_id, 0.0), now) + interval

    def hold_chat(self, chat_id: int, until: float) -> None:
        self._chat_next[chat_id] = max(self._chat_next.get(chat_id, 0.0), until)

    def pause(self, until: float) -> None:
        """Stop all sending until a time: Telegram said we went too fast."""
        self._paused_until = max(self._paused_until, until)

    def forget_idle(self, now: float) -> None:
        """Drop chats whose next slot has passed, so a million-chat broadcast does not stay in memory."""
        if len(self._chat_next) > 10_000:
            self._chat_next = {k: v for k, v in self._chat_next.items() if v > now}
