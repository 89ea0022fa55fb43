"""Telegram's send limits, enforced together for broadcasts and replies.

Telegram counts messages in sliding windows: about 30 a second overall, about one a second in
one private chat (short bursts tolerated), 20 a minute in one group or channel. A 429 is our
bug, not bad luck.

Every window is kept from when sends *finished* (the answer came back), and a send still in
flight counts as occupying its window. Telegram stamps a message when it arrives, which is
after we started it and before we saw the answer, so pacing from our own start times (as an
earlier version did) let two sends arrive closer than the limit whenever the first one was
slow; pacing from answers cannot, by causality, whatever the jitter.

- Overall: at most ``floor(limit * headroom)`` sends in flight or answered in the last second.
  Sends may leave in small bursts within that window; a short credit (``SMOOTHING`` seconds
  of the limit) keeps a burst from being a whole second's worth at once. Broadcasts leave in
  bursts of ``TICK`` seconds of the limit (3 at 30/s): a wake-up of the event loop per message
  cost more CPU than the message's own send.
- One chat: a private chat is a token bucket (``chat_burst`` tokens, refilled at
  ``chat_per_second``), a group a sliding window (``group_per_minute`` in 60 seconds). A token
  counts as spent when its answer came. Command replies may use the whole bucket or window, so
  a reader's few quick commands are answered at once.
  Broadcasts are also spaced evenly, one chat interval (plus a fixed margin) after the
  chat's previous answer, so they never use up a chat's burst.
- A 429 holds the chat it was for. Only when several chats are refused close together (the
  bot as a whole is flooding) does it pause every send.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, replace

WINDOW = 1.0  # seconds: Telegram's overall limit is counted per second
MARGIN = 0.01  # seconds added to every chat interval: clock granularity, not jitter
SMOOTHING = 0.02  # seconds of the overall limit that may leave in one burst
TICK = 0.1  # seconds of the overall limit a broadcast waits for, to send them together
BURST_CAP = 20  # sends: at high rates SMOOTHING already makes bursts, and they stay this small
BURST_WAIT = 0.01  # seconds a partial burst waits for the rest; bounds what answers' jitter costs
CHAT_TABLE = 10_000  # chats remembered before idle ones are dropped
FLOOD_SPREAD = 2  # chats refused within FLOOD_MEMORY seconds that mean the whole bot floods
FLOOD_MEMORY = 1.0
NEVER = math.inf
CREDIT_TOLERANCE = 1e-6  # sends: rounding in the smoothing credit, far below one send


@dataclass(frozen=True, slots=True)
class Rates:
    global_per_second: float
    chat_per_second: float
    group_per_minute: float
    headroom: float = 0.99
    chat_burst: int = 5  # sends a private chat takes at once (Telegram: "short bursts tolerated")

    @property
    def global_interval(self) -> float:
        return 1.0 / (self.global_per_second * self.headroom)

    @property
    def global_per_window(self) -> int:
        """Sends allowed in any one-second window."""
        return max(1, math.floor(self.global_per_second * self.headroom))

    @property
    def private_interval(self) -> float:
        return 1.0 / self.chat_per_second + MARGIN

    @property
    def group_interval(self) -> float:
        return 60.0 / self.group_per_minute + MARGIN


@dataclass(slots=True)
class _Chat:
    """One chat's recent sends: a sliding window (groups) or a token bucket (private chats)."""

    capacity: int
    period: float
    interval: float
    rate: float = 0.0  # a private chat's bucket refill per second; 0 for a window
    done: deque[float] = field(default_factory=deque)  # answer times, oldest first
    started: deque[float] = field(default_factory=deque)  # start times of sends in flight
    held_until: float = 0.0
    replies_waiting: int = 0
    tokens: float = 0.0  # the bucket's level
    stamp: float = 0.0  # when ``tokens`` was last brought up to date

    @property
    def in_flight(self) -> int:
        return len(self.started)

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(float(self.capacity), self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def window_ready_at(self, now: float) -> float:
        """When one more send fits the chat's window (or bucket)."""
        horizon = now - self.period  # a window's period is never shorter than its interval
        while self.done and self.done[0] <= horizon:
            self.done.popleft()
        if self.rate:
            self.refill(now)
            return now if self.tokens >= 1.0 else now + (1.0 - self.tokens) / self.rate
        over = len(self.done) + self.in_flight - self.capacity + 1
        if over <= 0:
            return now
        if over > len(self.done):
            return NEVER  # only an answer to a send in flight frees the window
        return self.done[over - 1] + self.period

    def begin(self, now: float) -> None:
        self.started.append(now)
        if self.rate:
            self.refill(now)
            self.tokens -= 1.0

    def end(self, now: float) -> None:
        started = self.started.popleft() if self.started else now
        self.done.append(now)
        if self.rate:
            # Count the token as spent when the answer came (after Telegram counted it), not
            # when the send started: take back what the bucket refilled in between.
            self.refill(now)
            self.tokens -= max(0.0, now - started) * self.rate

    def idle(self, now: float) -> bool:
        if self.in_flight or self.replies_waiting or self.held_until > now:
            return False
        if self.rate:
            self.refill(now)
            return self.tokens >= self.capacity and (not self.done or self.done[-1] + self.interval <= now)
        return not self.done or self.done[-1] + self.period <= now


class Limiter:
    """Overall and per-chat send windows; all times are the caller's monotonic clock."""

    def __init__(self, rates: Rates) -> None:
        self.rates = rates
        self._capacity = rates.global_per_window
        self._done: deque[float] = deque()  # answer times of the last second, oldest first
        self._in_flight = 0
        self._reply_claims = 0  # replies whose chat is ready and that wait for an overall slot
        self._credit = 0.0
        self._burst = max(1, min(BURST_CAP, math.floor(rates.global_per_second * TICK)))
        # Room for two bursts: a partial one (the window short) leaves credit for the next whole one.
        self._credit_max = max(2.0, rates.global_per_second * SMOOTHING, 2.0 * self._burst)
        self._credit_at = 0.0
        self._partial_at = NEVER  # from when fewer than a burst may start (set by global_ready_at)
        self._chats: dict[int, _Chat] = {}
        self._table_limit = CHAT_TABLE
        self._paused_until = 0.0
        self._floods: deque[tuple[float, int]] = deque()  # (time, chat id) of recent 429s

    def set_global_rate(self, per_second: float) -> None:
        """Change the overall limit (a worker's share of it); the windows keep what they hold."""
        if per_second == self.rates.global_per_second:
            return
        self.rates = replace(self.rates, global_per_second=per_second)
        self._capacity = self.rates.global_per_window
        self._burst = max(1, min(BURST_CAP, math.floor(per_second * TICK)))
        self._credit_max = max(2.0, per_second * SMOOTHING, 2.0 * self._burst)
        self._credit = min(self._credit, self._credit_max)

    # --- the overall window ----------------------------------------------------------------

    def global_room(self, now: float, *, reply: bool = False) -> int:
        """How many sends may start now under the overall limit."""
        if now < self._paused_until:
            return 0
        horizon = now - WINDOW
        while self._done and self._done[0] <= horizon:
            self._done.popleft()
        reserved = 0 if reply else self._reply_claims  # replies waiting go first
        room = self._capacity - len(self._done) - self._in_flight - reserved
        if reply:
            return max(0, room)
        earned = (now - self._credit_at) * self.rates.global_per_second
        self._credit = min(self._credit_max, self._credit + earned)
        self._credit_at = now
        # A sleep until the credit reaches a burst can wake with 0.9999999 short: without the
        # tolerance that costs a second, near-zero sleep (and a loop wake-up) per burst.
        if math.floor(self._credit + CREDIT_TOLERANCE) < self._burst:
            return 0  # the credit for a whole burst comes at a known time: wait for all of it
        room = min(room, math.floor(self._credit + CREDIT_TOLERANCE))
        # The window frees slots as answers age out, which may come back apart: fewer than a
        # burst waits a little for the rest (the loop wakes once per burst), never long.
        if room >= self._burst or room <= 0 or now >= self._partial_at:
            return room
        if self._partial_at == NEVER:  # a caller that polls rather than sleeping as told
            self._partial_at = now + BURST_WAIT
        return 0

    def global_ready_at(self, now: float) -> float:
        """When the next burst of broadcasts may start under the overall limit (NEVER: after an answer)."""
        if now < self._paused_until:
            return self._paused_until
        if self.global_room(now) > 0:
            return now
        credit = now + max(0.0, self._burst - self._credit) / self.rates.global_per_second
        if self._partial_at == NEVER:
            # Whatever the window frees first waits at most BURST_WAIT for the rest of its burst.
            self._partial_at = max(self._window_ready_for(1) + BURST_WAIT, credit)
        return min(max(self._window_ready_for(self._burst), credit), self._partial_at)

    def _window_ready_for(self, sends: int) -> float:
        """When ``sends`` more broadcasts fit the overall window (0: they fit now)."""
        over = len(self._done) + self._in_flight + self._reply_claims - self._capacity + sends
        if over <= 0:
            return 0.0
        if over > len(self._done):
            return NEVER  # only an answer to a send in flight frees the window
        return self._done[over - 1] + WINDOW

    # --- one chat --------------------------------------------------------------------------

    def _chat(self, chat_id: int, private: bool) -> _Chat:
        state = self._chats.get(chat_id)
        if state is None:
            if private:
                capacity = max(1, self.rates.chat_burst)
                interval = self.rates.private_interval
                state = _Chat(capacity, interval, interval, self.rates.chat_per_second)
                state.tokens = float(capacity)
            else:
                capacity = max(1, math.floor(self.rates.group_per_minute))
                period = 60.0 * capacity / self.rates.group_per_minute + MARGIN
                state = _Chat(capacity, period, self.rates.group_interval)
            self._chats[chat_id] = state
        return state

    def chat_ready_at(self, chat_id: int, *, now: float, reply: bool = False) -> float:
        """When the next send to a chat may start (a broadcast also keeps its even spacing)."""
        state = self._chats.get(chat_id)
        if state is None:
            return self._paused_until
        ready = max(state.held_until, state.window_ready_at(now))
        if not reply:
            if state.replies_waiting:
                return max(ready, now + 0.05)  # look again soon; the reply goes first
            if state.in_flight:
                return NEVER
            if state.done:
                ready = max(ready, state.done[-1] + state.interval)
        return max(ready, self._paused_until)

    def begin(self, chat_id: int, *, private: bool, now: float) -> None:
        """A send to a chat starts now (its slots were found free)."""
        if len(self._chats) >= self._table_limit:
            self._forget_idle(now)
        self._chat(chat_id, private).begin(now)
        self._in_flight += 1
        self._credit -= 1.0
        self._partial_at = NEVER

    def end(self, chat_id: int, *, now: float) -> None:
        """The answer to a send came back now (whatever it was)."""
        self._in_flight = max(0, self._in_flight - 1)
        self._done.append(now)
        state = self._chats.get(chat_id)
        if state is not None:
            state.end(now)

    def reply_waiting(self, chat_id: int, *, private: bool, delta: int) -> None:
        """Count a command reply waiting for this chat, so broadcasts to it step aside."""
        self._chat(chat_id, private).replies_waiting += delta

    def claim_for_reply(self, delta: int) -> None:
        """Count a reply that waits only for an overall slot, so broadcasts leave one free."""
        self._reply_claims = max(0, self._reply_claims + delta)

    # --- 429 -------------------------------------------------------------------------------

    def flood(self, chat_id: int, *, until: float, now: float) -> bool:
        """Hold a chat Telegram refused; pause everything (and return True) when chats flood."""
        # A 429 does not say which limit it enforces (chat, group or overall), so refusals of
        # several chats close together are the only evidence that the whole bot went too fast.
        state = self._chat(chat_id, chat_id > 0)
        state.held_until = max(state.held_until, until)
        while self._floods and self._floods[0][0] <= now - FLOOD_MEMORY:
            self._floods.popleft()
        self._floods.append((now, chat_id))
        if len({chat for _, chat in self._floods}) >= FLOOD_SPREAD:
            self.pause(until)
            return True
        return False

    def hold_chat(self, chat_id: int, until: float) -> None:
        """Send nothing to a chat until a time."""
        state = self._chat(chat_id, chat_id > 0)
        state.held_until = max(state.held_until, until)

    def pause(self, until: float) -> None:
        """Stop all sending until a time: Telegram said the whole bot went too fast."""
        self._paused_until = max(self._paused_until, until)

    def _forget_idle(self, now: float) -> None:
        """Drop chats whose windows are empty, so a million-chat broadcast does not stay in memory.

        The next pass runs only when the table has doubled again, so the cost per send stays
        constant even when many chats are still busy.
        """
        self._chats = {k: v for k, v in self._chats.items() if not v.idle(now)}
        self._table_limit = max(CHAT_TABLE, 2 * len(self._chats))
