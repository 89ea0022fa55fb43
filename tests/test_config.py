"""Settings from TOML and the environment: what operators rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings, parse_settings

TOKEN = "123456:AAAA-bbbb_cccc"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "newsbot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_full_file_is_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
[bot]
token = "{TOKEN}"
api_url = "http://127.0.0.1:8081/"
db = "x.db"
admins = [111, 222]
timezone = "Asia/Baku"

[delivery]
global_per_second = 25
chat_per_second = 1
group_per_minute = 20

[[sources]]
id = "caliber"
name = "Caliber.Az"
url = "https://example.org/rss"
kind = "feed"
interval = 1
category = "News"
""",
    )
    settings = load_settings(path, env={})
    assert settings.bot.token.get() == TOKEN
    assert settings.bot.api_url == "http://127.0.0.1:8081"
    assert settings.bot.base_url == "http://127.0.0.1:8081/bot"
    assert settings.bot.admins == {111, 222}
    assert settings.delivery.global_per_second == 25
    assert settings.sources[0].interval == 1
    assert settings.sources[0].category == "News"


def test_environment_wins_over_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[bot]\ntoken = "1:file"\ndb = "file.db"\nadmins = [1]\n')
    settings = load_settings(
        path,
        env={
            "NEWSBOT_TOKEN": TOKEN,
            "NEWSBOT_DB": "env.db",
            "NEWSBOT_ADMINS": "7, 8",
            "NEWSBOT_API_URL": "http://h",
        },
    )
    assert settings.bot.token.get() == TOKEN
    assert str(settings.bot.db) == "env.db"
    assert settings.bot.admins == {7, 8}
    assert settings.bot.api_url == "http://h"


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, '[bot]\ntimezone = "Europe/Istanbul"\n')
    assert load_settings(None, env={"NEWSBOT_CONFIG": str(path)}).bot.timezone == "Europe/Istanbul"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[bot]\ntokn = 'x'\n", "bot.tokn"),
        ("[delivery]\nglobal_per_second = 'fast'\n", "delivery.global_per_second"),
        ("[delivery]\nchat_per_second = -1\n", "delivery.chat_per_second"),
        ("[delivery]\nchat_burst = 0\n", "delivery.chat_burst"),
        ("[delivery]\nchat_burst = 2.5\n", "delivery.chat_burst"),
        ("[bot]\ntimezone = 'Mars/Olympus'\n", "bot.timezone"),
        ("[bot]\nadmins = ['me']\n", "bot.admins"),
        ("[[sources]]\nid = 'a'\nurl = 'ftp://x'\n", "sources[0].url"),
        ("[[sources]]\nid = 'a'\nurl = 'http://x'\ninterval = 0.5\n", "sources[0].interval"),
        ("[[sources]]\nid = 'a'\nurl = 'http://x'\nkind = 'pdf'\n", "sources[0].kind"),
        (
            "[[sources]]\nid = 'a'\nurl = 'http://x'\n[[sources]]\nid = 'a'\nurl = 'http://y'\n",
            "sources[1].id",
        ),
        ("[[sources]]\nurl = 'http://x'\n", "sources[0].id"),
        ("[weather]\nx = 1\n", "weather"),
        ("[commands]\nper_minute = 0\n", "commands.per_minute"),
        ("[commands]\nper_minut = 5\n", "commands.per_minut"),
        ("[commands]\nerror_report_window = 'long'\n", "commands.error_report_window"),
    ],
)
def test_bad_values_name_their_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), env={})
    assert caught.value.key == key


def test_missing_token_is_refused_only_when_running() -> None:
    settings = parse_settings({}, env={})
    with pytest.raises(ConfigError) as caught:
        settings.require_token()
    assert caught.value.key == "bot.token"


def test_token_never_shows_in_repr_or_errors() -> None:
    settings = parse_settings({}, env={"NEWSBOT_TOKEN": TOKEN})
    assert TOKEN not in repr(settings)
    assert TOKEN not in str(settings.bot.token)
    with pytest.raises(ConfigError) as caught:
        parse_settings({}, env={"NEWSBOT_TOKEN": "not a token " + TOKEN})
    assert TOKEN not in str(caught.value)


def test_subscription_cap_and_compaction_window_are_configurable(tmp_path: Path) -> None:
    defaults = load_settings(write(tmp_path, "[delivery]\n"), env={})
    assert (defaults.delivery.max_subscriptions, defaults.delivery.keep_delivered_hours) == (100, 48)
    text = "[delivery]\nmax_subscriptions = 20\nkeep_delivered_hours = 72\n"
    settings = load_settings(write(tmp_path, text), env={})
    assert (settings.delivery.max_subscriptions, settings.delivery.keep_delivered_hours) == (20, 72)
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, "[delivery]\nmax_subscriptions = 0\n"), env={})
    assert caught.value.key == "delivery.max_subscriptions"


def test_typo_in_selectors_is_refused_naming_the_key() -> None:
    source = {"id": "site", "url": "https://example.org/", "kind": "html", "selectors": {"titel": "h3"}}
    with pytest.raises(ConfigError) as caught:
        parse_settings({"sources": [source]}, env={})
    assert caught.value.key == "sources[0].selectors.titel"
    assert "unknown selector key" in caught.value.problem
    assert "title" in caught.value.problem  # the valid keys are listed


def test_every_selector_key_the_listing_declares_is_accepted() -> None:
    from bot.news.listing import SELECTOR_KEYS

    selectors = dict.fromkeys(SELECTOR_KEYS, "li")
    source = {"id": "site", "url": "https://example.org/", "kind": "html", "selectors": selectors}
    settings = parse_settings({"sources": [source]}, env={})
    assert dict(settings.sources[0].selectors) == selectors


def test_unparsable_css_selector_is_refused() -> None:
    source = {"id": "site", "url": "https://example.org/", "kind": "html", "selectors": {"item": "div >"}}
    with pytest.raises(ConfigError) as caught:
        parse_settings({"sources": [source]}, env={})
    assert caught.value.key == "sources[0].selectors.item"


def test_unknown_language_is_refused_with_the_choices() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"bot": {"language": "klingon"}}, env={})
    assert caught.value.key == "bot.language"
    assert "'klingon'" in caught.value.problem
    assert "choose one of: az, en, ru, tr" in caught.value.problem
    assert parse_settings({"bot": {"language": "en"}}, env={}).bot.language == "en"


def test_config_path_that_is_a_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, env={})
    assert caught.value.key == "--config"
    assert "is a directory" in caught.value.problem
