"""The per-sender command budget: N commands a minute, one polite notice, then silence."""

from __future__ import annotations

from bot.budget import MAX_TRACKED, CommandBudget, Verdict


def test_flooding_sender_is_warned_once_then_dropped_until_the_budget_refills() -> None:
    budget = CommandBudget(per_minute=6)  # one more command every 10 s
    verdicts = [budget.check(1, now=100.0) for _ in range(10)]
    assert verdicts == [Verdict.ALLOW] * 6 + [Verdict.WARN] + [Verdict.DROP] * 3
    assert 9.9 < budget.seconds_until_next(1) <= 10.0
    assert budget.check(1, now=105.0) is Verdict.DROP
    assert budget.check(1, now=110.5) is Verdict.ALLOW
    # Over budget again later: told once more, since a command got through in between.
    assert budget.check(1, now=110.6) is Verdict.WARN


def test_one_senders_flood_does_not_spend_anothers_budget() -> None:
    budget = CommandBudget(per_minute=3)
    for _ in range(100):
        budget.check(1, now=0.0)
    assert budget.check(2, now=0.0) is Verdict.ALLOW


def test_memory_stays_bounded_with_many_senders() -> None:
    budget = CommandBudget(per_minute=20)
    for sender in range(MAX_TRACKED * 3):
        budget.check(sender, now=float(sender) / 1000)
    assert len(budget._buckets) <= MAX_TRACKED
