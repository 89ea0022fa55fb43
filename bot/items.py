"""Plain values that flow from the web into storage; nothing here touches the network."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One HTTP answer, after redirects, with the body already size-checked."""

    url: str
    status: int
    content: bytes
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One entry of a feed or of an HTML listing, as the source presents it."""

    guid: str
    url: str
    title: str
    lead: str = ""
    category: str | None = None
    kicker: str | None = None
    author: str | None = None
    image_url: str | None = None
    published: datetime | None = None  # timezone-aware UTC, None when the source gave none
    tags: tuple[str, ...] = field(default_factory=tuple)
    # The publisher gave the guid: two items with different ones are different stories, whatever
    # their links say. False when the guid was made from the link or the text.
    publisher_guid: bool = False
    # False when the item had no link and url is the feed's site: such a url says nothing of identity.
    own_link: bool = True


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A whole parsed feed: its items, or the reason it could not be read."""

    title: str | None
    items: tuple[FeedItem, ...]
    error: str | None = None
    # What identifies each item that could not be read and was left out (its id, link or title),
    # so that storage counts an unreadable item once, not at every poll.
    skipped: tuple[str, ...] = ()
