"""Tests for bot.news.feeds: offline fixtures, plus the shared corpus when it is present."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.news.feeds import (
    MAX_ITEMS,
    MAX_LEAD,
    _detect_encoding,
    _to_utf8,
    clean_text,
    first_image,
    html_text,
    parse_feed,
    title_from_text,
    truncate_text,
)

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


def _rss(*items: str, head: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        f"<link>https://site.example/</link>{head}{''.join(items)}</channel></rss>"
    ).encode()


def test_literal_words_in_angle_brackets_are_kept_in_plain_text_titles() -> None:
    feed = parse_feed(
        _rss(
            "<item><title>Regulator reviews &lt;electricity&gt; tariffs</title><link>https://x.example/1</link></item>"
        ),
        url="https://x.example/rss",
    )
    assert feed.items[0].title == "Regulator reviews <electricity> tariffs"


def test_plain_text_title_with_markup_characters_reaches_the_reader_exactly() -> None:
    title = '<script>alert(1)</script> & "Q" <b>bold'
    atom = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title><entry><id>urn:1</id>'
        b'<title type="text">&lt;script&gt;alert(1)&lt;/script&gt; &amp; "Q" &lt;b&gt;bold</title>'
        b'<link href="https://x.example/1"/><updated>2024-07-26T16:55:00Z</updated></entry></feed>'
    )
    rss = _rss(
        '<item><title>&lt;script&gt;alert(1)&lt;/script&gt; &amp; "Q" &lt;b&gt;bold</title>'
        "<link>https://x.example/1</link></item>"
    )
    for document in (atom, rss):
        assert parse_feed(document, url="https://x.example/feed").items[0].title == title


def test_html_titles_and_descriptions_lose_only_their_tags() -> None:
    atom = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title><entry><id>urn:1</id>'
        b'<title type="html">A &lt;b&gt;bold&lt;/b&gt; move &amp;amp; more</title>'
        b'<summary type="html">&lt;p&gt;One&lt;/p&gt;&lt;p&gt;two &amp;lt;three&amp;gt;&lt;/p&gt;</summary>'
        b'<link href="https://x.example/1"/></entry></feed>'
    )
    (item,) = parse_feed(atom, url="https://x.example/feed").items
    assert item.title == "A bold move & more"
    assert item.lead == "One two <three>"


def test_control_characters_in_titles_are_stripped() -> None:
    feed = parse_feed(
        _rss(
            "<item><title>Price\u202e falls &#x1B;[31mred &#0;x</title><link>https://x.example/1</link>"
            "<description>a\u2067b\u2066c</description></item>"
        ),
        url="https://x.example/rss",
    )
    (item,) = feed.items
    assert item.title == "Price falls [31mred x"
    assert item.lead == "abc"
    # feedparser reads C1 bytes in XML as the windows-1252 letters they usually are; JSON keeps them.
    body = (
        '{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "1", "url": "https://x.example/1",'
        ' "title": "A\\u0000B\\u001bC\\u202eD\\u0007\\u0085\\u009b"}]}'
    )
    assert parse_feed(body.encode(), url="https://x.example/j").items[0].title == "ABCD"


def test_one_poisoned_rss_item_leaves_the_others_readable() -> None:
    feed = parse_feed(
        _rss(
            "<item><title>Good</title><link>https://x.example/1</link></item>",
            "<item><title>Bad &#xD800; one</title><link>https://x.example/2</link></item>",
            "<item><title>Worse &#x110000; one</title><link>https://x.example/3</link></item>",
        ),
        url="https://x.example/rss",
    )
    assert feed.error is None
    assert [item.title for item in feed.items] == ["Good", "Bad \ufffd one", "Worse \ufffd one"]


def test_item_whose_building_fails_is_skipped_and_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.news import feeds

    real = feeds._feedparser_item

    def fragile(entry: Any, base: str, site: str) -> Any:
        if entry.get("title") == "Boom":
            raise ValueError("a bug meets a strange item")
        return real(entry, base, site)

    monkeypatch.setattr(feeds, "_feedparser_item", fragile)
    feed = parse_feed(
        _rss(
            "<item><title>Boom</title><link>https://x.example/1</link></item>",
            "<item><title>Fine</title><link>https://x.example/2</link></item>",
        ),
        url="https://x.example/rss",
    )
    assert [item.title for item in feed.items] == ["Fine"]
    assert feed.skipped == ("https://x.example/1",)


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("description", "lead"),
    [
        ("&lt;img " * 50_000, ""),
        ("&lt;script&gt;" * 20_000 + "after", ""),
        ("&lt;div&gt;" * 1_000 + "deep" + "&lt;/div&gt;" * 1_000, "deep"),
        ("&lt;div&gt;" * 100_000 + "deep", ""),
        ("&lt;!--" * 50_000 + "text", ""),
        ("&lt;a href='" * 50_000, ""),
    ],
)
def test_adversarial_html_in_a_description_completes_and_keeps_the_item(description: str, lead: str) -> None:
    feed = parse_feed(
        _rss(
            f"<item><title>Title</title><link>https://x.example/1</link><description>{description}</description></item>"
        ),
        url="https://x.example/rss",
    )
    (item,) = feed.items
    assert item.title == "Title"
    assert item.lead == lead
    assert item.image_url is None


@pytest.mark.timeout(30)
def test_adversarial_sizes_in_text_helpers_complete() -> None:
    assert html_text("<img " * 50_000) == ""
    assert first_image("<img " * 50_000) is None
    assert first_image("<p>x</p>" * 30_000 + '<img src="/a.png">') is None  # beyond the capped input
    assert first_image("<p>x</p>" * 500 + '<img src="/a.png">') == "/a.png"
    assert clean_text("<" * 500_000, limit=10) == "<" * 9 + "…"
    assert title_from_text("a" * 500_000).endswith("…")


@pytest.mark.parametrize(
    ("codec", "declared"),
    [
        ("big5", False),
        ("euc_jp", False),
        ("euc_kr", False),
        ("gb2312", False),
        ("shift_jis", False),
        ("big5", True),
        ("shift_jis", True),
    ],
)
def test_undeclared_east_asian_feeds_decode_without_mojibake(codec: str, declared: bool) -> None:
    """Undeclared, or declared as Latin-1 (a wrong declaration whose reading is mojibake)."""
    texts = {
        "big5": ("新聞快報", "政府今天宣布新的經濟政策，市場反應熱烈。"),
        "euc_jp": ("ニュース速報", "東京で国際会議が開かれ、多くの代表が参加した。"),
        "euc_kr": ("뉴스 속보", "서울에서 국제 회의가 열렸고 많은 대표들이 참석했다."),
        "gb2312": ("新闻快报", "政府今天宣布新的经济政策，市场反应热烈。"),
        "shift_jis": ("ニュース速報", "大阪で新しい鉄道の駅が開業し、多くの人が訪れた。"),
    }
    title, text = texts[codec]
    document = (
        ('<?xml version="1.0" encoding="ISO-8859-1"?>' if declared else "")
        + '<rss version="2.0"><channel><title>'
        + title
        + "</title>"
        + "".join(
            f"<item><title>{text} {n}</title><link>https://x.example/{n}</link><description>{text}</description></item>"
            for n in range(3)
        )
        + "</channel></rss>"
    ).encode(codec)
    feed = parse_feed(document, url="https://x.example/rss", content_type="application/rss+xml")
    assert feed.title == title
    assert feed.items[0].title == f"{text} 0"


@pytest.mark.parametrize("name", ["big5.xml", "eucjp.xml", "euckr.xml", "gb2312.xml", "shiftjis.xml"])
def test_corpus_undeclared_east_asian_feeds_decode(name: str) -> None:
    path = CORPUS_FEEDS / "feedparser-edge" / "illformed" / "chardet" / name
    if not path.is_file():
        pytest.skip("shared corpus not present")
    codec = {
        "big5.xml": "big5",
        "eucjp.xml": "euc_jp",
        "euckr.xml": "euc_kr",
        "gb2312.xml": "gb2312",
        "shiftjis.xml": "shift_jis",
    }[name]
    raw = path.read_bytes()
    # Each file's own comment names its encoding; the document declares none.
    assert _detect_encoding(raw, None) == codec
    assert _to_utf8(raw, None).decode("utf-8") == raw.decode(codec)


def test_non_english_dates_in_feeds_parse() -> None:
    link = "<link>https://x.example/{0}</link>"
    pub = "<pubDate>{0}</pubDate>"
    feed = parse_feed(
        _rss(
            f"<item><title>A</title>{link.format(1)}{pub.format('Seg, 24 Set 2022 10:00:00 -0300')}</item>",
            f"<item><title>B</title>{link.format(2)}{pub.format('mer, 16 nov 2022 08:05:00 +0100')}</item>",
            f"<item><title>C</title>{link.format(3)}{pub.format('Çərşənbə, 16 noyabr 2022 12:00 +0400')}"
            "</item>",
        ),
        url="https://x.example/rss",
    )
    assert [item.published for item in feed.items] == [
        datetime(2022, 9, 24, 13, 0, tzinfo=UTC),
        datetime(2022, 11, 16, 7, 5, tzinfo=UTC),
        datetime(2022, 11, 16, 8, 0, tzinfo=UTC),
    ]


def test_malformed_links_are_not_taken_as_links() -> None:
    feed = parse_feed(
        _rss(
            "<item><title>Bad port</title><link>https://x.example:99999999/a</link>"
            '<guid isPermaLink="false">1</guid></item>',
            "<item><title>Bad host</title><link>http://[::1/a</link>"
            '<guid isPermaLink="false">2</guid></item>',
        ),
        url="https://x.example/rss",
    )
    # Kept (each has a guid) but pointing at the site: the link could not be opened by a reader.
    assert [(item.title, item.url, item.own_link) for item in feed.items] == [
        ("Bad port", "https://site.example/", False),
        ("Bad host", "https://site.example/", False),
    ]


def test_json_feed_date_with_non_english_month_parses() -> None:
    body = (
        '{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "1", "url": "https://x.example/1",'
        ' "title": "T", "date_published": "16 noyabr 2022 12:00 +0400"}]}'
    )
    (item,) = parse_feed(body.encode(), url="https://x.example/j").items
    assert item.published == datetime(2022, 11, 16, 8, 0, tzinfo=UTC)


def test_item_with_nothing_to_show_is_skipped_and_counted_not_dropped_silently() -> None:
    feed = parse_feed(
        _rss(
            "<item><guid>urn:empty</guid></item>",
            "<item><title>Fine</title><link>https://x.example/2</link></item>",
        ),
        url="https://x.example/rss",
    )
    assert [item.title for item in feed.items] == ["Fine"]
    assert feed.skipped == ("urn:empty",)


@pytest.mark.parametrize(
    ("guid", "expected"),
    [
        ("<guid>story-1</guid>", "https://news.example/feeds/story-1"),  # a permalink: resolved
        ('<guid isPermaLink="false">story-1</guid>', "story-1"),  # an opaque id: as written
        ("<guid>https://news.example/a/1</guid>", "https://news.example/a/1"),
    ],
)
def test_relative_guids_keep_the_identity_they_always_had(guid: str, expected: str) -> None:
    item = f"<item><title>T</title><link>https://news.example/a/1</link>{guid}</item>"
    feed = parse_feed(
        f'<rss version="2.0"><channel><title>S</title>{item}</channel></rss>'.encode(),
        url="https://news.example/feeds/main.xml",
    )
    assert [i.guid for i in feed.items] == [expected]


def test_an_iframe_in_a_lead_leaves_no_markup_behind() -> None:
    description = "&lt;p&gt;Watch this.&lt;/p&gt;&lt;iframe src='https://v.example/x'&gt;&lt;/p&gt;&lt;p&gt;"
    item = f"<item><title>T</title><link>https://news.example/a/1</link><description>{description}</description></item>"
    feed = parse_feed(
        f'<rss version="2.0"><channel><title>S</title>{item}</channel></rss>'.encode(),
        url="https://news.example/f",
    )
    assert feed.items[0].lead == "Watch this."
