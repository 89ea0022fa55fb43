"""What a pushed item looks like: escaped, linked safely, within Telegram's limits."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.html_check import visible
from bot.i18n import translator
from bot.models import Article, Source
from bot.render.articles import article_message
from bot.render.html import MESSAGE_LIMIT, clip, fit, link, utf16_len
from bot.render.lists import item_list
from bot.render.sources import failing_text, source_line, sources_text


def article(**kwargs: object) -> Article:
    base: dict[str, object] = {
        "id": 1,
        "source_id": "s",
        "guid": "g",
        "url": "https://example.org/a?x=1&y=2",
        "title": "Title",
        "lead": "Lead",
        "published_at": datetime(2024, 7, 26, 16, 55, tzinfo=UTC),
    }
    return Article(**{**base, **kwargs})  # type: ignore[arg-type]


def render(a: Article, tz: str = "Asia/Baku") -> str:
    return article_message(a, tz=ZoneInfo(tz), translate=translator("en"))


def test_title_is_bold_link_and_time_is_local() -> None:
    text = render(article(category="Politics", kicker="INTERVIEWS"))
    assert text.startswith('<b><a href="https://example.org/a?x=1&amp;y=2">Title</a></b>')
    assert "<i>INTERVIEWS</i> · Politics · 26 Jul 2024, 20:55" in text


def test_web_text_is_escaped() -> None:
    text = render(article(title='<script>alert("x")</script> & co', lead="1 < 2 & 3 > 2"))
    assert "<script>" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in text
    assert "1 &lt; 2 &amp; 3 &gt; 2" in text


def test_non_http_link_is_not_linked() -> None:
    text = render(article(url="javascript:alert(1)"))
    assert "href" not in text


def test_huge_title_and_lead_stay_within_limit() -> None:
    text = render(article(title="word " * 2000, lead="&" * 10000))
    assert utf16_len(text) <= MESSAGE_LIMIT
    assert text.count("<b>") == text.count("</b>")


def test_photo_and_video_tags_are_marked() -> None:
    assert "📷" in render(article(tags=("PHOTO",)))
    assert "🎥" in render(article(tags=("VIDEO",)))


def test_long_lists_split_across_messages_within_limit() -> None:
    items = [article(id=i, title=f"Story {i} " + "x" * 150) for i in range(80)]
    messages = item_list("Digest", items, tz="UTC")
    assert len(messages) > 1
    assert all(utf16_len(m) <= MESSAGE_LIMIT for m in messages)
    assert sum(m.count("• ") for m in messages) == 80


# --- what readers expect, and what must never reach them (issue 7) --------------------------------


def test_pushed_item_names_its_source_and_the_time_with_its_zone() -> None:
    text = render(article(source_name="Caspian Ledger", category="Politics"), tz="Asia/Baku")
    assert "<b>Caspian Ledger</b> · Politics · 26 Jul 2024, 20:55 +04" in text
    assert "26 Jul 2024, 16:55 UTC" in render(article(), tz="UTC")


def test_list_lines_name_the_source_and_the_zone() -> None:
    [message] = item_list(
        "Latest news", [article(source_name="Ledger", category="Sport")], tz="Europe/Istanbul"
    )
    assert "26 Jul 2024, 19:55 +03 · Ledger · Sport" in message


CONTROLS = "\x00\x1b[31m\x07\x7f\x85\u202e\u202d\u2066\u2069\u200f\ud800"


def test_control_characters_in_titles_are_stripped_at_render_time() -> None:
    text = render(
        article(
            title=f"Evil{CONTROLS}title",
            lead=f"line one\nline{CONTROLS}\ttwo",
            category=f"S{CONTROLS}port",
            source_name=f"Bad{CONTROLS}Source",
            kicker="K\x1b",
        )
    )
    for char in CONTROLS.replace("[31m", ""):
        assert char not in text, repr(char)
    assert "Evil[31mtitle" in text and "line one\nline[31m\ttwo" in text
    text.encode()  # no lone surrogate is left: the text can be sent at all
    [listed] = item_list("Digest", [article(title=f"Evil{CONTROLS}title")], tz="UTC")
    assert "\u202e" not in listed and "\x00" not in listed


def test_huge_labels_from_a_feed_still_fit_one_message() -> None:
    text = render(
        article(
            title="t" * 5000, kicker="k" * 5000, category="c" * 5000, source_name="s" * 5000, lead="l" * 5000
        )
    )
    assert utf16_len(text) <= MESSAGE_LIMIT


def test_fit_falls_back_to_clipped_escaped_plain_text() -> None:
    plain = "&<" * 5000
    fitted = fit(f"<b>{plain}</b>", plain)
    assert utf16_len(fitted) <= MESSAGE_LIMIT and "<b>" not in fitted and fitted.startswith("&amp;&lt;")
    assert utf16_len(clip("😀" * 3000, 4096)) <= 4096


def test_links_are_never_made_from_odd_addresses() -> None:
    assert "href" not in link("x", "https://[oops")
    assert "href" not in link("x", "java\x00script:alert(1)")
    assert link("x", "https://e.org/\u202e") == '<a href="https://e.org/">x</a>'


def test_admin_texts_from_web_data_are_escaped_and_capped() -> None:
    evil = Source(
        id="evil",
        name="<b>Evil</b>\u202e" + "n" * 5000,
        url="https://e.org/" + "u" * 5000,
        kind="feed",
        interval=60,
        category=None,
        breaking=False,
        origin="admin",
        options={},
        paused=False,
        seeded=True,
        etag=None,
        last_modified=None,
        last_polled_at=None,
        last_success_at=None,
        last_error="<script>\x00" + "e" * 5000,
        consecutive_failures=3,
        next_poll_at=None,
        items_total=0,
    )
    for text in [failing_text(evil, evil.last_error or ""), source_line(evil, ZoneInfo("UTC"))]:
        assert (
            "<script>" not in text and "<b>Evil" not in text and "\u202e" not in text and "\x00" not in text
        )
        assert utf16_len(text) < 2000
    assert all(utf16_len(m) <= MESSAGE_LIMIT for m in sources_text([evil] * 40, ZoneInfo("UTC")))


def test_caption_form_fits_1024_visible_characters_and_keeps_title_and_time() -> None:
    a = article(title="T" * 400, lead="Lead & more. " * 200, source_name="Site", category="World")
    text = article_message(a, tz=ZoneInfo("UTC"), translate=translator("en"), limit=1024)
    assert utf16_len(visible(text)) <= 1024
    assert "T" * 299 in text and "26 Jul 2024, 16:55 UTC" in text
    assert "Lead &amp; more." in text


def test_short_form_drops_the_lead_and_source_category_fills_in() -> None:
    a = article(lead="A lead", source_name="Site", source_category="Economy")
    text = article_message(a, tz=ZoneInfo("UTC"), translate=translator("en"), short=True)
    assert "A lead" not in text
    assert text.endswith("<b>Site</b> · Economy · 26 Jul 2024, 16:55 UTC")
    own = article_message(
        article(category="Sport", source_category="Economy"), tz=ZoneInfo("UTC"), translate=translator("en")
    )
    assert "Sport" in own and "Economy" not in own


def test_recent_items_say_how_long_ago_older_ones_the_zoned_time() -> None:
    a = article(source_name="Site")
    tr = translator("en")
    assert "· just now" in article_message(a, tz=ZoneInfo("UTC"), translate=tr, minutes_ago=0)
    assert "· 59 min ago" in article_message(a, tz=ZoneInfo("UTC"), translate=tr, minutes_ago=59)
    assert "· 26 Jul 2024, 20:55 +04" in article_message(
        a, tz=ZoneInfo("Asia/Baku"), translate=tr, minutes_ago=60
    )
