"""The limiter: Telegram's overall window, a chat's spacing, and a bounded memory."""

from __future__ import annotations

from bot.delivery import ratelimit
from bot.delivery.ratelimit import Limiter, Rates


def sends_in_any_second(times: list[float]) -> int:
    return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)


def test_overall_window_never_exceeds_the_limit_even_when_sends_run_late() -> None:
    limiter = Limiter(Rates(global_per_second=30, chat_per_second=1, group_per_minute=20))
    now, sent = 0.0, []
    for n in range(300):
        now = max(now, limiter.global_ready_at()) + (0.02 if n % 7 == 0 else 0.0)  # a late loop
        limiter.take(n, private=True, now=now)
        sent.append(now)
    assert sends_in_any_second(sent) <= 29
    assert (len(sent) - 1) / (sent[-1] - sent[0]) >= 0.95 * 30  # lateness is made up


def test_a_private_chat_and_a_group_are_spaced_by_their_own_limits() -> None:
    limiter = Limiter(Rates(global_per_second=1000, chat_per_second=1, group_per_minute=20))
    limiter.take(1, private=True, now=10.0)
    limiter.take(-5, private=False, now=10.0)
    assert 11.0 < limiter.chat_ready_at(1) < 11.1
    assert 13.0 < limiter.chat_ready_at(-5) < 13.2


def test_a_million_chat_broadcast_does_not_stay_in_memory() -> None:
    limiter = Limiter(Rates(global_per_second=1000, chat_per_second=1, group_per_minute=20))
    for n in range(100_000):
        limiter.take(n, private=True, now=n / 1000)
    assert len(limiter._chat_next) <= ratelimit.CHAT_TABLE
    assert limiter.chat_ready_at(99_999) > 99.9  # the chats still waiting are remembered
