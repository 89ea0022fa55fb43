"""Tests for bot.news.presets: a shipped preset selects the parts of pages shaped like the reference page."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.config import parse_settings
from bot.errors import ConfigError
from bot.news.article import extract_article
from bot.news.listing import ListingSelectors, parse_listing
from bot.news.presets import ArticleSelectors, available, load

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "news-article-page.txt"
BAKU = ZoneInfo("Asia/Baku")


def test_preset_selects_listing_selectors_and_timezone_in_config() -> None:
    settings = parse_settings(
        {"sources": [{"id": "cal", "url": "https://news.example/en/", "preset": "caliber"}]}, env={}
    )
    source = settings.sources[0]
    assert "caliber" in available()
    assert (source.kind, source.timezone, source.preset) == ("html", "Asia/Baku", "caliber")
    assert source.selectors["item"] == load("caliber").listing["item"]
    # What the operator writes beside the preset wins over it.
    mine = parse_settings(
        {"sources": [{"id": "c", "url": "https://n.example/", "preset": "caliber", "timezone": "UTC",
                      "selectors": {"item": "li.mine"}}]},
        env={},
    ).sources[0]  # fmt: skip
    assert (mine.timezone, mine.selectors["item"]) == ("UTC", "li.mine")
    with pytest.raises(ConfigError, match="known presets: caliber"):
        parse_settings({"sources": [{"id": "x", "url": "https://n.example/", "preset": "nope"}]}, env={})


def _reference() -> dict[str, object]:
    """The reference page's own words, split into its parts (title, kicker, body, Read also, Latest news)."""
    lines = [line.strip() for line in REFERENCE.read_text(encoding="utf-8").splitlines()]
    read_at = lines.index("Read also")
    latest_at = lines.index("Latest news")
    body = [
        line
        for line in lines[5:read_at]
        if line and line not in ("Caliber.Az", "Subscribe to our Telegram channel")
    ]
    blocks = [line for line in lines[read_at + 1 : lines.index("ADVERTS")] if line]
    latest = [line for line in lines[latest_at + 1 :] if line]
    return {
        "title": lines[0],
        "kicker": lines[1],
        "body": body[1:],
        "author": body[0],
        "read": blocks,
        "latest": latest,
    }


needs_reference = pytest.mark.skipif(not REFERENCE.is_file(), reason="shared reference page not present")


@needs_reference
def test_reference_shaped_article_page_is_read_by_the_preset() -> None:
    ref = _reference()
    esc = html.escape
    read_also = "".join(
        f'<div class="read_also_item"><a href="/en/news/read-{i}">'
        f'<span class="title">{esc(str(t))}</span></a>'
        f"<span class='time'>{esc(str(d))}</span></div>"
        for i, (t, d) in enumerate(zip(ref["read"][0::2], ref["read"][1::2], strict=False))  # type: ignore[index]
    )
    paragraphs = "".join(f"<p>{esc(str(p))}</p>" for p in ref["body"])  # type: ignore[attr-defined]
    page = (
        '<html><head><title>Caliber.Az</title><meta property="og:site_name" content="Caliber.Az">'
        "</head><body>"
        '<div class="post"><div class="post_category">INTERVIEWS</div>'
        '<div class="post_time">20 April 2024 - 16:30</div>'
        f'<h1 class="post_title">{esc(str(ref["title"]))}</h1>'
        f'<div class="post_subtitle">{esc(str(ref["kicker"]))}</div>'
        f'<div class="post_author">{esc(str(ref["author"]))}</div>'
        f'<div class="post_body">{paragraphs}<div class="read_also"><h3>Read also</h3>{read_also}</div></div>'
        "</div></body></html>"
    )
    preset = load("caliber")
    got = extract_article(
        page.encode(), url="https://caliber.example/en/interviews/triumph", selectors=preset.article, tz=BAKU
    )
    assert got.title == ref["title"]
    assert got.kicker == "Has & Verdiyan on Caliber.Az"
    assert got.category == "INTERVIEWS"
    assert got.author == "Vadim Mansurov"
    assert got.published == datetime(2024, 4, 20, 16, 30, tzinfo=BAKU)
    assert got.published is not None and got.published.utcoffset() == timedelta(hours=4)
    assert got.text.startswith("The early withdrawal of Russian peacekeepers")
    assert "West-backed Armenia" not in got.text
    assert [title for title, _ in got.read_also][:2] == [
        "West-backed Armenia likely to spark conflict with Azerbaijan rather than seek peace"
        " Caliber.Az reveals expert prognoses",
        "New war will erase Armenia’s sovereignty, pundits warn Yerevan's risky moves could backfire",
    ]


@needs_reference
def test_reference_latest_news_list_with_photo_video_tags_and_baku_times() -> None:
    latest: list[str] = _reference()["latest"]  # type: ignore[assignment]
    items, current = [], []
    for line in latest:
        current.append(line)
        if line[:2].isdigit() and " - " in line:  # "27 July 2024 - 03:05" closes an item
            items.append(current)
            current = []
    rows = []
    for i, (title, *middle, stamp) in enumerate(items):
        tags = [m for m in middle if m in ("PHOTO", "VIDEO")]
        subtitle = [m for m in middle if m not in tags]
        rows.append(
            f'<div class="news_item"><a href="/en/news/{i}-story">'
            f'<span class="news_item_title">{html.escape(title)}</span>'
            + "".join(f'<span class="news_item_subtitle">{html.escape(s)}</span>' for s in subtitle)
            + "</a>"
            + "".join(f'<span class="news_item_tag">{t}</span>' for t in tags)
            + f'<span class="news_item_time">{stamp}</span></div>'
        )
    page = f'<html><body><div class="latest_news"><h2>Latest news</h2>{"".join(rows)}</div></body></html>'
    preset = load("caliber")
    fields = {k: preset.listing.get(k) for k in ("item", "title", "link", "time", "kicker", "tag")}
    feed = parse_listing(page, url="https://caliber.example/en/", selectors=ListingSelectors(**fields),  # type: ignore[arg-type]
                         tz=BAKU, now=datetime(2024, 7, 27, 0, 30, tzinfo=UTC))  # fmt: skip
    assert len(feed.items) == len(items) >= 20
    first = feed.items[0]
    assert first.title == "Japan addressing increasing incidents of customer harassment"
    assert first.kicker == "Service culture under strain"
    assert first.published == datetime(2024, 7, 27, 3, 5, tzinfo=BAKU).astimezone(UTC)
    photo = next(item for item in feed.items if item.title.startswith("Azerbaijani prosecutor general"))
    assert photo.tags == ("PHOTO",)
    assert any(item.tags == ("VIDEO",) for item in feed.items)
    assert first.published is not None and first.published.tzinfo == UTC


def test_a_preset_selector_the_parser_refuses_leaves_the_generic_reading() -> None:
    html = "<html><head><title>Storm hits the coast</title></head><body><h1>Storm hits the coast</h1>"
    html += "<p>A strong storm reached the coast on Monday night, cutting power.</p></body></html>"
    broken = ArticleSelectors(title="[[[", time="<<<", body=".post_body")
    page = extract_article(html, url="https://s.example/n/1", selectors=broken)
    assert page.title == "Storm hits the coast"
    assert "A strong storm reached the coast" in page.text


def test_nested_read_also_blocks_are_kept_as_links_and_left_out_of_the_body() -> None:
    html = (
        '<html><body><div class="post"><h1 class="post_title">Storm hits the coast</h1>'
        '<div class="post_body">'
        "<p>A strong storm reached the coast on Monday night.</p>"
        '<div class="read_also"><div class="read-also">'
        '<a href="/en/news/old-flood">Last year&#39;s flood</a></div></div>'
        "</div></div></body></html>"
    )
    page = extract_article(html, url="https://s.example/en/news/storm", selectors=load("caliber").article)
    assert page.text == "A strong storm reached the coast on Monday night."
    assert page.read_also[0] == ("Last year's flood", "https://s.example/en/news/old-flood")
