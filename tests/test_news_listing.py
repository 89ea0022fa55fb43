"""Tests for bot.news.listing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.news.listing import DEFAULT_SELECTORS, ListingSelectors, parse_listing, parse_site_time

FIXTURES = Path(__file__).parent / "fixtures" / "news"
BAKU = ZoneInfo("Asia/Baku")
NOW = datetime(2024, 7, 27, 0, 30, tzinfo=UTC)  # 04:30 in Baku


def test_ticker_page_in_the_reference_shape() -> None:
    feed = parse_listing(
        (FIXTURES / "ticker.html").read_bytes(), url="https://ticker.example/en/news/", tz=BAKU, now=NOW
    )
    assert feed.error is None
    assert feed.title == "Latest news | Ticker Daily"
    urls = [item.url for item in feed.items]
    assert urls == [
        "https://ticker.example/en/world/japan-addressing-customer-harassment",
        "https://ticker.example/en/politics/prosecutor-general-turkiye",
        "https://ticker.example/en/world/checkpoint-visit",
        "https://ticker.example/en/world/late-story",
    ]
    first, photo, video, clock_only = feed.items
    assert first.title == "Japan addressing increasing incidents of customer harassment"
    assert first.kicker == "Service culture under strain"
    assert first.published == datetime(2024, 7, 26, 23, 5, tzinfo=UTC)
    assert photo.title == "Prosecutor general declares ties with Türkiye a strategic partnership"
    assert photo.tags == ("PHOTO",)
    assert photo.published == datetime(2024, 7, 26, 16, 55, tzinfo=UTC)
    assert video.tags == ("VIDEO",)
    assert video.published == datetime(2024, 7, 26, 13, 22, tzinfo=UTC)
    assert clock_only.published == datetime(2024, 7, 26, 19, 50, tzinfo=UTC)


def test_custom_selectors_and_no_match() -> None:
    html = '<ul><li class="row"><a href="/a/1">One</a><i>12.03.2024 10:00</i></li></ul>'
    selectors = ListingSelectors(item="li.row", title="a", link="a", time="i", kicker=None, tag=None)
    feed = parse_listing(html, url="https://s.example/", selectors=selectors)
    assert [(item.title, item.url) for item in feed.items] == [("One", "https://s.example/a/1")]
    assert feed.items[0].published == datetime(2024, 3, 12, 10, 0, tzinfo=UTC)
    empty = parse_listing("<html><body><p>nothing</p></body></html>", url="https://s.example/")
    assert empty.items == () and empty.error is not None


@pytest.mark.parametrize(
    "content", [b"", b"\x00\xff\xfe", "<div class='news-item'><a href='javascript:x'>x</a>"]
)
def test_garbage_does_not_raise(content: bytes | str) -> None:
    assert parse_listing(content, url="https://s.example/").items == ()


def test_bad_selector_is_reported_not_raised() -> None:
    broken = ListingSelectors(item="[[[", title="a", link="a", time=None, kicker=None, tag=None)
    assert parse_listing("<a href='/x'>x</a>", url="https://s.example/", selectors=broken).error


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("26 July 2024 - 20:55", datetime(2024, 7, 26, 16, 55, tzinfo=UTC)),
        ("26.07.2024 20:55", datetime(2024, 7, 26, 16, 55, tzinfo=UTC)),
        ("2024-07-26T20:55:00+04:00", datetime(2024, 7, 26, 16, 55, tzinfo=UTC)),
        ("2024-07-26T16:55:00Z", datetime(2024, 7, 26, 16, 55, tzinfo=UTC)),
        ("2024-07-26 20:55", datetime(2024, 7, 26, 16, 55, tzinfo=UTC)),
        ("July 26, 2024 8:55", datetime(2024, 7, 26, 4, 55, tzinfo=UTC)),
        ("26 июля 2024, 20:55", datetime(2024, 7, 26, 16, 55, tzinfo=UTC)),
        ("26 İyul 2024 20:55", datetime(2024, 7, 26, 16, 55, tzinfo=UTC)),
        ("03:05", datetime(2024, 7, 26, 23, 5, tzinfo=UTC)),
        ("23:50", datetime(2024, 7, 26, 19, 50, tzinfo=UTC)),
        ("Yesterday, 10:00", datetime(2024, 7, 26, 6, 0, tzinfo=UTC)),
        ("no time here", None),
        ("31.02.2024 10:00", None),
    ],
)
def test_parse_site_time(text: str, expected: datetime | None) -> None:
    assert parse_site_time(text, tz=BAKU, now=NOW) == expected


def test_default_selectors_are_exported() -> None:
    assert DEFAULT_SELECTORS.item and DEFAULT_SELECTORS.link
