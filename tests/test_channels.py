"""Channel decisions, post rendering and channel config, without Telegram."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.channels import candidates, in_silent_hours, is_due, matches, parse_add_command
from bot.config import ChannelSettings, load_settings
from bot.emulator.entities import parse_html
from bot.errors import ConfigError
from bot.html_check import footer_problem
from bot.models import Article
from bot.render.channels import PostStyle, channel_post, hashtag
from bot.render.html import utf16_len
from bot.storage import channels as stored_channels
from bot.storage.channels import Channel
from bot.storage.interface import Database


def _article(**kw: object) -> Article:
    values: dict[str, object] = {
        "id": 1,
        "source_id": "site",
        "guid": "g",
        "url": "https://example.com/a",
        "title": "Headline",
        "lead": "Lead.",
        "published_at": datetime(2026, 1, 1, tzinfo=UTC),
        "category": "World",
    }
    values.update(kw)
    return Article(**values)  # type: ignore[arg-type]


def _channel(**kw: object) -> Channel:
    values: dict[str, object] = {
        "id": 1,
        "ref": "@news",
        "chat_id": -100,
        "title": "News",
        "origin": "config",
        "options": {},
        "state": "active",
        "state_reason": None,
        "last_article": 0,
        "last_post_at": None,
    }
    values.update(kw)
    return Channel(**values)  # type: ignore[arg-type]


def test_photo_caption_respects_1024_and_the_whole_summary_follows_in_a_text_post() -> None:
    summary = "Ünïcode 🎉 <tag> & words " * 200
    post = channel_post(
        _article(image_url="https://example.com/i.jpg", title="A <b>title</b> & more"),
        style=PostStyle(footer='<a href="https://t.me/x">Join</a>', hashtags=True),
        summary=summary,
    )
    assert post.photo == "https://example.com/i.jpg"
    caption, _ = parse_html(post.text)  # raises on markup Telegram would refuse
    assert utf16_len(caption) <= 1024
    assert caption.startswith("World\nA <b>title</b> & more\n\nÜnïcode 🎉 <tag> & words")
    assert caption.endswith("Read more →\n#World\n\nJoin")
    assert post.follow_up is not None
    follow, _ = parse_html(post.follow_up)
    assert follow.startswith("Ünïcode 🎉 <tag> & words") and utf16_len(follow) <= 4096 and len(follow) > 2900


def test_text_post_without_image_has_no_follow_up_and_keeps_a_long_summary_within_4096() -> None:
    post = channel_post(_article(breaking=True, kicker="Live"), style=PostStyle(), summary="x " * 5000)
    assert post.photo is None and post.follow_up is None
    text, entities = parse_html(post.text)
    assert text.startswith("🔴 Breaking · Live\nHeadline\n\nx x")
    assert utf16_len(text) <= 4096
    assert {e["type"] for e in entities} == {"bold", "italic", "text_link"}


def test_a_javascript_image_or_link_is_never_used() -> None:
    post = channel_post(
        _article(image_url="javascript:alert(1)", url="javascript:alert(1)"), style=PostStyle()
    )
    assert post.photo is None
    assert "href" not in post.text


@pytest.mark.parametrize(
    ("footer", "problem"),
    [
        ('<a href="https://t.me/x">ok</a>', None),
        ("<div>x</div>", "tag <div> is not allowed in Telegram HTML"),
        ("<b>open", "<b> is never closed"),
        ("<b><i>x</b></i>", "</b> does not close the last open tag"),
        ('<a href="javascript:x">x</a>', "a link needs an http(s) href"),
        ("1 < 2", "has a bare '<'; write &lt;"),
        ("two\nlines", "must be one line"),
    ],
)
def test_footer_is_checked_against_telegram_html(footer: str, problem: str | None) -> None:
    assert footer_problem(footer) == problem


def test_hashtag_from_category() -> None:
    assert hashtag("world news") == "#WorldNews"
    assert hashtag("Спорт / Футбол") == "#СпортФутбол"
    assert hashtag("2024") == ""
    assert hashtag(None) == ""


def test_channel_matching_uses_categories_sources_keywords_and_exclusions() -> None:
    settings = ChannelSettings(
        chat="@n", categories=("world",), keywords=("İstanbul", "Bakı"), exclude_keywords=("ad",)
    )
    assert matches(settings, _article(category="World"))
    assert matches(settings, _article(category="Sport", title="News from istanbul"))
    assert matches(settings, _article(category="Sport", title="ISTANBUL"))
    assert not matches(settings, _article(category="Sport", title="Baku"))  # "Bakı" is another word
    assert not matches(settings, _article(category="World", title="An ad for you"))
    assert matches(ChannelSettings(chat="@n"), _article(category=None))


def test_review_channel_and_blocklist_hold_candidates_breaking_first_priority() -> None:
    chosen = candidates(
        ChannelSettings(chat="@n"),
        [_article(id=1, title="War news"), _article(id=2, breaking=True)],
        lambda text: "war" if "War" in text else None,
    )
    assert [(c.article_id, c.priority, c.review_reason) for c in chosen] == [
        (1, 0, "blocklist: war"),
        (2, 1, None),
    ]
    held = candidates(ChannelSettings(chat="@n", review=True), [_article()], lambda text: None)
    assert held[0].review_reason == "review"


def test_pacing_with_a_clock_the_test_controls() -> None:
    settings = ChannelSettings(chat="@n", min_interval=300)
    assert is_due(_channel(last_post_at=None), settings, 1000.0)
    assert not is_due(_channel(last_post_at=1000.0), settings, 1299.0)
    assert is_due(_channel(last_post_at=1000.0), settings, 1300.0)
    assert not is_due(_channel(state="paused"), settings, 5000.0)
    assert not is_due(_channel(chat_id=None), settings, 5000.0)


def test_silent_hours_wrap_midnight_in_the_channel_timezone() -> None:
    settings = ChannelSettings(chat="@n", silent_hours=("23:00", "07:00"), timezone="Asia/Baku")  # UTC+4
    at = lambda h, m=0: datetime(2026, 3, 1, h, m, tzinfo=UTC).timestamp()  # noqa: E731
    assert in_silent_hours(settings, at(19, 0), "UTC")  # 23:00 in Baku
    assert in_silent_hours(settings, at(2, 59), "UTC")  # 06:59
    assert not in_silent_hours(settings, at(3, 0), "UTC")  # 07:00
    assert not in_silent_hours(settings, at(18, 59), "UTC")  # 22:59
    assert not in_silent_hours(ChannelSettings(chat="@n"), at(0), "UTC")


def test_channel_add_options_are_parsed_and_errors_name_the_option() -> None:
    parsed = parse_add_command('@news review=yes min_interval=60 categories=a,b footer="<b>Hi</b> there"')
    assert (parsed.chat, parsed.review, parsed.min_interval, parsed.categories) == (
        "@news",
        True,
        60.0,
        ("a", "b"),
    )
    assert parsed.footer == "<b>Hi</b> there"
    for text, key in (
        ("@news review=perhaps", "review"),
        ("@news min_interval=soon", "min_interval"),
        ("@news colour=red", "channel.colour"),
        ("news", "channel.chat"),
        ("@news timezone=Mars/Base", "channel.timezone"),
    ):
        with pytest.raises(ConfigError) as caught:
            parse_add_command(text)
        assert caught.value.key == key, text


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[[channels]]\nreview = true\n", "channels[0].chat"),
        ("[[channels]]\nchat = 'news'\n", "channels[0].chat"),
        ("[[channels]]\nchat = '@news'\nsilent_hours = '23-07'\n", "channels[0].silent_hours"),
        ("[[channels]]\nchat = '@news'\nmin_interval = -1\n", "channels[0].min_interval"),
        ("[[channels]]\nchat = '@news'\nfooter = '<p>x</p>'\n", "channels[0].footer"),
        ("[[channels]]\nchat = '@news'\nkeywords = [1]\n", "channels[0].keywords[0]"),
        ("[[channels]]\nchat = '@news'\ncolour = 'red'\n", "channels[0].colour"),
        ("[[channels]]\nchat = '@news'\n[[channels]]\nchat = '@NEWS'\n", "channels[1].chat"),
        ("[bot]\nreview_chat = 'desk'\n", "bot.review_chat"),
    ],
)
def test_bad_channel_config_names_its_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert caught.value.key == key


def test_full_channel_config_is_read(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        "[bot]\nreview_chat = -100777\n[[channels]]\nchat = '@news'\nreview = true\ncategories = ['World']\n"
        "min_interval = 600\nsilent_hours = '23:00-07:00'\ntimezone = 'Europe/Berlin'\nhashtags = true\n"
        "footer = '<a href=\"https://t.me/news\">Subscribe</a>'\n",
        encoding="utf-8",
    )
    settings = load_settings(path, env={})
    assert settings.bot.review_chat == -100777
    (channel,) = settings.channels
    assert channel.silent_hours == ("23:00", "07:00") and channel.min_interval == 600 and channel.review


async def test_a_channel_taken_out_of_the_config_is_forgotten_and_the_others_keep_their_options(
    db: Database,
) -> None:
    both = [("@news", {"category": "world"}), ("@sport", {})]
    await stored_channels.sync_configured(db, channels=both, now=1.0)
    await stored_channels.sync_configured(db, channels=[("@news", {"category": "tech"})], now=2.0)
    kept = await stored_channels.list_channels(db)
    assert [(c.ref, c.options) for c in kept] == [("@news", {"category": "tech"})]
