"""Fault reports for admins: the same fault within a window is sent once, then counted."""

from __future__ import annotations

from bot.reports import ErrorReports


def test_same_fault_within_the_window_is_reported_once_and_counted() -> None:
    reports = ErrorReports(window=60, max_reports=10)
    assert reports.record("E at x.py:1", "E: boom", now=0.0) is True
    assert [reports.record("E at x.py:1", "E: boom", now=t) for t in (1.0, 2.0, 3.0)] == [False] * 3
    assert reports.take_held(now=30.0) == []  # the window is still open
    [held] = reports.take_held(now=61.0)
    assert (held.key, held.summary, held.count) == ("E at x.py:1", "E: boom", 3)
    assert reports.record("E at x.py:1", "E: boom", now=62.0) is True  # a new window


def test_a_fault_that_did_not_repeat_leaves_nothing_to_summarise() -> None:
    reports = ErrorReports(window=60)
    reports.record("E", "E", now=0.0)
    assert reports.take_held(now=100.0) == []
    assert len(reports) == 0


def test_many_different_faults_are_capped_and_the_rest_counted() -> None:
    reports = ErrorReports(window=60, max_reports=3)
    sent = [reports.record(f"E{i}", f"E{i}", now=float(i)) for i in range(10)]
    assert sent == [True] * 3 + [False] * 7
    held = reports.take_held(now=200.0)
    assert sorted(h.key for h in held) == [f"E{i}" for i in range(3, 10)]
