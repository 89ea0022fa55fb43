"""Extract an article page: main text, metadata and the page's own "Read also" links; never raises."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import trafilatura
from selectolax.lexbor import LexborHTMLParser, LexborNode

from bot.news.feeds import MAX_SHORT, MAX_TITLE, MAX_URL, clean_text
from bot.news.listing import decode_html
from bot.news.urls import normalize_url

logger = logging.getLogger(__name__)

MAX_TEXT = 100_000
MAX_DESCRIPTION = 1_000
MAX_PAGE_CHARS = 5_000_000
MAX_READ_ALSO = 20
MAX_TAGS = 20

# Class or id fragments of "related stories" blocks.
_RELATED_CLASS = re.compile(
    r"read[-_ ]?also|also[-_ ]?read|related|see[-_ ]?also|similar[-_ ]?(news|posts|articles)|more[-_ ]?news"
    r"|more[-_ ]?stories|recommended",
    re.I,
)
# Headings that announce such a block, in the languages our publishers write in.
_RELATED_HEADING = re.compile(
    r"^(read also|also read|read next|related( news| articles| stories| posts)?|see also"
    r"|more on this( topic)?|more stories|you may also like"
    r"|daha çox|həmçinin oxuyun|həmçinin oxu|oxşar xəbərlər|mövzu ilə bağlı"
    r"|читайте также|также читайте|читайте еще|читайте ещё|по теме|смотрите также|похожие новости"
    r"|ilgili haberler|bunları da okuyun|benzer haberler|lire aussi|à lire aussi"
    r"|mehr zum thema|lesen sie auch"
    r"|leer también|leia também|leggi anche)\b",
    re.I,
)
_HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6", "strong", "b", "span", "div", "p", "header"})
_CONTAINER_STOP = frozenset({"html", "body", "main"})
_KICKER_SELECTOR = (
    "[class*=kicker], [class*=overline], [class*=supertitle], [class*=eyebrow], [class*=overtitle]"
)
_LINK_TITLE_SELECTOR = "[class*=title], h2, h3, h4, strong"


@dataclass(frozen=True)
class ArticlePage:
    """What an article page says about itself."""

    url: str
    canonical_url: str | None
    title: str | None
    text: str
    description: str | None
    kicker: str | None
    author: str | None
    published: datetime | None
    category: str | None
    tags: tuple[str, ...]
    image_url: str | None
    read_also: tuple[tuple[str, str], ...]


def _http(value: str | None, base: str) -> str | None:
    if not value or not value.strip():
        return None
    url = normalize_url(value, base=base)
    return url if url.startswith(("http://", "https://")) and len(url) <= MAX_URL else None


def _iso_datetime(value: object) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _meta(tree: LexborHTMLParser) -> dict[str, list[str]]:
    """Collect <meta property|name|itemprop=... content=...> values, keys lower-cased."""
    found: dict[str, list[str]] = {}
    for node in tree.css("meta[content]"):
        attrs = node.attributes
        key = attrs.get("property") or attrs.get("name") or attrs.get("itemprop")
        content = attrs.get("content")
        if key and content and content.strip():
            found.setdefault(key.strip().lower(), []).append(content.strip())
    return found


def _first_meta(meta: dict[str, list[str]], *keys: str) -> str | None:
    for key in keys:
        values = meta.get(key)
        if values:
            return values[0]
    return None


def _walk_json_ld(data: Any) -> Iterator[dict[str, Any]]:
    if isinstance(data, list):
        for entry in data[:50]:
            yield from _walk_json_ld(entry)
    elif isinstance(data, dict):
        yield data
        if "@graph" in data:
            yield from _walk_json_ld(data["@graph"])


def _json_ld_published(tree: LexborHTMLParser) -> datetime | None:
    for script in tree.css('script[type="application/ld+json"]'):
        try:
            data = json.loads(script.text())
        except (ValueError, RecursionError):
            continue
        for node in _walk_json_ld(data):
            published = _iso_datetime(node.get("datePublished"))
            if published:
                return published
    return None


def _link_title(anchor: LexborNode) -> str:
    titled = anchor.css_first(_LINK_TITLE_SELECTOR)
    if titled is not None:
        text = clean_text(titled.text(separator=" "), limit=MAX_TITLE)
        if text:
            return text
    text = clean_text(anchor.text(separator=" "), limit=MAX_TITLE)
    return text or clean_text(anchor.attributes.get("title") or "", limit=MAX_TITLE)


def _related_containers(tree: LexborHTMLParser) -> Iterator[LexborNode]:
    """Yield blocks that hold the page's own related links, by class/id or by their heading."""
    for node in tree.css("[class], [id]"):
        if node.tag in _CONTAINER_STOP:
            continue
        marker = f"{node.attributes.get('class') or ''} {node.attributes.get('id') or ''}"
        if _RELATED_CLASS.search(marker):
            yield node
    for node in tree.css(", ".join(sorted(_HEADING_TAGS))):
        text = clean_text(node.text(deep=True, separator=" "))
        if not text or len(text) > 40 or not _RELATED_HEADING.match(text):
            continue
        # The heading's block is the nearest ancestor that also holds links.
        parent = node.parent
        for _level in range(3):
            if parent is None or parent.tag in _CONTAINER_STOP:
                break
            if parent.css_first("a[href]") is not None:
                yield parent
                break
            parent = parent.parent


def _read_also(tree: LexborHTMLParser, page_urls: set[str], base: str) -> tuple[tuple[str, str], ...]:
    links: list[tuple[str, str]] = []
    seen = set(page_urls)
    for container in _related_containers(tree):
        anchors = container.css("a[href]")
        if len(anchors) > 60:
            continue  # a whole page section matched, not a related block
        for anchor in anchors:
            url = _http(anchor.attributes.get("href"), base)
            if url is None or url in seen:
                continue
            title = _link_title(anchor)
            if len(title) < 3:
                continue
            seen.add(url)
            links.append((title, url))
            if len(links) >= MAX_READ_ALSO:
                return tuple(links)
    return tuple(links)


def _text_of(tree: LexborHTMLParser, selector: str, limit: int) -> str | None:
    node = tree.css_first(selector)
    if node is None:
        return None
    return clean_text(node.text(separator=" "), limit=limit) or None


def _trafilatura(content: bytes | str, url: str) -> Any:
    try:
        return trafilatura.bare_extraction(
            content,
            url=url,
            favor_precision=True,
            with_metadata=True,
            include_comments=False,
            include_tables=False,
            include_images=False,
            include_links=False,
            deduplicate=False,
        )
    except Exception:  # trafilatura on hostile markup must not stop the reader
        logger.warning("trafilatura failed on %s", url, exc_info=True)
        return None


def extract_article(content: bytes | str, *, url: str) -> ArticlePage:
    """Extract text and metadata from an article page (no network access of any kind)."""
    try:
        return _extract(content, url)
    except Exception:
        logger.warning("Article %s could not be extracted", url, exc_info=True)
        return ArticlePage(
            url=url,
            canonical_url=None,
            title=None,
            text="",
            description=None,
            kicker=None,
            author=None,
            published=None,
            category=None,
            tags=(),
            image_url=None,
            read_also=(),
        )


def _extract(content: bytes | str, url: str) -> ArticlePage:
    html = decode_html(content) if isinstance(content, bytes) else content
    html = html[:MAX_PAGE_CHARS]
    tree = LexborHTMLParser(html)
    meta = _meta(tree)
    document = _trafilatura(html, url) if html.strip() else None

    def doc(name: str) -> Any:
        return getattr(document, name, None) if document is not None else None

    canonical_node = tree.css_first('link[rel~="canonical"][href]')
    canonical = _http(canonical_node.attributes.get("href") if canonical_node else None, url)
    canonical = canonical or _http(_first_meta(meta, "og:url"), url)
    # A single <h1> is the headline as readers see it; og:title often carries the site's name.
    headings = tree.css("h1")
    title_source = _text_of(tree, "h1", MAX_TITLE) if len(headings) == 1 else None
    title_source = title_source or _first_meta(meta, "og:title", "twitter:title") or doc("title")
    title_source = title_source or _text_of(tree, "title", MAX_TITLE)
    title = clean_text(title_source, limit=MAX_TITLE) if isinstance(title_source, str) else ""
    description_source = _first_meta(meta, "og:description", "description", "twitter:description")
    description = clean_text(description_source or doc("description") or "", limit=MAX_DESCRIPTION)
    author_source = _first_meta(meta, "author", "article:author", "dc.creator") or doc("author")
    author = clean_text(author_source or "", limit=MAX_SHORT)
    if author.startswith(("http://", "https://")):
        author = clean_text(doc("author") or "", limit=MAX_SHORT)
    published = (
        _iso_datetime(_first_meta(meta, "article:published_time", "og:published_time", "datepublished"))
        or _json_ld_published(tree)
        or _iso_datetime(doc("date"))
    )
    categories = doc("categories") or []
    category_source = _first_meta(meta, "article:section") or (categories[0] if categories else None)
    category = clean_text(category_source or "", limit=MAX_SHORT)
    tag_values = meta.get("article:tag", []) + list(doc("tags") or [])
    keywords = _first_meta(meta, "keywords", "news_keywords")
    if not tag_values and keywords:
        tag_values = keywords.split(",")
    tags: list[str] = []
    for raw in tag_values:
        tag = clean_text(str(raw), limit=MAX_SHORT)
        if tag and tag not in tags:
            tags.append(tag)
    image = _http(_first_meta(meta, "og:image", "og:image:url", "twitter:image") or doc("image"), url)
    text = doc("text") or ""
    if not isinstance(text, str):
        text = ""
    page_urls = {normalize_url(url)} | ({canonical} if canonical else set())
    return ArticlePage(
        url=url,
        canonical_url=canonical,
        title=title or None,
        text=text[:MAX_TEXT].strip(),
        description=description or None,
        kicker=_text_of(tree, _KICKER_SELECTOR, MAX_SHORT),
        author=author or None,
        published=published,
        category=category or None,
        tags=tuple(tags[:MAX_TAGS]),
        image_url=image,
        read_also=_read_also(tree, page_urls, canonical or url),
    )
