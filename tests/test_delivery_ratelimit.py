"""The limiter: Telegram's windows counted from answers, bursts for replies, a held chat, bounded memory."""

from __future__ import annotations

import itertools
import random

from bot.delivery import ratelimit
from bot.delivery.ratelimit import NEVER, Limiter, Rates

TELEGRAM = Rates(global_per_second=30, chat_per_second=1, group_per_minute=20)


def most_in_any(arrivals: list[float], period: float) -> int:
    """The most arrivals in any window (t - period, t], as the emulator counts them."""
    arrivals = sorted(arrivals)
    return max(sum(1 for s in arrivals if t - period < s <= t) for t in arrivals)


def simulate_broadcast(limiter: Limiter, chats: dict[int, int], seconds: float) -> dict[int, list[float]]:
    """Send ``chats[chat]`` items to each chat with random network delays both ways; return the
    arrival times at Telegram per chat."""
    rng = random.Random(7)
    arrivals: dict[int, list[float]] = {chat: [] for chat in chats}
    left = dict(chats)
    flying: list[tuple[float, int]] = []  # (answer time, chat)
    busy: set[int] = set()
    now = 0.0
    while now < seconds:
        for answer, chat in [f for f in flying if f[0] <= now]:
            flying.remove((answer, chat))
            busy.discard(chat)
            limiter.end(chat, now=answer)
        room = limiter.global_room(now)
        for chat in chats:
            if room <= 0:
                break
            if left[chat] and chat not in busy and limiter.chat_ready_at(chat, now=now) <= now:
                limiter.begin(chat, private=chat > 0, now=now)
                arrival = now + rng.uniform(0.0, 0.06)  # the request's trip, jittery
                arrivals[chat].append(arrival)
                flying.append((arrival + rng.uniform(0.0, 0.06), chat))
                busy.add(chat)
                left[chat] -= 1
                room -= 1
        now += 0.001
    return arrivals


def test_sends_reach_telegram_within_every_window_whatever_the_jitter() -> None:
    limiter = Limiter(TELEGRAM)
    # Several items at once for one reader and one group, and a broadcast to many others.
    chats = {1: 4, -100: 3} | {1000 + n: 1 for n in range(300)}
    arrivals = simulate_broadcast(limiter, chats, seconds=12.0)

    everything = [t for times in arrivals.values() for t in times]
    assert len(everything) == 307  # all went out in the time
    assert most_in_any(everything, 1.0) <= 30
    reader = arrivals[1]
    assert min(b - a for a, b in itertools.pairwise(reader)) >= 1.0
    assert most_in_any(arrivals[-100], 60.0) <= 20
    # The window is used, not wasted: ~29 a second while the broadcast lasts.
    broadcast = sorted(everything)[:290]
    assert (len(broadcast) - 1) / (broadcast[-1] - broadcast[0]) >= 0.9 * 30


def test_a_chats_next_broadcast_is_paced_from_the_answer_not_the_start() -> None:
    limiter = Limiter(TELEGRAM)
    limiter.begin(1, private=True, now=10.0)
    assert limiter.chat_ready_at(1, now=10.1) == NEVER  # one at a time per chat
    limiter.end(1, now=10.4)  # a slow answer
    assert 11.4 < limiter.chat_ready_at(1, now=10.5) < 11.5
    limiter.begin(-5, private=False, now=10.0)
    limiter.end(-5, now=10.0)
    assert 13.0 < limiter.chat_ready_at(-5, now=10.5) < 13.1


def test_replies_use_the_chats_burst_that_broadcasts_leave_alone() -> None:
    limiter = Limiter(TELEGRAM)
    now = 100.0
    for _ in range(5):  # five quick replies in a private chat
        assert limiter.chat_ready_at(7, now=now, reply=True) <= now
        limiter.begin(7, private=True, now=now)
        limiter.end(7, now=now + 0.01)
        now += 0.1
    # The burst is spent: the sixth waits for the bucket's next token, about a second.
    assert 100.9 < limiter.chat_ready_at(7, now=now, reply=True) < 101.2
    # A broadcast to a chat waits while a reply for it waits.
    limiter.reply_waiting(8, private=True, delta=1)
    assert limiter.chat_ready_at(8, now=now) > now
    limiter.reply_waiting(8, private=True, delta=-1)
    assert limiter.chat_ready_at(8, now=now) <= now


def test_a_429_for_one_chat_holds_that_chat_only_unless_several_chats_are_refused() -> None:
    limiter = Limiter(TELEGRAM)
    assert not limiter.flood(1, until=15.0, now=10.0)
    assert limiter.chat_ready_at(1, now=10.0) >= 15.0
    assert limiter.chat_ready_at(2, now=10.0) <= 10.0
    assert limiter.global_room(10.0) > 0
    # A second chat refused within a second: the bot as a whole is flooding.
    assert limiter.flood(2, until=13.0, now=10.2)
    assert limiter.global_room(10.3) == 0
    assert limiter.chat_ready_at(3, now=10.3) >= 13.0


def test_waiting_replies_keep_an_overall_slot_free() -> None:
    limiter = Limiter(Rates(global_per_second=3, chat_per_second=1, group_per_minute=20, headroom=1.0))
    limiter.begin(1, private=True, now=0.0)
    limiter.begin(2, private=True, now=0.0)
    limiter.claim_for_reply(1)
    assert limiter.global_room(1.0) == 0  # the broadcast leaves the last slot to the reply
    assert limiter.global_room(1.0, reply=True) == 1


def test_a_million_chat_broadcast_does_not_stay_in_memory() -> None:
    limiter = Limiter(Rates(global_per_second=1000, chat_per_second=1, group_per_minute=20))
    for n in range(100_000):
        limiter.begin(n, private=True, now=n / 1000)
        limiter.end(n, now=n / 1000 + 0.01)
    assert len(limiter._chats) <= 2 * ratelimit.CHAT_TABLE
    assert limiter.chat_ready_at(99_999, now=100.0) > 100.0  # chats still in their window are remembered


def test_a_broadcast_sleeps_between_bursts_not_between_messages_and_keeps_the_window() -> None:
    """Driven as the dispatcher drives it: start what the room allows, else sleep until told."""
    limiter = Limiter(TELEGRAM)
    now, chat, wakes, starts = 0.0, 1000, 0, []
    while len(starts) < 300:
        room = limiter.global_room(now)
        if room <= 0:
            ready = limiter.global_ready_at(now)
            now = now + 0.005 if ready == NEVER else max(ready, now + 1e-6)  # NEVER: an answer wakes it
        else:
            wakes += 1
            for _ in range(room):
                limiter.begin(chat, private=True, now=now)
                limiter.end(chat, now=now + 0.003)  # a quick answer from loopback
                starts.append(now)
                chat += 1
            now += 0.003
    assert most_in_any(starts, 1.0) <= 30
    assert wakes <= len(starts) / 2.5  # bursts of three, not a wake-up per message
    assert (len(starts) - 1) / (starts[-1] - starts[0]) >= 0.95 * 30
