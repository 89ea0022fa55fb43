"""Find the feeds a web page advertises with <link rel="alternate">."""

from __future__ import annotations

import logging

from selectolax.lexbor import LexborHTMLParser

from bot.news.listing import decode_html
from bot.urls import normalize_url

logger = logging.getLogger(__name__)

# Lower rank first: RSS and Atom are what most publishers keep current; JSON Feed is rarer.
_FEED_TYPES = {
    "application/rss+xml": 0,
    "application/atom+xml": 0,
    "application/rdf+xml": 1,
    "application/xml": 1,
    "text/xml": 1,
    "application/feed+json": 2,
    "application/json": 3,
}
_MAX_FEEDS = 20


def discover_feeds(content: bytes | str, *, url: str) -> list[str]:
    """Return the absolute, de-duplicated feed URLs a page links to, RSS/Atom first."""
    try:
        html = decode_html(content) if isinstance(content, bytes) else content
        tree = LexborHTMLParser(html[:2_000_000])
        found: list[tuple[int, int, str]] = []
        seen: set[str] = set()
        base_node = tree.css_first("base[href]")
        base = normalize_url(base_node.attributes.get("href") or "", base=url) if base_node else url
        for position, node in enumerate(tree.css("link[href]")):
            rel = (node.attributes.get("rel") or "").lower().split()
            kind = (node.attributes.get("type") or "").split(";")[0].strip().lower()
            if "alternate" not in rel or kind not in _FEED_TYPES:
                continue
            feed_url = normalize_url(node.attributes.get("href") or "", base=base)
            if not feed_url.startswith(("http://", "https://")) or feed_url in seen:
                continue
            seen.add(feed_url)
            found.append((_FEED_TYPES[kind], position, feed_url))
        return [feed_url for _rank, _position, feed_url in sorted(found)][:_MAX_FEEDS]
    except Exception:  # discovery is a convenience; a broken page just has no feeds
        logger.warning("Feed discovery failed on %s", url, exc_info=True)
        return []
