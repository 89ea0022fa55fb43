"""Grouping of fault reports for admins: the same fault within a window is sent once, with a count.

Pure bookkeeping, no Telegram: the error handler asks whether to send now, and later collects
what was held back so the admins still learn how often each fault happened.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_WINDOW = 600.0  # seconds
DEFAULT_MAX_REPORTS = 10  # immediate reports per window, all faults together


@dataclass(slots=True)
class _Group:
    started: float
    summary: str
    held: int = 0  # occurrences since the report that opened the window


@dataclass(frozen=True, slots=True)
class Held:
    """Occurrences of one fault that were counted instead of sent."""

    key: str
    summary: str
    count: int
    since: float


class ErrorReports:
    """Decide which faults to report now and which to count for a later summary."""

    def __init__(self, *, window: float = DEFAULT_WINDOW, max_reports: int = DEFAULT_MAX_REPORTS) -> None:
        self.window = window
        self.max_reports = max_reports
        self._groups: dict[str, _Group] = {}
        self._sent: list[float] = []  # times of immediate reports in the last window

    def record(self, key: str, summary: str, now: float) -> bool:
        """Count one fault; True when it should be reported now (first of its kind in the window)."""
        group = self._groups.get(key)
        if group is not None and now - group.started < self.window:
            group.held += 1
            return False
        self._sent = [t for t in self._sent if now - t < self.window]
        if len(self._sent) >= self.max_reports:
            # Too many different faults at once: count this one, report it with the summary.
            self._groups[key] = _Group(started=now, summary=summary, held=1)
            return False
        self._sent.append(now)
        self._groups[key] = _Group(started=now, summary=summary)
        return True

    def take_held(self, now: float) -> list[Held]:
        """Faults whose window has closed with occurrences not yet reported; forget those windows."""
        done = [k for k, g in self._groups.items() if now - g.started >= self.window]
        held = []
        for key in done:
            group = self._groups.pop(key)
            if group.held:
                held.append(Held(key, group.summary, group.held, group.started))
        return held

    def __len__(self) -> int:
        return len(self._groups)
