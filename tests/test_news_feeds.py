"""Tests for bot.news.feeds: offline fixtures, plus the shared corpus when it is present."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.news.feeds import MAX_ITEMS, MAX_LEAD, clean_text, html_text, parse_feed, truncate_text

FIXTURES = Path(__file__).parent / "fixtures" / "news"
CORPUS_FEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "feeds"


def _fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.mark.parametrize(
    "name", ["rss_cp1251_nodecl.xml", "rss_cp1251_wrongdecl.xml", "rss_koi8r_nodecl.xml"]
)
def test_cyrillic_single_byte_feeds_decode_despite_declaration(name: str) -> None:
    feed = parse_feed(_fixture(name), url="http://ru.example/rss")
    assert feed.error is None
    assert feed.title == "Русская лента"
    assert feed.items[0].title == "Новость номер 0: правительство обсудило бюджет"
    assert feed.items[0].lead == "Подробности о событии 0."


def test_atom_xml_base_resolves_links_and_keeps_them_verbatim() -> None:
    feed = parse_feed(_fixture("atom_xml_base.xml"), url="https://news.example/feed.atom")
    first, nested = feed.items
    # The link exactly as the publisher wrote it, only resolved against xml:base.
    assert first.url == "https://news.example/section/stories/budget-passes/?utm_source=rss&b=2&a=1"
    assert first.title == "Budget passes first reading"
    assert first.lead == "The parliament approved the draft & sent it on."
    assert first.guid == "tag:news.example,2024:budget"
    assert first.published == datetime(2024, 7, 26, 16, 55, tzinfo=UTC)
    assert first.author == "Ayla Mammadova"
    assert first.category == "Politics"
    assert nested.url == "https://other.example/story.html#comments"


def test_rss_duplicates_untitled_and_linkless_items() -> None:
    feed = parse_feed(_fixture("rss_dupes.xml"), url="https://ticker.example/rss")
    assert feed.error is None
    assert [item.guid for item in feed.items][:2] == ["story-1", "https://ticker.example/news/3?fbclid=abc"]
    first, untitled, linkless = feed.items
    assert first.publisher_guid and not untitled.publisher_guid
    # A title and some text but no link: kept, pointing at the feed's site.
    assert (linkless.title, linkless.lead) == ("No link, no guid", "Only words here.")
    assert linkless.url == "https://ticker.example/" and not linkless.own_link
    assert first.title == "First story"
    assert first.image_url == "https://cdn.ticker.example/1.jpg"
    assert first.tags == ("Economy", "Oil")
    assert first.category == "Economy"
    assert first.published is not None and first.published.tzinfo is UTC
    assert untitled.title == "An item without a title or a date."
    assert untitled.published is None
    assert untitled.image_url == "https://cdn.ticker.example/3.png"


def test_json_feed() -> None:
    feed = parse_feed(_fixture("jsonfeed.json"), url="https://json.example/feed.json")
    assert feed.title == "JSON Ticker"
    assert [item.guid for item in feed.items] == ["1", "2"]
    first, second = feed.items
    assert first.url == "https://json.example/a/1/?utm_medium=feed"
    assert first.title == "Hello &amp; welcome"  # JSON Feed titles are plain text: kept literally
    assert first.author == "Rashad"
    assert first.image_url == "https://json.example/img/1.jpg"
    assert first.published == datetime(2024, 7, 26, 16, 55, tzinfo=UTC)
    assert second.url == "https://json.example/a/2"
    assert second.title == "Untitled item text that goes on."


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"<html><head><title>x</title></head><body><p>Hi</p></body></html>", "not a feed"),
        (b'{"hello": "world"}', "not a JSON Feed"),
        (b"{broken", "invalid JSON"),
        (b"\x00\xff\xfe garbage \x80", "not a feed"),
    ],
)
def test_non_feeds_report_an_error(content: bytes, fragment: str) -> None:
    feed = parse_feed(content, url="https://x.example/")
    assert feed.items == ()
    assert feed.error is not None and fragment in feed.error


def test_gzipped_file_and_bom() -> None:
    raw = _fixture("rss_dupes.xml")
    assert len(parse_feed(gzip.compress(raw), url="https://ticker.example/rss").items) == 3
    assert len(parse_feed(b"\xef\xbb\xbf" + raw, url="https://ticker.example/rss").items) == 3


def test_file_name_as_body_is_not_opened(tmp_path: Path) -> None:
    secret = tmp_path / "feed.xml"
    secret.write_bytes(_fixture("rss_dupes.xml"))
    feed = parse_feed(str(secret).encode(), url="https://x.example/")
    assert feed.items == ()


def test_caps_on_items_and_leads() -> None:
    long_text = "word " * 1000
    items = "".join(
        f"<item><title>T{i}</title><link>https://x.example/{i}</link><description>{long_text}</description></item>"
        for i in range(MAX_ITEMS + 50)
    )
    feed = parse_feed(
        f'<rss version="2.0"><channel>{items}</channel></rss>'.encode(), url="https://x.example/"
    )
    assert len(feed.items) == MAX_ITEMS
    assert len(feed.items[0].lead) <= MAX_LEAD
    assert feed.items[0].lead.endswith("…")


def test_text_helpers() -> None:
    assert html_text("<p>A <b>bold</b>,  <br/>move &amp; more</p>") == "A bold, move & more"
    assert html_text("<p>one</p><p>two</p>") == "one two"
    assert html_text("<script>alert(1)</script>ok") == "ok"
    assert clean_text("a < b > c") == "a < b > c"
    assert clean_text("<b>kept</b> &amp;") == "<b>kept</b> &amp;"
    assert truncate_text("one two three four", 10) == "one two…"


@pytest.mark.skipif(not CORPUS_FEEDS.is_dir(), reason="shared corpus not present")
def test_every_corpus_feed_parses_without_raising() -> None:
    count = 0
    for path in sorted(CORPUS_FEEDS.rglob("*")):
        if not path.is_file() or path.name.endswith(".serde.json") or "output" in path.parts:
            continue
        feed = parse_feed(path.read_bytes(), url="https://corpus.example/feed")
        assert feed.error is not None or isinstance(feed.items, tuple)
        for item in feed.items:
            assert item.url.startswith(("http://", "https://"))
            assert item.title
            assert item.published is None or item.published.tzinfo is UTC
        count += 1
    assert count > 100
