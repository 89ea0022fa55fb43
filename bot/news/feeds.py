"""Parse RSS, Atom and JSON Feed documents into `ParsedFeed` values; never raises."""

from __future__ import annotations

import calendar
import codecs
import hashlib
import html
import io
import json
import logging
import re
import time
import zlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import feedparser

from bot.news.models import FeedItem, ParsedFeed
from bot.news.urls import normalize_url

logger = logging.getLogger(__name__)

MAX_ITEMS = 500
MAX_TITLE = 300
MAX_LEAD = 600
MAX_SHORT = 200  # author, category, a tag
MAX_URL = 2048
MAX_GUID = 512
MAX_TAGS = 10
DERIVED_TITLE = 80

_JSONFEED_MARK = "jsonfeed.org/version/"
MAX_INFLATED = 20_000_000
_INLINE_TAGS = (
    r"a|abbr|b|bdi|bdo|cite|code|data|dfn|em|font|i|kbd|mark|q|s|samp|small|span|strong|sub|sup|time|tt|u|var"
)
_DROP_BLOCKS = re.compile(r"<(script|style|noscript|template)\b[^>]*>.*?</\1\s*>", re.I | re.S)
_COMMENTS = re.compile(r"<!--.*?-->", re.S)
_INLINE_TAG = re.compile(rf"</?(?:{_INLINE_TAGS})\b[^>]*>", re.I)
_ANY_TAG = re.compile(r"</?[A-Za-z][^>]*>|<![A-Za-z\[][^>]*>")
_SPACES = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
_IMG_SRC = re.compile(r"""<img\b[^>]*?\bsrc\s*=\s*["']([^"'>]+)["']""", re.I)
_XML_DECL = re.compile(rb"^\s*<\?xml[^>]*?\?>", re.S)
_DECL_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_HTTP_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.I)
_LATIN_FALLBACKS = frozenset({"ascii", "latin-1", "iso8859-1", "cp1252", "iso8859-15"})


def clean_text(value: str | None, *, limit: int | None = None) -> str:
    """Turn an HTML or text fragment into one line of plain text, optionally cut to limit."""
    if not value:
        return ""
    text = value
    if "<" in text:
        text = _DROP_BLOCKS.sub(" ", text)
        text = _COMMENTS.sub(" ", text)
        text = _INLINE_TAG.sub("", text)
        text = _ANY_TAG.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    text = _SPACES.sub(" ", text).strip()
    if limit is not None:
        text = truncate_text(text, limit)
    return text


def truncate_text(text: str, limit: int) -> str:
    """Cut text to at most limit characters at a word boundary, marking the cut with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,;:-–—") + "…"


def title_from_text(text: str) -> str:
    """Make a title for an untitled item from the first sentence of its text."""
    if not text:
        return ""
    first = _SENTENCE_END.split(text, maxsplit=1)[0]
    return truncate_text(first, DERIVED_TITLE)


def _short(value: object, limit: int = MAX_SHORT) -> str | None:
    if not isinstance(value, str):
        return None
    return clean_text(value, limit=limit) or None


def _http_url(value: object, base: str) -> str | None:
    """Return value as a normalised absolute http(s) URL, or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    url = normalize_url(value, base=base)
    if not url.startswith(("http://", "https://")) or len(url) > MAX_URL:
        return None
    return url


def _guid_hash(title: str, published: datetime | None, lead: str) -> str:
    basis = f"{title}|{published.isoformat() if published else ''}|{lead[:200]}"
    return "sha1:" + hashlib.sha1(basis.encode("utf-8"), usedforsecurity=False).hexdigest()


def _make_guid(raw_id: object, url: str, title: str, published: datetime | None, lead: str) -> str:
    if isinstance(raw_id, int | float) and not isinstance(raw_id, bool):
        raw_id = str(raw_id)
    if isinstance(raw_id, str) and raw_id.strip():
        guid = raw_id.strip()
        if len(guid) > MAX_GUID:
            guid = "sha1:" + hashlib.sha1(guid.encode("utf-8"), usedforsecurity=False).hexdigest()
        return guid
    if url:
        return url
    return _guid_hash(title, published, lead)


def _lookup_codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _looks_non_latin(text: str) -> bool:
    """Guess whether text decoded as Latin-1 is really another script's single-byte encoding.

    Real Latin text has a few accented letters between ASCII ones ("Café", "Müller"); Cyrillic
    bytes read as Latin-1 give long runs of accented letters ("Íîâûé").
    """
    runs = [len(run) for run in re.findall(r"[\u00c0-\u00ff]+", text)]
    return sum(runs) >= 8 and sum(runs) / len(runs) >= 3.0


def _guess_cyrillic(content: bytes) -> str:
    """Pick windows-1251 or KOI8-R: the right one turns most letters into lower case."""
    best, best_score = "cp1251", -1.0
    for codec in ("cp1251", "koi8_r"):
        text = content.decode(codec, errors="replace")
        letters = [ch for ch in text if "\u0400" <= ch <= "\u04ff"]
        if not letters:
            continue
        score = sum(ch.islower() for ch in letters) / len(letters)
        if score > best_score:
            best, best_score = codec, score
    return best


def _detect_encoding(content: bytes, content_type: str | None) -> str:
    """Choose the codec that really decodes content, whatever the document declares."""
    if content.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if content.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if content.startswith(b"<\x00?\x00"):
        return "utf-16-le"
    if content.startswith(b"\x00<\x00?"):
        return "utf-16-be"
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        # Valid UTF-8 with any non-ASCII byte is practically never an accident.
        return "utf-8"
    declared: str | None = None
    decl = _XML_DECL.match(content)
    if decl:
        found = _DECL_ENCODING.search(decl.group(0))
        declared = _lookup_codec(found.group(1).decode("ascii")) if found else None
    if declared is None and content_type:
        found_http = _HTTP_CHARSET.search(content_type)
        declared = _lookup_codec(found_http.group(1)) if found_http else None
    if declared in ("utf-8", "utf-16", "utf-16-le", "utf-16-be", "utf-32"):
        declared = None  # the declaration is wrong: the bytes are not that
    if declared is not None and declared not in _LATIN_FALLBACKS:
        try:
            content.decode(declared)
        except UnicodeDecodeError:
            declared = None
        else:
            return declared
    if _looks_non_latin(content.decode("latin-1")):
        return _guess_cyrillic(content)
    return declared or "cp1252"


def _to_utf8(content: bytes, content_type: str | None) -> bytes:
    """Re-encode the document as UTF-8 and make its XML declaration say so."""
    encoding = _detect_encoding(content, content_type)
    if encoding == "utf-8":
        text_bytes = content
    else:
        text_bytes = content.decode(encoding, errors="replace").encode("utf-8")
    decl = _XML_DECL.match(text_bytes)
    if decl:
        fixed = _DECL_ENCODING.sub(b'encoding="utf-8"', decl.group(0))
        text_bytes = fixed + text_bytes[decl.end() :]
    return text_bytes


def _struct_to_datetime(value: object) -> datetime | None:
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _iso_to_datetime(value: object) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)  # some JSON feeds carry RFC 822 dates
        except (TypeError, ValueError, IndexError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _feedparser_image(entry: Mapping[str, Any], base: str) -> str | None:
    for key in ("media_content", "media_thumbnail"):
        for media in entry.get(key) or ():
            if not isinstance(media, Mapping):
                continue
            kind = str(media.get("type") or "")
            medium = str(media.get("medium") or "")
            if (
                key == "media_content"
                and (kind or medium)
                and not (kind.startswith("image/") or medium == "image")
            ):
                continue
            found = _http_url(media.get("url"), base)
            if found:
                return found
    for link in entry.get("links") or ():
        if (
            isinstance(link, Mapping)
            and link.get("rel") == "enclosure"
            and str(link.get("type") or "").startswith("image/")
        ):
            found = _http_url(link.get("href"), base)
            if found:
                return found
    image = entry.get("image")
    if isinstance(image, Mapping):
        found = _http_url(image.get("href") or image.get("url"), base)
        if found:
            return found
    for html_key in ("summary", "content"):
        raw = entry.get(html_key)
        if isinstance(raw, list):
            raw = raw[0].get("value") if raw and isinstance(raw[0], Mapping) else None
        if isinstance(raw, str):
            match = _IMG_SRC.search(raw)
            if match:
                found = _http_url(html.unescape(match.group(1)), base)
                if found:
                    return found
    return None


def _feedparser_link(entry: Mapping[str, Any], base: str) -> str | None:
    found = _http_url(entry.get("link"), base)
    if found:
        return found
    for link in entry.get("links") or ():
        if isinstance(link, Mapping) and link.get("rel", "alternate") == "alternate":
            found = _http_url(link.get("href"), base)
            if found:
                return found
    raw_id = entry.get("id")
    if isinstance(raw_id, str) and raw_id.startswith(("http://", "https://")):
        return _http_url(raw_id, base)
    return None


def _tag_terms(tags: Iterable[object]) -> list[str]:
    terms: list[str] = []
    for tag in tags:
        term: object = tag
        if isinstance(tag, Mapping):
            term = tag.get("label") or tag.get("term")
        cleaned = _short(term)
        if cleaned and cleaned not in terms:
            terms.append(cleaned)
        if len(terms) >= MAX_TAGS:
            break
    return terms


def _feedparser_item(entry: Mapping[str, Any], base: str) -> FeedItem | None:
    url = _feedparser_link(entry, base)
    raw_lead = entry.get("summary")
    if not raw_lead:
        contents = entry.get("content") or ()
        if contents and isinstance(contents[0], Mapping):
            raw_lead = contents[0].get("value")
    lead = clean_text(raw_lead if isinstance(raw_lead, str) else "", limit=MAX_LEAD)
    title = clean_text(entry.get("title") if isinstance(entry.get("title"), str) else "", limit=MAX_TITLE)
    if not title:
        title = title_from_text(lead)
    if not url or not title:
        # Every item must be linkable and presentable; the bot has nothing to send otherwise.
        return None
    published = _struct_to_datetime(entry.get("published_parsed")) or _struct_to_datetime(
        entry.get("updated_parsed")
    )
    terms = _tag_terms(entry.get("tags") or ())
    author = _short(entry.get("author"))
    if author is None:
        detail = entry.get("author_detail")
        if isinstance(detail, Mapping):
            author = _short(detail.get("name"))
    return FeedItem(
        guid=_make_guid(entry.get("id"), url, title, published, lead),
        url=url,
        title=title,
        lead=lead,
        category=terms[0] if terms else None,
        author=author,
        image_url=_feedparser_image(entry, url),
        published=published,
        tags=tuple(terms),
    )


def _dedupe(items: Iterable[FeedItem]) -> tuple[FeedItem, ...]:
    seen: set[str] = set()
    kept: list[FeedItem] = []
    for item in items:
        if item.guid in seen:
            continue
        seen.add(item.guid)
        kept.append(item)
        if len(kept) >= MAX_ITEMS:
            break
    return tuple(kept)


def _parse_xml_feed(content: bytes, url: str, content_type: str | None) -> ParsedFeed:
    document = _to_utf8(content, content_type)
    # A BytesIO, never raw bytes or str: feedparser would try those as a file name or a URL.
    parsed = feedparser.parse(
        io.BytesIO(document),
        response_headers={"content-location": url, "content-type": "application/xml; charset=utf-8"},
        resolve_relative_uris=False,
        sanitize_html=False,
    )
    feed_meta = parsed.get("feed") or {}
    title = _short(feed_meta.get("title"), MAX_TITLE)
    entries = parsed.get("entries") or []
    version = parsed.get("version") or ""
    if not entries and not version:
        reason = parsed.get("bozo_exception")
        return ParsedFeed(title=title, items=(), error=f"not a feed: {reason or 'no feed elements'}")
    if parsed.get("bozo"):
        logger.debug(
            "Feed %s is not well-formed, kept %d entries: %s", url, len(entries), parsed.get("bozo_exception")
        )
    items = (item for entry in entries[: MAX_ITEMS * 2] if (item := _feedparser_item(entry, url)) is not None)
    return ParsedFeed(title=title, items=_dedupe(items))


def _json_author(data: Mapping[str, Any]) -> str | None:
    authors = data.get("authors")
    if isinstance(authors, list):
        for author in authors:
            if isinstance(author, Mapping):
                name = _short(author.get("name"))
                if name:
                    return name
    author = data.get("author")
    if isinstance(author, Mapping):
        return _short(author.get("name"))
    return None


def _json_item(data: object, base: str) -> FeedItem | None:
    if not isinstance(data, Mapping):
        return None
    url = _http_url(data.get("url"), base) or _http_url(data.get("external_url"), base)
    raw_lead = data.get("summary") or data.get("content_text") or data.get("content_html")
    lead = clean_text(raw_lead if isinstance(raw_lead, str) else "", limit=MAX_LEAD)
    title = clean_text(data.get("title") if isinstance(data.get("title"), str) else "", limit=MAX_TITLE)
    if not title:
        title = title_from_text(lead)
    if not url or not title:
        return None
    published = _iso_to_datetime(data.get("date_published")) or _iso_to_datetime(data.get("date_modified"))
    raw_tags = data.get("tags")
    terms = _tag_terms(raw_tags if isinstance(raw_tags, list) else ())
    image = _http_url(data.get("image"), url) or _http_url(data.get("banner_image"), url)
    if image is None:
        html_body = data.get("content_html")
        match = _IMG_SRC.search(html_body) if isinstance(html_body, str) else None
        image = _http_url(html.unescape(match.group(1)), url) if match else None
    return FeedItem(
        guid=_make_guid(data.get("id"), url, title, published, lead),
        url=url,
        title=title,
        lead=lead,
        category=terms[0] if terms else None,
        author=_json_author(data),
        image_url=image,
        published=published,
        tags=tuple(terms),
    )


def _parse_json_feed(content: bytes, url: str) -> ParsedFeed:
    try:
        data = json.loads(content)
    except (ValueError, RecursionError) as exc:
        return ParsedFeed(title=None, items=(), error=f"invalid JSON: {exc}")
    # Some producers write "version": "1.0"; an items list is evidence enough.
    if not isinstance(data, Mapping) or not (
        _JSONFEED_MARK in str(data.get("version", "")) or isinstance(data.get("items"), list)
    ):
        return ParsedFeed(title=None, items=(), error="JSON document is not a JSON Feed")
    raw_items = data.get("items")
    if not isinstance(raw_items, list):
        raw_items = []
    base = _http_url(data.get("feed_url"), url) or url
    items = (item for raw in raw_items[: MAX_ITEMS * 2] if (item := _json_item(raw, base)) is not None)
    return ParsedFeed(title=_short(data.get("title"), MAX_TITLE), items=_dedupe(items))


def _gunzip(content: bytes) -> bytes:
    inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
    try:
        inflated = inflater.decompress(content, MAX_INFLATED)
    except zlib.error:
        return content
    return inflated


def _is_json(content: bytes, content_type: str | None) -> bool:
    head = content.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head in (b"{", b"["):
        return True
    return bool(content_type and "json" in content_type.lower() and head != b"<")


def parse_feed(content: bytes, *, url: str, content_type: str | None = None) -> ParsedFeed:
    """Parse an RSS/Atom/RDF/JSON feed; problems are reported in ParsedFeed.error, never raised."""
    try:
        if content.startswith(b"\x1f\x8b"):
            # Some servers gzip the file itself rather than the transfer.
            content = _gunzip(content)
        if not content or not content.strip():
            return ParsedFeed(title=None, items=(), error="empty document")
        if _is_json(content, content_type):
            return _parse_json_feed(content, url)
        return _parse_xml_feed(content, url, content_type)
    except Exception as exc:  # a feed must never take the ingest loop down
        logger.warning("Feed %s could not be parsed", url, exc_info=True)
        return ParsedFeed(title=None, items=(), error=f"parser failure: {type(exc).__name__}: {exc}")
