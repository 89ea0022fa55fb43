"""Clock arithmetic for a chat's own day: quiet hours and digest times in its timezone."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.i18n import ExplainedError, _

# [0-9], not \d: \d also matches Arabic-Indic and other digits, which int() would then accept.
_HHMM = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")


class ScheduleError(ExplainedError):
    """Arguments that are not a time, a range or a timezone; the reader gets the usage line."""


def parse_hhmm(text: str) -> str:
    """'7:05' -> '07:05'; anything else raises ScheduleError."""
    match = _HHMM.match(text.strip())
    if match is None:
        raise ScheduleError(_("“{text}” is not a time like 08:30"), text=text)
    return f"{int(match[1]):02d}:{match[2]}"


def parse_range(text: str) -> tuple[str, str]:
    """'22:00-07:00' -> ('22:00', '07:00'); start and end must differ."""
    start, sep, end = text.replace("–", "-").partition("-")
    if not sep:
        raise ScheduleError(_("“{text}” is not a range like 22:00-07:00"), text=text)
    start, end = parse_hhmm(start), parse_hhmm(end)
    if start == end:
        raise ScheduleError(_("the start and end of quiet hours must differ"))
    return start, end


def parse_timezone(text: str) -> str:
    """An IANA name like Europe/Istanbul (case as typed or canonical)."""
    name = text.strip()
    # IANA names are short ASCII paths; anything else is refused before it reaches the filesystem,
    # where a very long name raises OSError (name too long) instead of ZoneInfoNotFoundError.
    if not name.isascii() or len(name) > 64:
        raise ScheduleError(_("unknown timezone “{text}”"), text=text[:64])
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        lowered = {z.lower(): z for z in available_timezones()}
        if name.lower() not in lowered:
            raise ScheduleError(_("unknown timezone “{text}”"), text=text) from None
        name = lowered[name.lower()]
    return name


def _at(day: datetime, hhmm: str) -> datetime:
    hours, minutes = map(int, hhmm.split(":"))
    return datetime.combine(day.date(), time(hours, minutes), tzinfo=day.tzinfo)


def quiet_until(now: datetime, start: str | None, end: str | None, tz: ZoneInfo) -> datetime | None:
    """When the chat's quiet hours end, if ``now`` falls inside them; None otherwise."""
    if not start or not end:
        return None
    local = now.astimezone(tz)
    for day in (local - timedelta(days=1), local):
        begins = _at(day, start)
        ends = _at(day, end)
        if ends <= begins:  # the range wraps past midnight
            ends = _at(day + timedelta(days=1), end)
        if begins <= local < ends:
            return ends
    return None


def last_digest_slot(now: datetime, digest_time: str, tz: ZoneInfo) -> datetime:
    """The most recent moment, at or before ``now``, when the chat's clock read ``digest_time``."""
    local = now.astimezone(tz)
    slot = _at(local, digest_time)
    return slot if slot <= local else _at(local - timedelta(days=1), digest_time)


def digest_due(now: datetime, digest_time: str, tz: ZoneInfo, last_digest_at: float | None) -> bool:
    """Whether a digest slot has passed since the last digest went out."""
    return last_digest_at is None or last_digest_slot(now, digest_time, tz).timestamp() > last_digest_at
