"""Quiet hours and digest times in the chat's own timezone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.delivery.schedule import (
    ScheduleError,
    digest_due,
    parse_hhmm,
    parse_range,
    parse_timezone,
    quiet_until,
)

BAKU = ZoneInfo("Asia/Baku")  # UTC+4, no daylight saving


def utc(hour: int, minute: int = 0, day: int = 10) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def test_parsing() -> None:
    assert parse_hhmm("7:05") == "07:05"
    assert parse_range("22:00-07:30") == ("22:00", "07:30")
    assert parse_timezone("europe/istanbul") == "Europe/Istanbul"
    for bad in ["24:00", "7", "07:60", "noon"]:
        with pytest.raises(ScheduleError):
            parse_hhmm(bad)
    for bad in ["22:00", "22:00-22:00", "22-07"]:
        with pytest.raises(ScheduleError):
            parse_range(bad)
    with pytest.raises(ScheduleError):
        parse_timezone("Mars/Olympus")


def test_quiet_hours_that_wrap_past_midnight_in_the_chats_zone() -> None:
    # 22:00-07:00 in Baku is 18:00-03:00 UTC.
    assert quiet_until(utc(17, 59), "22:00", "07:00", BAKU) is None
    assert quiet_until(utc(18, 0), "22:00", "07:00", BAKU) == datetime(2026, 3, 11, 7, 0, tzinfo=BAKU)
    assert quiet_until(utc(1, 30), "22:00", "07:00", BAKU) == datetime(2026, 3, 10, 7, 0, tzinfo=BAKU)
    assert quiet_until(utc(3, 0), "22:00", "07:00", BAKU) is None


def test_quiet_hours_within_one_day() -> None:
    assert quiet_until(utc(13), "12:00", "14:00", ZoneInfo("UTC")) == utc(14)
    assert quiet_until(utc(14), "12:00", "14:00", ZoneInfo("UTC")) is None
    assert quiet_until(utc(13), None, None, ZoneInfo("UTC")) is None


def test_digest_is_due_once_per_slot() -> None:
    # 08:00 in Baku is 04:00 UTC.
    assert not digest_due(utc(3, 59), "08:00", BAKU, utc(4, 0, day=9).timestamp())
    assert digest_due(utc(4, 0), "08:00", BAKU, utc(4, 0, day=9).timestamp())
    assert not digest_due(utc(4, 1), "08:00", BAKU, utc(4, 0).timestamp())  # already sent this slot
    assert digest_due(utc(12), "08:00", BAKU, None)


def test_digest_time_in_arabic_indic_digits_is_refused() -> None:
    with pytest.raises(ScheduleError):
        parse_hhmm("٣:٠٠")


def test_very_long_timezone_name_is_refused_not_raised_as_oserror() -> None:
    with pytest.raises(ScheduleError):
        parse_timezone("Europe/" + "x" * 5000)
