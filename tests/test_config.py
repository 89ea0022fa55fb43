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


def test_webhook_section_and_environment(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[webhook]\nurl = "https://bot.example.com/tg/hook"\nlisten = "0.0.0.0:9000"\nsecret = "from-file"\n',
    )
    hook = load_settings(path, env={}).webhook
    assert (hook.url, hook.url_path, hook.listen_host, hook.listen_port) == (
        "https://bot.example.com/tg/hook",
        "/tg/hook",
        "0.0.0.0",
        9000,
    )
    assert hook.secret.get() == "from-file"
    assert "from-file" not in repr(hook)
    env = {"NEWSBOT_WEBHOOK__SECRET": "from-env", "NEWSBOT_WEBHOOK__LISTEN": "[::1]:8443"}
    hook = load_settings(path, env=env).webhook
    assert (hook.secret.get(), hook.listen_host, hook.listen_port) == ("from-env", "::1", 8443)


def test_no_webhook_means_polling() -> None:
    assert parse_settings({}, env={}).webhook.url == ""


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"url": "http://bot.example.com/hook"}, "webhook.url"),
        ({"url": "https://"}, "webhook.url"),
        ({"url": "https://bot.example.com/hook", "listen": "localhost"}, "webhook.listen"),
        ({"url": "https://bot.example.com/hook", "listen": "127.0.0.1:99999"}, "webhook.listen"),
        ({"url": "https://bot.example.com/hook", "secret": "has spaces"}, "webhook.secret"),
        ({"url": "https://bot.example.com/hook", "port": 1}, "webhook.port"),
    ],
)
def test_bad_webhook_settings_name_their_key(table: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"webhook": table}, env={})
    assert caught.value.key == key
    assert "has spaces" not in str(caught.value)


def test_plain_http_webhook_is_allowed_on_loopback_only() -> None:
    for url in ("http://127.0.0.1:8443/hook", "http://localhost/hook", "http://[::1]:8443/hook"):
        assert parse_settings({"webhook": {"url": url}}, env={}).webhook.url == url


def test_every_setting_comes_from_the_environment_by_its_type() -> None:
    settings = parse_settings(
        {"delivery": {"global_per_second": 25}},
        env={
            "NEWSBOT_DELIVERY__GLOBAL_PER_SECOND": "20",
            "NEWSBOT_DELIVERY__CHAT_BURST": "3",
            "NEWSBOT_DELIVERY__PAID_BROADCAST": "yes",
            "NEWSBOT_BOT__ADMINS": "1,2",
            "NEWSBOT_BOT__DB": "/data/newsbot.db",
            "NEWSBOT_BOT__REVIEW_CHAT": "-100123",
            "NEWSBOT_INGEST__FETCH_ARTICLES": "false",
            "NEWSBOT_COMMANDS__PER_MINUTE": "7.5",
        },
    )
    assert settings.delivery.global_per_second == 20  # the environment wins over the file
    assert settings.delivery.chat_burst == 3
    assert settings.delivery.paid_broadcast is True
    assert settings.bot.admins == {1, 2}
    assert settings.bot.db == Path("/data/newsbot.db")
    assert settings.bot.review_chat == -100123
    assert settings.ingest.fetch_articles is False
    assert settings.commands.per_minute == 7.5


def test_an_empty_optional_from_the_environment_clears_the_file_value() -> None:
    settings = parse_settings({"bot": {"review_chat": -100123}}, env={"NEWSBOT_BOT__REVIEW_CHAT": ""})
    assert settings.bot.review_chat is None


def test_long_form_wins_over_the_old_short_variable() -> None:
    settings = parse_settings({}, env={"NEWSBOT_DB": "short.db", "NEWSBOT_BOT__DB": "long.db"})
    assert settings.bot.db == Path("long.db")


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("NEWSBOT_DELIVERY__GLOBAL_PER_SECOND", "fast"),
        ("NEWSBOT_DELIVERY__GLOBAL_PER_SECOND", "nan"),
        ("NEWSBOT_DELIVERY__CHAT_BURST", "2.5"),
        ("NEWSBOT_DELIVERY__PAID_BROADCAST", "maybe"),
        ("NEWSBOT_BOT__ADMINS", "1,two"),
        # Parsed fine, then out of range: still reported under the variable.
        ("NEWSBOT_DELIVERY__HEADROOM", "2"),
        ("NEWSBOT_BOT__TIMEZONE", "Mars/Olympus"),
        # Unknown keys are refused as in the file.
        ("NEWSBOT_DELIVERY__GLOBAL_PER_SECONDS", "20"),
        ("NEWSBOT_WEATHER__CITY", "Baku"),
        ("NEWSBOT_SOURCES__URL", "http://x"),
    ],
)
def test_bad_environment_values_name_the_variable(var: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({}, env={var: value})
    assert caught.value.key == var


def test_other_newsbot_variables_are_left_alone(tmp_path: Path) -> None:
    # Single-underscore names (the entrypoint's NEWSBOT_BIN, NEWSBOT_CONFIG) are not settings.
    path = write(tmp_path, "[bot]\n")
    settings = load_settings(None, env={"NEWSBOT_CONFIG": str(path), "NEWSBOT_BIN": "/usr/bin/true"})
    assert settings.bot.timezone == "UTC"


@pytest.mark.parametrize("section", ["bot", "ingest"])
def test_proxy_setting_hides_its_password(section: str) -> None:
    url = "socks5://reader:hunter2@proxy.internal:1080"
    settings = parse_settings({section: {"proxy": url}}, env={})
    proxy = getattr(settings, section).proxy
    assert proxy.get() == url
    assert "hunter2" not in repr(settings)
    via_env = parse_settings({}, env={f"NEWSBOT_{section.upper()}__PROXY": "http://proxy.internal:3128"})
    assert getattr(via_env, section).proxy.get() == "http://proxy.internal:3128"


@pytest.mark.parametrize(
    "url", ["ftp://u:hunter2@proxy:21", "socks5://u:hunter2@:1080", "http://u:hunter2@proxy:notaport"]
)
def test_bad_proxy_is_refused_without_quoting_its_password(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"ingest": {"proxy": url}}, env={})
    assert caught.value.key == "ingest.proxy"
    assert "hunter2" not in str(caught.value)


def test_a_postgresql_database_is_kept_as_its_url_and_a_file_as_a_path() -> None:
    url = "postgresql://newsbot:secret@db.internal:5432/newsbot"
    assert load_settings(env={"NEWSBOT_DB": url}).bot.db == url
    assert load_settings(env={"NEWSBOT_BOT__DB": "data/x.db"}).bot.db == Path("data/x.db")


def test_a_postgresql_url_without_a_database_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env={"NEWSBOT_DB": "postgresql://db.internal"})
    assert caught.value.key == "NEWSBOT_DB"  # named as the operator set it
