"""Tests for bot.news.dates: dates written in the languages of real news feeds and pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.news.dates import parse_date

NOW = datetime(2022, 11, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Seg, 24 Set 2022 10:00:00 -0300", datetime(2022, 9, 24, 13, 0, tzinfo=UTC)),  # Portuguese
        ("mer, 16 nov 2022 08:05 GMT", datetime(2022, 11, 16, 8, 5, tzinfo=UTC)),  # Italian/French
        ("mar, 16 nov 2022 08:05", datetime(2022, 11, 16, 8, 5, tzinfo=UTC)),  # "mar" is Tuesday here
        ("16 ноября 2022, 14:30", datetime(2022, 11, 16, 14, 30, tzinfo=UTC)),  # Russian genitive
        ("Çərşənbə, 16 noyabr 2022 12:00", datetime(2022, 11, 16, 12, 0, tzinfo=UTC)),  # Azerbaijani
        ("16 Kasım 2022 Çarşamba 09:15", datetime(2022, 11, 16, 9, 15, tzinfo=UTC)),  # Turkish
        ("16 NİSAN 2022", datetime(2022, 4, 16, tzinfo=UTC)),  # Turkish capitals
        ("miércoles, 16 de noviembre de 2022", datetime(2022, 11, 16, tzinfo=UTC)),  # Spanish
        ("mercredi 16 novembre 2022 à 10h30", datetime(2022, 11, 16, 10, 30, tzinfo=UTC)),  # French
        ("Mi, 16. Nov. 2022 10:00 MEZ", datetime(2022, 11, 16, 9, 0, tzinfo=UTC)),  # German
        ("Do, 3. März 2022", datetime(2022, 3, 3, tzinfo=UTC)),
        ("24.09.2022 10:00", datetime(2022, 9, 24, 10, 0, tzinfo=UTC)),
        ("Tue, 16 Nov 2022 10:00:00 +0000", datetime(2022, 11, 16, 10, 0, tzinfo=UTC)),
        ("10:30 PM Nov 3, 2022", datetime(2022, 11, 3, 22, 30, tzinfo=UTC)),
    ],
)
def test_non_english_month_and_day_names_parse(text: str, expected: datetime) -> None:
    parsed = parse_date(text, now=NOW)
    assert parsed is not None
    assert parsed == expected


def test_date_keeps_the_offset_it_was_written_with() -> None:
    parsed = parse_date("Seg, 24 Set 2022 10:00:00 -0300", now=NOW)
    assert parsed is not None and parsed.utcoffset() == timedelta(hours=-3)


def test_date_without_zone_is_read_in_the_sites_zone() -> None:
    baku = ZoneInfo("Asia/Baku")
    parsed = parse_date("16 noyabr 2022 12:00", tz=baku, now=NOW)
    assert parsed == datetime(2022, 11, 16, 8, 0, tzinfo=UTC)


def test_date_without_year_is_the_latest_one_not_in_the_future() -> None:
    assert parse_date("mer, 16 nov", now=NOW) == datetime(2022, 11, 16, tzinfo=UTC)
    assert parse_date("24 dic", now=NOW) == datetime(2021, 12, 24, tzinfo=UTC)


@pytest.mark.parametrize("text", ["", "junk", "31 feb 2022", "2 hours ago", "la semana pasada", "12:00"])
def test_text_that_is_not_a_date_gives_none(text: str) -> None:
    assert parse_date(text, now=NOW) is None


def test_adversarial_date_text_completes_and_is_refused() -> None:
    # Long runs of digits and colons: the bounded patterns stay linear and the text is capped.
    assert parse_date("1:" * 200_000, now=NOW) is None
    assert parse_date("9" * 500_000, now=NOW) is None


def test_iso_dates_keep_their_offset() -> None:
    parsed = parse_date("2022-09-24T10:00:00+04:00")
    assert parsed == datetime(2022, 9, 24, 10, tzinfo=timezone(timedelta(hours=4)))


@pytest.mark.timeout(20)
def test_listing_time_with_a_huge_word_completes() -> None:
    from bot.news.listing import parse_site_time

    # 50,000 letters once took seconds inside one regular expression.
    assert parse_site_time("a" * 50_000, now=NOW) is None
    assert parse_site_time("16 Nov 2022 10:00 " + "a" * 50_000, now=NOW) == datetime(
        2022, 11, 16, 10, tzinfo=UTC
    )
