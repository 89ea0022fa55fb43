"""Tests for bot.news.listing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from selectolax.lexbor import LexborHTMLParser

from bot.news.listing import (
    DEFAULT_SELECTORS,
    ListingSelectors,
    cap_nesting,
    decode_html,
    parse_listing,
    parse_site_time,
)
from bot.urls import normalize_url

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


CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "articles" / "trafilatura-eval"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")


def _real(name: str, url: str) -> list[tuple[str, str]]:
    feed = parse_listing((CORPUS / name).read_bytes(), url=url, now=NOW)
    assert feed.error is None
    return [(item.title, item.url) for item in feed.items]


@needs_corpus
def test_real_page_without_matching_selectors_is_read_by_its_story_lists() -> None:
    # faz.net: the default selectors match nothing; the generic reader finds the story teasers
    # and leaves out the section menu ("Staat und Recht", "Auto & Verkehr").
    items = _real("faz.net.streaming.html", "https://www.faz.net/aktuell/wirtschaft/x-16604622.html")
    titles = [title for title, _ in items]
    assert any("Greta Thunberg will Fridays for Future" in title for title in titles)
    assert not any(title in ("Staat und Recht", "Auto & Verkehr", "Arm und reich") for title in titles)
    assert all(url.startswith("https://www.faz.net/aktuell/") and url.endswith(".html") for _, url in items)


@needs_corpus
def test_real_page_navigation_and_archive_links_are_not_stories() -> None:
    items = _real(
        "tagesschau.de.rheinmetall.html",
        "https://www.tagesschau.de/investigativ/ndr/rheinmetall-datenleck-101.html",
    )
    assert items, "the related stories list was not found"
    titles = " | ".join(title for title, _ in items)
    for junk in ("Was ist neu?", "Alle Meldungen vom", "Tagesschau 20 Uhr"):
        assert junk not in titles
    assert any("Rheinmetall" in title for title, _ in items)


@needs_corpus
def test_real_page_video_labels_become_tags_and_dates_are_read() -> None:
    feed = parse_listing(
        (CORPUS / "bbc.com.52241221.html").read_bytes(),
        url="https://www.bbc.com/news/world-us-canada-52241221",
        now=NOW,
    )
    by_url = {item.url: item for item in feed.items}
    havoc = by_url["https://www.bbc.com/news/world-us-canada-52194018"]
    assert havoc.title == "Coronavirus wreaks havoc in African American neighbourhoods"
    assert havoc.published is not None and havoc.published.date().isoformat() == "2020-04-07"
    videos = [item for item in feed.items if "VIDEO" in item.tags]
    assert videos and all(not item.title.startswith("Video ") for item in videos)


@needs_corpus
@pytest.mark.parametrize(
    ("name", "url", "ranking", "stories_left"),
    [
        # "Most popular" sidebars: rankings, not the news list.
        ("bostonherald.com-Brothel-catering.html", "https://www.bostonherald.com/2023/11/08/brothel-catering-to-politicians-doctors-lawyers-busted-in-boston/", "[class*=most-popular]", True),  # noqa: E501
        ("../newspaper4k/wired_001.html", "https://www.wired.com/story/israel-surveillance-state-out-of-control-west-bank/", "[class*=RecircMostPopular]", True),  # noqa: E501
        # "Lo más visto" (most viewed) is the only list on this page: nothing is left to read.
        ("elpais.com.ciencia.html", "https://elpais.com/elpais/2020/02/18/ciencia/1582045946_459487.html", "[class*=lo_mas_visto]", False),  # noqa: E501
    ],
)  # fmt: skip
def test_real_page_most_read_blocks_are_not_stories(
    name: str, url: str, ranking: str, stories_left: bool
) -> None:
    raw = (CORPUS / name).read_bytes()
    tree = LexborHTMLParser(decode_html(raw))
    ranked = {normalize_url(a.attributes.get("href") or "", base=url) for a in tree.css(f"{ranking} a[href]")}
    assert ranked, "the page's ranking block was not found"
    feed = parse_listing(raw, url=url, now=NOW)
    assert not ranked & {item.url for item in feed.items}
    assert bool(feed.items) == stories_left


def test_generic_reader_is_linear_on_a_huge_flat_page() -> None:
    # 20,000 links in one list: capped, read in one pass, no quadratic work per link.
    rows = "".join(
        f'<li><a href="/news/2024/story-number-{i}-of-the-day">Story number {i} of the long day</a></li>'
        for i in range(20_000)
    )
    feed = parse_listing(f"<html><body><ul>{rows}</ul></body></html>", url="https://s.example/")
    assert 0 < len(feed.items) <= 500


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("26 julho 2024 20:55", datetime(2024, 7, 26, 16, 55, tzinfo=UTC)),  # Portuguese
        ("Sex, 26 Jul 2024 20:55", datetime(2024, 7, 26, 16, 55, tzinfo=UTC)),
        ("venerdì 26 luglio 2024, 20:55", datetime(2024, 7, 26, 16, 55, tzinfo=UTC)),  # Italian
        ("пятница, 26 июля 2024, 20:55", datetime(2024, 7, 26, 16, 55, tzinfo=UTC)),  # Russian
        ("Cümə, 26 iyul 2024 20:55", datetime(2024, 7, 26, 16, 55, tzinfo=UTC)),  # Azerbaijani
        ("26 Temmuz 2024 Cuma 20:55", datetime(2024, 7, 26, 16, 55, tzinfo=UTC)),  # Turkish
    ],
)
def test_non_english_month_and_weekday_names_in_page_dates_parse(text: str, expected: datetime) -> None:
    assert parse_site_time(text, tz=BAKU, now=NOW) == expected


def test_links_inside_nested_menus_and_footers_are_skipped_without_touching_freed_nodes() -> None:
    def stories(prefix: str, n: int) -> str:
        return "".join(
            f'<li><a href="/news/2024/{prefix}-story-number-{i}">'
            f"{prefix.title()} story number {i} of the day</a></li>"
            for i in range(n)
        )

    page = (
        "<html><body>"
        '<footer><div class="menu"><nav class="nav-list">'
        f"<ul>{stories('footer', 5)}</ul></nav></div></footer>"
        f'<div class="sidebar-most-popular"><div class="trending"><ul>{stories("ranked", 5)}</ul></div></div>'
        f'<main><ul class="latest">{stories("main", 5)}</ul></main>'
        "</body></html>"
    )
    feed = parse_listing(page, url="https://s.example/")
    assert [item.title for item in feed.items] == [f"Main story number {i} of the day" for i in range(5)]


def test_lazy_loaded_picture_next_to_a_link_is_taken_not_its_placeholder() -> None:
    rows = "".join(
        f'<li><img src="data:image/gif;base64,R0lGOD" data-src="/img/{i}.jpg">'
        f'<a href="/news/2024/story-number-{i}-of-the-day">Story number {i} of the long day</a></li>'
        for i in range(3)
    )
    feed = parse_listing(f"<ul>{rows}</ul>", url="https://s.example/")
    assert [item.image_url for item in feed.items] == [f"https://s.example/img/{i}.jpg" for i in range(3)]


def test_tags_that_never_close_do_not_make_the_nesting_scan_quadratic() -> None:
    # 300,000 "<br" with no ">": each tag once looked for its ">" to the end of the page.
    page = "<br" * 300_000
    assert cap_nesting(page, 120) == page
