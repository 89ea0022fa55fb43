"""Settings: loaded once from a TOML file and the environment, then frozen.

Nothing else in newsbot reads ``os.environ``. The environment wins over the file so an
operator can keep the token out of the file entirely.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import ConfigError
from bot.html_check import footer_problem
from bot.i18n import available_languages, is_available
from bot.news import presets
from bot.news.listing import SELECTOR_KEYS, is_valid_selector
from bot.storage.postgres import is_postgres_url

DEFAULT_API_URL = "https://api.telegram.org"
DEFAULT_DB = "data/newsbot.db"
SOURCE_KINDS = ("feed", "html")
_SOURCE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
DEFAULT_WEBHOOK_LISTEN = "127.0.0.1:8443"
# What Telegram accepts as a webhook's secret_token.
_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class Secret:
    """A string that never shows itself in ``repr``, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class BotSettings:
    token: Secret = field(default_factory=lambda: Secret(""))
    api_url: str = DEFAULT_API_URL
    # A SQLite file, or a postgresql:// URL (kept as text: a Path would fold its "//").
    db: Path | str = Path(DEFAULT_DB)
    admins: frozenset[int] = frozenset()
    timezone: str = "UTC"
    language: str = "en"
    log_level: str = "INFO"
    # "text" (one readable line per event) or "json" (one JSON object per line, for collectors).
    log_format: str = "text"
    # "HOST:PORT" to serve Prometheus metrics and /healthz on; empty: no endpoint.
    metrics: str = ""
    # Where held items go as cards for moderators (a group id); None: the owners' private chats.
    review_chat: int | None = None
    # Outgoing proxy for Bot API calls (http://, socks5://...); a Secret as it may hold a password.
    proxy: Secret = field(default_factory=lambda: Secret(""))

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def postgres(self) -> bool:
        """Whether the database is a PostgreSQL server (several workers may share it)."""
        return isinstance(self.db, str)

    @property
    def base_url(self) -> str:
        """The ``base_url`` PTB wants: the API root followed by ``/bot``."""
        return self.api_url.rstrip("/") + "/bot"


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    global_per_second: float = 30.0
    chat_per_second: float = 1.0
    group_per_minute: float = 20.0
    # Paid broadcast (BotFather switch, costs Stars above 30/s) lifts the overall limit.
    paid_broadcast: bool = False
    paid_per_second: float = 1000.0
    # Pace a little under the limits: requests reach Telegram with jitter, and a 429 is our bug.
    headroom: float = 0.99
    # Messages a private chat takes at once (Telegram tolerates short bursts): command replies.
    chat_burst: int = 5
    # An instant item older than this is news no more: it goes to the digest or is dropped.
    stale_after: float = 6 * 3600.0
    # Network errors and 5xx are retried with backoff for this long, then recorded as failed.
    give_up_after: float = 3600.0
    # Finished deliveries keep their row (and message id, for takedowns) this long, then become
    # per-article and per-hour totals.
    keep_delivered_hours: float = 48.0
    # Subscriptions one chat may have, all its topics together.
    max_subscriptions: int = 100


@dataclass(frozen=True, slots=True)
class CommandSettings:
    # Commands (and button presses) one sender may make a minute before being told to slow down.
    per_minute: float = 20.0
    # The same fault is reported to the admins once per window, then once more with a count.
    error_report_window: float = 600.0


@dataclass(frozen=True, slots=True)
class IngestSettings:
    fetch_timeout: float = 15.0
    max_bytes: int = 5_000_000
    fetch_articles: bool = True
    retention_days: float = 30.0
    max_backoff: float = 3600.0
    user_agent: str = "newsbot/0.1 (+https://github.com/newsbot/newsbot)"
    # Outgoing proxy for feeds and pages; destinations are still checked before it is asked.
    proxy: Secret = field(default_factory=lambda: Secret(""))

    def fetcher_options(self) -> dict[str, Any]:
        """The keyword arguments of ``Fetcher`` these settings give: the bot and the CLI fetch alike."""
        return {
            "user_agent": self.user_agent,
            "total_timeout": self.fetch_timeout,
            "max_bytes": self.max_bytes,
            "proxy": self.proxy.get() or None,
        }


@dataclass(frozen=True, slots=True)
class SourceSettings:
    id: str
    name: str
    url: str
    kind: str = "feed"
    interval: float = 120.0
    category: str | None = None
    breaking: bool = False
    timezone: str | None = None
    selectors: Mapping[str, str] = field(default_factory=dict)
    preset: str | None = None  # data/presets/NAME.toml: its selectors under these, its timezone


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    """A channel the bot posts to on its own ([[channels]])."""

    chat: str  # '@username' or the numeric id, as written
    review: bool = False
    categories: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    exclude_keywords: tuple[str, ...] = ()
    min_interval: float = 300.0
    silent_hours: tuple[str, str] | None = None  # ("HH:MM", "HH:MM") in ``timezone``
    timezone: str | None = None
    footer: str = ""  # HTML, checked at load
    hashtags: bool = False


ROLES = ("all", "updates", "ingest", "dispatch")


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """[workers]: what this process does when several share one PostgreSQL database."""

    # all: everything (the only role on SQLite); updates: commands and buttons; ingest: polling
    # the sources and the periodic jobs; dispatch: sending the outbox.
    role: str = "all"
    # A dead worker's work (shards, long polling, the periodic jobs) is taken over this long after
    # its last heartbeat; heartbeats come every third of it.
    lease_seconds: float = 15.0
    # The outbox is split into this many shards of chats, each sent by one dispatch worker at a time.
    shards: int = 16
    # A source being polled is claimed this long: a worker killed mid-poll leaves it to another then.
    poll_claim_seconds: float = 300.0
    # The share of Telegram's overall limit (per bot token) the dispatch workers leave for replies:
    # replies from updates workers elsewhere are paced per chat but not counted in the shared budget.
    reply_headroom: float = 0.1


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """Webhook mode ([webhook], or ``newsbot run --webhook``); an empty url means long polling."""

    url: str = ""
    listen_host: str = "127.0.0.1"
    listen_port: int = 8443
    # Empty: ``newsbot run`` makes a random one at each start.
    secret: Secret = field(default_factory=lambda: Secret(""))

    @property
    def url_path(self) -> str:
        """The path the local webhook server answers: the URL's own path."""
        return urlsplit(self.url).path or "/"


@dataclass(frozen=True, slots=True)
class Settings:
    bot: BotSettings = field(default_factory=BotSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    commands: CommandSettings = field(default_factory=CommandSettings)
    sources: tuple[SourceSettings, ...] = ()
    channels: tuple[ChannelSettings, ...] = ()
    webhook: WebhookSettings = field(default_factory=WebhookSettings)
    workers: WorkerSettings = field(default_factory=WorkerSettings)

    def require_token(self) -> None:
        """Stop start-up unless a token is configured."""
        if not self.bot.token:
            raise ConfigError("bot.token", "is required to run the bot (set NEWSBOT_TOKEN or [bot] token)")


# --- parsing -------------------------------------------------------------------------------


def _number(key: str, value: Any, *, minimum: float, integer: bool = False) -> float:
    # bool is an int in Python; a "true" interval is a typo, not a number.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(key, f"must be a number, not {type(value).__name__}")
    if integer and not isinstance(value, int):
        raise ConfigError(key, "must be a whole number")
    if value < minimum:
        raise ConfigError(key, f"must be at least {minimum:g}")
    return float(value)


def _string(key: str, value: Any, *, empty: bool = False) -> str:
    if not isinstance(value, str):
        raise ConfigError(key, f"must be a string, not {type(value).__name__}")
    if not empty and not value.strip():
        raise ConfigError(key, "must not be empty")
    return value


def _flag(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(key, "must be true or false")
    return value



def _database(key: str, value: object) -> Path | str:
    """A SQLite file's path, or a PostgreSQL server's URL (kept as text: a Path would mangle it)."""
    text = _string(key, value)
    if not is_postgres_url(text):
        return Path(text)
    parts = urlsplit(text)
    if not parts.hostname or not parts.path.strip("/"):
        raise ConfigError(key, "a PostgreSQL URL needs a host and a database: postgresql://user@host/name")
    return text


def _url(key: str, value: Any) -> str:
    text = _string(key, value)
    if not re.match(r"^https?://[^\s/]+", text):
        raise ConfigError(key, "must be an http:// or https:// address")
    return text


def is_loopback_host(host: str) -> bool:
    """True for localhost and loopback IP addresses (the emulator's only webhook targets)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def webhook_url(key: str, value: Any) -> str:
    """A webhook URL Telegram can call: https, or http only on a loopback host (the emulator)."""
    text = _string(key, value).strip()
    parts = urlsplit(text)
    try:
        host = parts.hostname or ""
        _ = parts.port  # raises on a port that is not a number
    except ValueError:
        raise ConfigError(key, "is not a valid URL (check the host and port)") from None
    # The URL is never echoed: operators often put a secret path (even the token) in it.
    if parts.scheme not in ("http", "https") or not host or any(c.isspace() for c in text):
        raise ConfigError(key, "must be an https:// address with a host, like https://bot.example.com/hook")
    if parts.query or parts.fragment:
        raise ConfigError(key, "must have no query or fragment (the path is all the server matches)")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise ConfigError(key, "must use https:// (plain http is allowed only for 127.0.0.1 or localhost)")
    return text


def webhook_listen(key: str, value: Any) -> tuple[str, int]:
    """HOST:PORT the local webhook server binds (an IPv6 host in brackets)."""
    text = _string(key, value).strip()
    found = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[^:\s\[\]]+):(\d{1,5})", text)
    if found is None or not 1 <= int(found.group(2)) <= 65535:
        raise ConfigError(key, f"must be HOST:PORT, like {DEFAULT_WEBHOOK_LISTEN}, not {text!r}")
    return found.group(1).strip("[]"), int(found.group(2))


def webhook_secret(key: str, value: Any) -> Secret:
    """A secret_token as Telegram takes it; the message never echoes it."""
    text = _string(key, value, empty=True).strip()
    if text and not _WEBHOOK_SECRET.fullmatch(text):
        raise ConfigError(key, "must be 1-256 characters, each a letter, digit, '_' or '-'")
    return Secret(text)


def _webhook(raw: dict[str, Any]) -> WebhookSettings:
    _check_keys("webhook", raw, set(_WEBHOOK_KEYS))
    merged = raw
    url = merged.get("url", "")
    host, port = webhook_listen("webhook.listen", merged.get("listen", DEFAULT_WEBHOOK_LISTEN))
    return WebhookSettings(
        url=webhook_url("webhook.url", url) if url != "" else "",
        listen_host=host,
        listen_port=port,
        secret=webhook_secret("webhook.secret", merged.get("secret", "")),
    )


def _timezone(key: str, value: Any) -> str:
    name = _string(key, value)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(key, f"unknown timezone {name!r}") from None
    return name


def _language(key: str, value: Any) -> str:
    code = _string(key, value).strip()
    if not is_available(code):
        choices = ", ".join(sorted(available_languages()))
        raise ConfigError(key, f"unknown language {code!r}; choose one of: {choices}")
    return code


def _selectors(where: str, value: Any) -> dict[str, str]:
    table = _table(where, value)
    for key, css in table.items():
        if key not in SELECTOR_KEYS:
            raise ConfigError(
                f"{where}.{key}", f"unknown selector key; known keys: {', '.join(sorted(SELECTOR_KEYS))}"
            )
        if not is_valid_selector(_string(f"{where}.{key}", css)):
            raise ConfigError(f"{where}.{key}", f"is not a CSS selector: {css!r}")
    return dict(table)


def _admins(key: str, value: Any) -> frozenset[int]:
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        try:
            return frozenset(int(p) for p in parts)
        except ValueError:
            raise ConfigError(key, "must be comma-separated Telegram user ids") from None
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ConfigError(key, "must be a list of Telegram user ids")
    return frozenset(value)


# What each client speaks: aiohttp (with aiohttp-socks) for Telegram, httpx (with socksio) for news.
BOT_PROXY_SCHEMES = ("http", "https", "socks4", "socks5")
INGEST_PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


def _proxy(key: str, value: Any, schemes: tuple[str, ...]) -> Secret:
    text = _string(key, value, empty=True).strip()
    if not text:
        return Secret("")
    # The address may carry a password: no message below quotes it.
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ConfigError(key, "is not a proxy address (scheme://[user:password@]host:port)") from None
    if parts.scheme not in schemes:
        raise ConfigError(key, f"must start with one of {', '.join(s + '://' for s in schemes)}")
    if not parts.hostname:
        raise ConfigError(key, "has no host (scheme://[user:password@]host:port)")
    if parts.scheme.startswith("socks") and parts.port is None:
        raise ConfigError(key, "needs the SOCKS proxy's port (scheme://host:port)")
    return Secret(text)


def _check_keys(section: str, table: Mapping[str, Any], allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{section}.{key}" if section else key, "unknown key")


def _table(key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(key, "must be a table")
    return value


def _bot(raw: dict[str, Any]) -> BotSettings:
    _check_keys("bot", raw, set(_field_types(BotSettings)))
    merged = raw
    token = _string("bot.token", merged.get("token", ""), empty=True).strip()
    if token and not re.fullmatch(r"\d+:[\w-]+", token):
        # Say what is wrong without echoing the token itself.
        raise ConfigError("bot.token", "does not look like a bot token (digits, a colon, then letters)")
    log_level = _string("bot.log_level", merged.get("log_level", "INFO")).upper()
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError("bot.log_level", "must be DEBUG, INFO, WARNING or ERROR")
    log_format = _string("bot.log_format", merged.get("log_format", "text")).lower()
    if log_format not in {"text", "json"}:
        raise ConfigError("bot.log_format", 'must be "text" or "json"')
    return BotSettings(
        token=Secret(token),
        api_url=_url("bot.api_url", merged.get("api_url", DEFAULT_API_URL)).rstrip("/"),
        db=_database("bot.db", merged.get("db", DEFAULT_DB)),
        admins=_admins("bot.admins", merged.get("admins", [])),
        timezone=_timezone("bot.timezone", merged.get("timezone", "UTC")),
        language=_language("bot.language", merged.get("language", "en")),
        log_level=log_level,
        log_format=log_format,
        metrics=metrics_address("bot.metrics", _string("bot.metrics", merged.get("metrics", ""), empty=True)),
        review_chat=_review_chat(merged.get("review_chat")),
        proxy=_proxy("bot.proxy", merged.get("proxy", ""), BOT_PROXY_SCHEMES),
    )


def workers_role(key: str, value: Any) -> str:
    """One of ROLES; ``newsbot run --role`` comes through here too."""
    role = _string(key, value).strip().lower()
    if role not in ROLES:
        raise ConfigError(key, f"must be one of {', '.join(ROLES)}")
    return role


def _workers(raw: dict[str, Any]) -> WorkerSettings:
    _check_keys("workers", raw, set(_field_types(WorkerSettings)))
    w = WorkerSettings()
    lease = _number("workers.lease_seconds", raw.get("lease_seconds", w.lease_seconds), minimum=1.0)
    shards = int(_number("workers.shards", raw.get("shards", w.shards), minimum=1, integer=True))
    if shards > 62:  # the shards a worker holds travel to the database as the bits of one BIGINT
        raise ConfigError("workers.shards", "must be at most 62")
    claim = _number(
        "workers.poll_claim_seconds", raw.get("poll_claim_seconds", w.poll_claim_seconds), minimum=10.0
    )
    headroom = _number("workers.reply_headroom", raw.get("reply_headroom", w.reply_headroom), minimum=0.0)
    if headroom > 0.5:  # more would starve broadcasts for the sake of a few replies
        raise ConfigError("workers.reply_headroom", "must be at most 0.5")
    return WorkerSettings(
        role=workers_role("workers.role", raw.get("role", w.role)),
        lease_seconds=lease,
        shards=shards,
        poll_claim_seconds=claim,
        reply_headroom=headroom,
    )


def metrics_address(key: str, value: str) -> str:
    """A "HOST:PORT" to listen on, checked (empty: off); the CLI's --metrics comes through here too."""
    value = value.strip()
    if not value:
        return ""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(key, 'must be "HOST:PORT", e.g. "127.0.0.1:9464"')
    return value


def _review_chat(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError("bot.review_chat", "must be a numeric chat id")
    return value


def _delivery(raw: dict[str, Any]) -> DeliverySettings:
    d = DeliverySettings()
    floats = {
        "global_per_second": 0.1,
        "chat_per_second": 0.01,
        "group_per_minute": 0.1,
        "paid_per_second": 1.0,
        "stale_after": 60.0,
        "give_up_after": 1.0,
        "keep_delivered_hours": 1.0,
    }
    _check_keys("delivery", raw, {*floats, "paid_broadcast", "headroom", "chat_burst", "max_subscriptions"})
    values: dict[str, Any] = {}
    for key, minimum in floats.items():
        if key in raw:
            values[key] = _number(f"delivery.{key}", raw[key], minimum=minimum)
    if "paid_per_second" in values and values["paid_per_second"] > 1000:
        raise ConfigError("delivery.paid_per_second", "Telegram allows at most 1000")
    if "headroom" in raw:
        values["headroom"] = _number("delivery.headroom", raw["headroom"], minimum=0.1)
        if values["headroom"] > 1:
            raise ConfigError("delivery.headroom", "must be at most 1")
    if "chat_burst" in raw:
        values["chat_burst"] = int(_number("delivery.chat_burst", raw["chat_burst"], minimum=1, integer=True))
        if values["chat_burst"] > 30:
            raise ConfigError("delivery.chat_burst", "must be at most 30")
    if "paid_broadcast" in raw:
        values["paid_broadcast"] = _flag("delivery.paid_broadcast", raw["paid_broadcast"])
    if "max_subscriptions" in raw:
        values["max_subscriptions"] = int(
            _number("delivery.max_subscriptions", raw["max_subscriptions"], minimum=1, integer=True)
        )
    return DeliverySettings(**{**{f: getattr(d, f) for f in d.__dataclass_fields__}, **values})


def _ingest(raw: dict[str, Any]) -> IngestSettings:
    _check_keys(
        "ingest",
        raw,
        {
            "fetch_timeout",
            "max_bytes",
            "fetch_articles",
            "retention_days",
            "max_backoff",
            "user_agent",
            "proxy",
        },
    )
    values: dict[str, Any] = {}
    if "fetch_timeout" in raw:
        values["fetch_timeout"] = _number("ingest.fetch_timeout", raw["fetch_timeout"], minimum=0.1)
    if "max_bytes" in raw:
        values["max_bytes"] = int(_number("ingest.max_bytes", raw["max_bytes"], minimum=1024, integer=True))
    if "fetch_articles" in raw:
        values["fetch_articles"] = _flag("ingest.fetch_articles", raw["fetch_articles"])
    if "retention_days" in raw:
        values["retention_days"] = _number("ingest.retention_days", raw["retention_days"], minimum=0.01)
    if "max_backoff" in raw:
        values["max_backoff"] = _number("ingest.max_backoff", raw["max_backoff"], minimum=1)
    if "user_agent" in raw:
        values["user_agent"] = _string("ingest.user_agent", raw["user_agent"])
    if "proxy" in raw:
        values["proxy"] = _proxy("ingest.proxy", raw["proxy"], INGEST_PROXY_SCHEMES)
    return IngestSettings(**values)


def _commands(raw: dict[str, Any]) -> CommandSettings:
    _check_keys("commands", raw, {"per_minute", "error_report_window"})
    values: dict[str, Any] = {}
    if "per_minute" in raw:
        values["per_minute"] = _number("commands.per_minute", raw["per_minute"], minimum=1)
    if "error_report_window" in raw:
        values["error_report_window"] = _number(
            "commands.error_report_window", raw["error_report_window"], minimum=1
        )
    return CommandSettings(**values)


def _source(index: int, raw: Any) -> SourceSettings:
    where = f"sources[{index}]"
    table = _table(where, raw)
    _check_keys(
        where,
        table,
        {"id", "name", "url", "kind", "interval", "category", "breaking", "timezone", "selectors", "preset"},
    )
    for required in ("id", "url"):
        if required not in table:
            raise ConfigError(f"{where}.{required}", "is required")
    source_id = _string(f"{where}.id", table["id"])
    if not _SOURCE_ID.match(source_id):
        raise ConfigError(f"{where}.id", "must be 1-32 lowercase letters, digits, '-' or '_'")
    preset = None
    if "preset" in table:
        try:
            preset = presets.load(_string(f"{where}.preset", table["preset"]))
        except presets.PresetError as exc:
            raise ConfigError(f"{where}.preset", str(exc)) from None
    # A preset describes a page to read, not a feed.
    kind = _string(f"{where}.kind", table.get("kind", "html" if preset else "feed"))
    if kind not in SOURCE_KINDS:
        raise ConfigError(f"{where}.kind", f"must be one of {', '.join(SOURCE_KINDS)}")
    selectors = _selectors(f"{where}.selectors", table.get("selectors", {}))
    if preset is not None:
        selectors = {**preset.listing, **selectors}
    category = table.get("category")
    tz = table.get("timezone", preset.timezone if preset else None)
    return SourceSettings(
        id=source_id,
        name=_string(f"{where}.name", table.get("name", source_id)),
        url=_url(f"{where}.url", table["url"]),
        kind=kind,
        interval=_number(f"{where}.interval", table.get("interval", 120), minimum=1),
        category=None if category is None else _string(f"{where}.category", category),
        breaking=_flag(f"{where}.breaking", table.get("breaking", False)),
        timezone=None if tz is None else _timezone(f"{where}.timezone", tz),
        selectors=selectors,
        preset=preset.name if preset else None,
    )


_CHANNEL_REF = re.compile(r"^(@[A-Za-z][A-Za-z0-9_]{3,31}|-?\d{1,20})$")
_HHMM = r"([01]\d|2[0-3]):[0-5]\d"
_SILENT = re.compile(rf"^({_HHMM})-({_HHMM})$")


def _strings(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ConfigError(key, "must be a list of strings")
    return tuple(_string(f"{key}[{i}]", v) for i, v in enumerate(value))


def parse_channel_options(where: str, table: Mapping[str, Any]) -> ChannelSettings:
    """One channel's options, from [[channels]] or /channel_add; errors name the key."""
    _check_keys(
        where,
        table,
        {
            "chat",
            "review",
            "categories",
            "sources",
            "keywords",
            "exclude_keywords",
            "min_interval",
            "silent_hours",
            "timezone",
            "footer",
            "hashtags",
        },
    )
    if "chat" not in table:
        raise ConfigError(f"{where}.chat", "is required")
    chat = _string(f"{where}.chat", table["chat"]).strip()
    if not _CHANNEL_REF.match(chat):
        raise ConfigError(f"{where}.chat", "must be @username or a numeric chat id")
    silent: tuple[str, str] | None = None
    if "silent_hours" in table:
        text = _string(f"{where}.silent_hours", table["silent_hours"]).strip()
        found = _SILENT.match(text)
        if found is None:
            raise ConfigError(f"{where}.silent_hours", 'must be "HH:MM-HH:MM"')
        start, end = text.split("-")
        if start == end:
            raise ConfigError(f"{where}.silent_hours", "must not start and end at the same time")
        silent = (start, end)
    footer = _string(f"{where}.footer", table.get("footer", ""), empty=True)
    if footer and (problem := footer_problem(footer)):
        raise ConfigError(f"{where}.footer", problem)
    tz = table.get("timezone")
    return ChannelSettings(
        chat=chat,
        review=_flag(f"{where}.review", table.get("review", False)),
        categories=_strings(f"{where}.categories", table.get("categories", [])),
        sources=_strings(f"{where}.sources", table.get("sources", [])),
        keywords=_strings(f"{where}.keywords", table.get("keywords", [])),
        exclude_keywords=_strings(f"{where}.exclude_keywords", table.get("exclude_keywords", [])),
        min_interval=_number(f"{where}.min_interval", table.get("min_interval", 300), minimum=0),
        silent_hours=silent,
        timezone=None if tz is None else _timezone(f"{where}.timezone", tz),
        footer=footer,
        hashtags=_flag(f"{where}.hashtags", table.get("hashtags", False)),
    )


def _channels(raw: Any) -> tuple[ChannelSettings, ...]:
    if not isinstance(raw, list):
        raise ConfigError("channels", "must be an array of tables ([[channels]])")
    channels = tuple(
        parse_channel_options(f"channels[{i}]", _table(f"channels[{i}]", c)) for i, c in enumerate(raw)
    )
    seen: set[str] = set()
    for i, channel in enumerate(channels):
        if channel.chat.lower() in seen:
            raise ConfigError(f"channels[{i}].chat", f"duplicate channel {channel.chat!r}")
        seen.add(channel.chat.lower())
    return channels


# --- the environment -----------------------------------------------------------------------

ENV_PREFIX = "NEWSBOT_"
# The short names that came before NEWSBOT_<SECTION>__<KEY>; the long form wins over them.
_SHORTHANDS = {
    "NEWSBOT_TOKEN": "token",
    "NEWSBOT_API_URL": "api_url",
    "NEWSBOT_DB": "db",
    "NEWSBOT_ADMINS": "admins",
}
_ENV_SECTIONS: dict[str, type] = {
    "bot": BotSettings,
    "delivery": DeliverySettings,
    "ingest": IngestSettings,
    "commands": CommandSettings,
    "workers": WorkerSettings,
}
# [webhook] takes "HOST:PORT" as one key where WebhookSettings keeps two fields, so its keys are listed.
_WEBHOOK_KEYS: dict[str, Any] = {"url": str, "listen": str, "secret": Secret}
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def env_variable(section: str, key: str) -> str:
    """The environment variable that sets ``section.key``."""
    return f"{ENV_PREFIX}{section.upper()}__{key.upper()}"


def _field_types(cls: type) -> dict[str, Any]:
    """A settings dataclass's fields and their resolved types."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _env_scalar(var: str, kind: Any, text: str) -> Any:
    """Turn one environment string into what the TOML file would hold for a field of ``kind``."""
    if kind is bool:
        word = text.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise ConfigError(var, "must be true or false (also 1/0, yes/no, on/off)")
    if kind is int:
        try:
            return int(text.strip())
        except ValueError:
            raise ConfigError(var, "must be a whole number") from None
    if kind is float:
        try:
            number = float(text.strip())
        except ValueError:
            raise ConfigError(var, "must be a number") from None
        if not math.isfinite(number):
            raise ConfigError(var, "must be a finite number")
        return number
    if kind in (str, Secret, Path):
        return text
    raise ConfigError(var, "cannot be set from the environment; use the config file")


def _env_value(var: str, kind: Any, text: str) -> Any:
    """Parse an environment string by the field's type: scalars, optionals and lists."""
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (types.UnionType, typing.Union) and set(args) <= {str, Path}:
        return text  # bot.db: a path or a URL, told apart when the section is parsed
    if origin in (types.UnionType, typing.Union) and type(None) in args:
        if text.strip().lower() in {"", "none"}:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _env_value(var, inner, text)
    if origin in (frozenset, tuple, list, set):
        item = args[0] if args else str
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            item = args[0]
        elif origin is tuple:
            raise ConfigError(var, "cannot be set from the environment; use the config file")
        return [_env_scalar(var, item, part.strip()) for part in text.split(",") if part.strip()]
    return _env_scalar(var, kind, text)


def environment_overrides(env: Mapping[str, str]) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Settings the environment gives, by section, and the variable behind each ``section.key``."""
    values: dict[str, dict[str, Any]] = {}
    origins: dict[str, str] = {}
    for var, key in _SHORTHANDS.items():
        if env.get(var):
            values.setdefault("bot", {})[key] = env[var]
            origins[f"bot.{key}"] = var
    for var in sorted(env):
        if not var.startswith(ENV_PREFIX) or "__" not in var:
            continue
        section, _, key = var[len(ENV_PREFIX) :].lower().partition("__")
        cls = _ENV_SECTIONS.get(section)
        if cls is None and section != "webhook":
            known = ", ".join(env_variable(s, "KEY") for s in (*_ENV_SECTIONS, "webhook"))
            raise ConfigError(var, f"unknown section {section!r}; settings come as {known}")
        fields = _field_types(cls) if cls is not None else _WEBHOOK_KEYS
        if key not in fields:
            raise ConfigError(var, f"unknown key; [{section}] has {', '.join(sorted(fields))}")
        values.setdefault(section, {})[key] = _env_value(var, fields[key], env[var])
        origins[f"{section}.{key}"] = var
    return values, origins


def parse_settings(raw: Mapping[str, Any], env: Mapping[str, str]) -> Settings:
    """Build settings from an already-decoded TOML document and an environment."""
    sections_allowed = {"bot", "delivery", "ingest", "commands", "sources", "channels", "webhook", "workers"}
    _check_keys("", raw, sections_allowed)
    sources_raw = raw.get("sources", [])
    if not isinstance(sources_raw, list):
        raise ConfigError("sources", "must be an array of tables ([[sources]])")
    sources = tuple(_source(i, s) for i, s in enumerate(sources_raw))
    seen: set[str] = set()
    for i, source in enumerate(sources):
        if source.id in seen:
            raise ConfigError(f"sources[{i}].id", f"duplicate id {source.id!r}")
        seen.add(source.id)
    overrides, origins = environment_overrides(env)
    # The environment wins over the file.
    sections = {
        name: {**_table(name, raw.get(name, {})), **overrides.get(name, {})}
        for name in (*_ENV_SECTIONS, "webhook")
    }
    try:
        return Settings(
            bot=_bot(sections["bot"]),
            delivery=_delivery(sections["delivery"]),
            ingest=_ingest(sections["ingest"]),
            commands=_commands(sections["commands"]),
            sources=sources,
            channels=_channels(raw.get("channels", [])),
            webhook=_webhook(sections["webhook"]),
            workers=_workers(sections["workers"]),
        )
    except ConfigError as exc:
        # A bad value from the environment is reported under the variable the operator set.
        if exc.key in origins:
            raise ConfigError(origins[exc.key], exc.problem) from None
        raise


def load_settings(path: Path | str | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read the TOML file (``path`` or ``NEWSBOT_CONFIG``) and the environment."""
    env = os.environ if env is None else env
    if path is None and env.get("NEWSBOT_CONFIG"):
        path = env["NEWSBOT_CONFIG"]
    raw: dict[str, Any] = {}
    if path is not None:
        file = Path(path)
        try:
            raw = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError("--config", f"no such file: {file}") from None
        except IsADirectoryError:
            raise ConfigError("--config", f"{file} is a directory, not a TOML file") from None
        except UnicodeDecodeError:
            raise ConfigError("--config", f"{file} is not UTF-8 text") from None
        except OSError as exc:
            raise ConfigError("--config", f"cannot read {file}: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("--config", f"{file} is not valid TOML: {exc}") from None
    return parse_settings(raw, env)
