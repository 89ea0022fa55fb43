"""The real feeds in ../shared/corpus give the same items however feedparser is asked to run.

parse_feed skips two things feedparser can do, to save poll CPU: its HTML sanitizer and markup
rewriting, and (for most feeds) resolving addresses against the feed's own. Readers must never
see the difference: the same stories under the same guids (a changed guid is a story pushed
twice), the same links, and text as clean.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import feedparser
import pytest

from bot.items import ParsedFeed
from bot.news import feeds

CORPUS_FEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "feeds"
SUFFIXES = {".xml", ".rss", ".atom", ".rdf"}
_TAG = re.compile(r"</?[a-z][a-z0-9]*[\s/>]", re.I)

pytestmark = pytest.mark.skipif(not CORPUS_FEEDS.is_dir(), reason="shared corpus not present")


def _corpus() -> list[Path]:
    return sorted(p for p in CORPUS_FEEDS.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())


def _parse_all() -> dict[Path, ParsedFeed]:
    return {
        path: feeds.parse_feed(path.read_bytes(), url=f"https://corpus.example/feeds/{path.name}")
        for path in _corpus()
    }


def test_feeds_parsed_without_a_base_keep_every_guid_link_and_text(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _parse_all()
    monkeypatch.setattr(feeds, "_parse_unbased", lambda document, url: None)
    based = _parse_all()
    assert len(fast) > 200
    for path, feed in fast.items():
        assert feed == based[path], path


def test_feedparsers_sanitizer_would_leave_no_cleaner_text(monkeypatch: pytest.MonkeyPatch) -> None:
    ours = _parse_all()

    def sanitizing(document: bytes, base: str | None) -> Any:
        headers = {"content-type": "application/xml; charset=utf-8"}
        if base is not None:
            headers["content-location"] = base
        return feedparser.parse(io.BytesIO(document), response_headers=headers)  # both on by default

    monkeypatch.setattr(feeds, "_feedparser", sanitizing)
    monkeypatch.setattr(feeds, "_parse_unbased", lambda document, url: None)
    sanitized = _parse_all()
    for path, feed in ours.items():
        assert len(feed.items) == len(sanitized[path].items), path
        for item, other in zip(feed.items, sanitized[path].items, strict=True):
            if (item.title, item.lead) == (other.title, other.lead):
                # Only an item without an id or link is known by a hash of its text.
                assert (item.guid, item.url) == (other.guid, other.url), path
                continue
            for text in (item.title, item.lead):
                # Where the sanitizer would have changed a text, ours holds no markup either.
                assert not _TAG.search(text), (path, text)
