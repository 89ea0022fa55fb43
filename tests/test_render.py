"""What a pushed item looks like: escaped, linked safely, within Telegram's limits."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.i18n import translator
from bot.models import Article
from bot.render.articles import article_message
from bot.render.html import MESSAGE_LIMIT, utf16_len
from bot.render.lists import item_list


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
