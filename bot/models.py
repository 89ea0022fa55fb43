"""Frozen records that storage hands out; handlers, jobs and renderers read these, never raw rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

ChatType = Literal["private", "group", "supergroup", "channel"]
ChatStatus = Literal["active", "blocked", "left", "migrated"]
SubscriptionKind = Literal["all", "category", "source", "keyword"]


def from_epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)


@dataclass(frozen=True, slots=True)
class PushOptions:
    """How a chat's pushed items arrive; the defaults are what every chat got before /settings."""

    silent: bool = False  # disable_notification
    preview: bool = True  # Telegram's link preview where the article has a picture
    photo: bool = False  # the lead image with the item as its caption
    short: bool = False  # title, source and time only, no lead


PUSH_OPTIONS = ("silent", "preview", "photo", "short")


@dataclass(frozen=True, slots=True)
class Chat:
    id: int
    type: ChatType
    title: str | None
    username: str | None
    status: ChatStatus
    language: str | None
    timezone: str | None
    digest_time: str | None
    quiet_start: str | None
    quiet_end: str | None
    last_digest_at: float | None
    options: PushOptions = field(default_factory=PushOptions)

    @property
    def is_private(self) -> bool:
        return self.type == "private"


@dataclass(frozen=True, slots=True)
class Source:
    id: str
    name: str
    url: str
    kind: str
    interval: float
    category: str | None
    breaking: bool
    origin: str
    options: dict[str, Any]
    paused: bool
    seeded: bool
    etag: str | None
    last_modified: str | None
    last_polled_at: float | None
    last_success_at: float | None
    last_error: str | None
    consecutive_failures: int
    next_poll_at: float | None
    items_total: int
    body_hash: str | None = None
    items_merged: int = 0  # items found to be a story already stored, and merged into it
    items_skipped: int = 0  # items that could not be read or stored
    retired: bool = False  # taken out of the config file: paused, kept with its articles


@dataclass(frozen=True, slots=True)
class Article:
    id: int
    source_id: str
    guid: str
    url: str
    title: str
    lead: str
    published_at: datetime
    category: str | None = None
    kicker: str | None = None
    author: str | None = None
    image_url: str | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)
    body: str | None = None
    breaking: bool = False
    source_name: str | None = None
    source_category: str | None = None  # shown when the article names no category of its own


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    chat_id: int
    thread_id: int
    kind: SubscriptionKind
    value: str
    label: str
    exclude: bool

    def describe(self) -> str:
        """A short human label such as 'everything', 'category: Sport', 'not: keyword: war'."""
        text = "everything" if self.kind == "all" else f"{self.kind}: {self.label or self.value}"
        return f"not {text}" if self.exclude else text


@dataclass(frozen=True, slots=True)
class OutboxStats:
    queued: int
    sending: int
    sent: int
    failed: int
    blocked: int
    stale: int
    digest: int
    chats_active: int
    chats_blocked: int
    fanning_out: int = 0  # stories whose audience is still being queued, a slice at a time


@dataclass(slots=True)
class DispatchCounters:
    """What the dispatcher did since start, for /stats (kept here so rendering needs no delivery import)."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    blocked: int = 0
    flood_waits: int = 0
    migrated: int = 0
    stale: int = 0
    # Outcomes dropped because their row had meanwhile been taken over by another worker.
    late_outcomes: int = 0
