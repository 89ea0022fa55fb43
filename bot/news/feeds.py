"""Parse RSS, Atom and JSON Feed documents into `ParsedFeed` values; never raises."""

from __future__ import annotations

import calendar
import codecs
import hashlib
import io
import json
import logging
import re
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import charset_normalizer
import feedparser
from selectolax.lexbor import LexborHTMLParser

from bot.items import FeedItem, ParsedFeed
from bot.news.dates import parse_date
from bot.urls import absolute_url

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
# Each pass over web text sees at most this much: a lead is 600 characters, a page's own text is
# extracted elsewhere. The cap keeps every pass's cost bounded whatever a feed holds.
MAX_HTML_INPUT = 200_000
MAX_CONTENT_TYPE = 200
# Tags an HTML pass may see. An HTML5 parser checks the stack of open elements at each tag, so
# unclosed nesting costs depth x tags: 40,000 nested <div> took 1.8 s. A lead needs 600
# characters of text, never thousands of tags.
MAX_HTML_TAGS = 2_000
MAX_DETECT = 65_536  # bytes shown to the charset detector

# Bounded or anchored patterns only: each is linear in what it scans (see tests/test_news_feeds.py).
_SPACES = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
_XML_DECL = re.compile(rb"^\s*<\?xml[^>]{0,200}\?>")
_DECL_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']""")
_HTTP_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]{1,40})""", re.I)
# An attribute named base, xml:base or not, changes the base of what it encloses (feedparser
# reads either). Text that merely looks like one only costs the faster parse.
_BASE_ATTRIBUTE = re.compile(rb"base\s*=", re.I)
_PERMALINK_MARK = re.compile(rb"ispermalink", re.I)
_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));")
_LATIN_FALLBACKS = frozenset({"ascii", "latin-1", "iso8859-1", "cp1252", "iso8859-15"})
# Multi-byte East Asian encodings that a document may use without saying so.
_CJK_CODECS = frozenset(
    {
        "big5", "big5hkscs", "cp932", "cp949", "cp950", "euc_jis_2004", "euc_jp", "euc_kr", "gb18030",
        "gb2312", "gbk", "iso2022_jp", "shift_jis", "shift_jis_2004",
    }
)  # fmt: skip

# Removed from every text: C0 controls but tab and newlines (they become spaces), DEL, C1
# controls, bidirectional overrides and isolates (a title could reverse the text after it in a
# reader's chat), and the byte-order mark. A lone surrogate cannot be stored: it becomes U+FFFD.
_SANITIZE: dict[int, str | None] = {
    **dict.fromkeys((*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F), None),
    **dict.fromkeys(range(0x80, 0xA0), None),
    **dict.fromkeys((*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0xFEFF), None),
    **dict.fromkeys(range(0xD800, 0xE000), "\ufffd"),
}
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
        "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav",
        "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul",
    }
)  # fmt: skip
# With their content: an HTML parser reads what an iframe, noembed, noframes or xmp holds as raw
# text, so an unclosed <iframe> put the rest of a feed's markup into a lead as literal tags.
_DROPPED_TAGS = ["script", "style", "noscript", "template", "head", "iframe", "noembed", "noframes", "xmp"]
_HTML_TYPES = ("text/html", "application/xhtml+xml", "html", "xhtml")


def sanitize(value: str) -> str:
    """Remove control and bidi-override characters; replace lone surrogates."""
    return value.translate(_SANITIZE)


def clean_text(value: str | None, *, limit: int | None = None) -> str:
    """Turn plain text into one clean line, optionally cut to limit; its words are kept literally.

    Plain text is never searched for tags: "<electricity>" in a headline is a word, shown as is
    (and escaped when rendered). Use `html_text` for markup.
    """
    if not value:
        return ""
    text = _SPACES.sub(" ", sanitize(value[:MAX_HTML_INPUT])).strip()
    if limit is not None:
        text = truncate_text(text, limit)
    return text


def _bounded_html(value: str) -> str:
    """The start of an HTML fragment that an HTML pass may see: capped in characters and in tags."""
    fragment = value[:MAX_HTML_INPUT]
    position = -1
    for _ in range(MAX_HTML_TAGS):
        position = fragment.find("<", position + 1)
        if position < 0:
            return fragment
    return fragment[:position]


def html_text(value: str | None, *, limit: int | None = None) -> str:
    """Turn an HTML fragment into one line of its text, parsed by an HTML parser, optionally cut."""
    if not value:
        return ""
    fragment = _bounded_html(value)
    if "<" not in fragment and "&" not in fragment:
        return clean_text(fragment, limit=limit)
    tree = LexborHTMLParser(fragment)
    tree.strip_tags(_DROPPED_TAGS)
    root = tree.body
    if root is None:
        return ""
    parts: list[str] = []
    for node in root.traverse(include_text=True):
        if node.tag == "-text":
            parts.append(node.text(deep=False))
        elif node.tag in _BLOCK_TAGS:
            parts.append(" ")
    return clean_text("".join(parts), limit=limit)


def typed_text(value: object, content_type: object, *, limit: int | None = None) -> str:
    """Text of a field by the content type the feed gave it: only HTML has tags to remove."""
    if not isinstance(value, str):
        return ""
    if isinstance(content_type, str) and content_type.lower().endswith(_HTML_TYPES):
        return html_text(value, limit=limit)
    return clean_text(value, limit=limit)


def first_image(value: str | None) -> str | None:
    """The src of the first <img> of an HTML fragment, as written."""
    if not value or "<img" not in value.lower():
        return None
    node = LexborHTMLParser(_bounded_html(value)).css_first("img[src]")
    return None if node is None else node.attributes.get("src")


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
    first = _SENTENCE_END.split(text[:MAX_LEAD], maxsplit=1)[0]
    return truncate_text(first, DERIVED_TITLE)


def _short(value: object, limit: int = MAX_SHORT) -> str | None:
    if not isinstance(value, str):
        return None
    return clean_text(value, limit=limit) or None


def _link(value: object, base: str) -> str | None:
    """Return value as an absolute http(s) link, exactly as written when it already was one."""
    if not isinstance(value, str) or not value.strip():
        return None
    url = absolute_url(value, base=base)
    if not url.startswith(("http://", "https://")) or len(url) > MAX_URL or sanitize(url) != url:
        return None
    try:
        parts = urlsplit(url)
        _ = parts.port  # a malformed port raises here, not later when the link is rendered
    except ValueError:
        return None
    return url if parts.hostname else None


def _guid_hash(title: str, published: datetime | None, lead: str) -> str:
    basis = f"{title}|{published.isoformat() if published else ''}|{lead[:200]}"
    return "sha1:" + hashlib.sha1(basis.encode("utf-8"), usedforsecurity=False).hexdigest()


def _given_guid(raw_id: object) -> str | None:
    """The publisher's own id of an item, when it gave one."""
    if isinstance(raw_id, int | float) and not isinstance(raw_id, bool):
        raw_id = str(raw_id)
    if not isinstance(raw_id, str) or not raw_id.strip():
        return None
    guid = sanitize(raw_id.strip())
    if len(guid) > MAX_GUID:
        guid = "sha1:" + hashlib.sha1(guid.encode("utf-8"), usedforsecurity=False).hexdigest()
    return guid


def _make_guid(given: str | None, url: str | None, title: str, published: datetime | None, lead: str) -> str:
    return given or url or _guid_hash(title, published, lead)


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
        found_http = _HTTP_CHARSET.search(content_type[:MAX_CONTENT_TYPE])
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
    # A declared Latin encoding is believed unless the bytes look like a multi-byte script's.
    east_asian = _guess_east_asian(content) if declared is None or _high_share(content) >= 0.05 else None
    if east_asian is not None:
        return east_asian
    if _looks_non_latin(content.decode("latin-1")):
        return _guess_cyrillic(content)
    return declared or "cp1252"


_HIGH_BYTES = bytes(range(0x80, 0x100))


def _high_share(content: bytes) -> float:
    """The share of bytes above ASCII in the start of a document."""
    sample = content[:MAX_DETECT]
    return (len(sample) - len(sample.translate(None, _HIGH_BYTES))) / max(len(sample), 1)


def _guess_east_asian(content: bytes) -> str | None:
    """Name the multi-byte East Asian encoding of an undeclared document, when it is one.

    Such bytes read as Latin-1 make mojibake without any decoding error, so a detector that
    weighs how plausible each reading is decides; only its East Asian answers are taken, the
    single-byte cases have their own rules above.
    """
    best = charset_normalizer.from_bytes(content[:MAX_DETECT]).best()
    if best is None:
        return None
    name = _lookup_codec(best.encoding)
    return name if name in _CJK_CODECS else None


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
            return _written_date(text)  # or a date in the site's language
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _written_date(value: object) -> datetime | None:
    """A date feedparser could not read ("Seg, 24 Set 2022"), read by the multilingual table."""
    if not isinstance(value, str):
        return None
    parsed = parse_date(value)
    return None if parsed is None else parsed.astimezone(UTC)


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
            found = _link(media.get("url"), base)
            if found:
                return found
    for link in entry.get("links") or ():
        if (
            isinstance(link, Mapping)
            and link.get("rel") == "enclosure"
            and str(link.get("type") or "").startswith("image/")
        ):
            found = _link(link.get("href"), base)
            if found:
                return found
    image = entry.get("image")
    if isinstance(image, Mapping):
        found = _link(image.get("href") or image.get("url"), base)
        if found:
            return found
    for html_key in ("summary", "content"):
        raw = entry.get(html_key)
        if isinstance(raw, list):
            raw = raw[0].get("value") if raw and isinstance(raw[0], Mapping) else None
        if isinstance(raw, str):
            found = _link(first_image(raw), base)
            if found:
                return found
    return None


def _feedparser_link(entry: Mapping[str, Any], base: str) -> str | None:
    found = _link(entry.get("link"), base)
    if found:
        return found
    for link in entry.get("links") or ():
        if isinstance(link, Mapping) and link.get("rel", "alternate") == "alternate":
            found = _link(link.get("href"), base)
            if found:
                return found
    raw_id = entry.get("id")
    if isinstance(raw_id, str) and raw_id.strip().startswith(("http://", "https://")):
        # A permalink guid is the article's page.
        return _link(raw_id, base)
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


def _detail_type(entry: Mapping[str, Any], key: str) -> object:
    detail = entry.get(f"{key}_detail")
    return detail.get("type") if isinstance(detail, Mapping) else None


def _own(entry: Mapping[str, Any], key: str) -> object:
    """The entry's own value for key: feedparser's get() maps "updated" to "published", with a warning."""
    return dict.get(entry, key) if isinstance(entry, dict) else entry.get(key)


def _feedparser_item(entry: Mapping[str, Any], base: str, site: str) -> FeedItem | None:
    url = _feedparser_link(entry, base)
    lead = ""
    if isinstance(entry.get("summary"), str) and entry["summary"]:
        # An RSS description without a declared type is HTML by convention.
        lead = typed_text(entry["summary"], _detail_type(entry, "summary") or "text/html", limit=MAX_LEAD)
    if not lead:
        contents = entry.get("content") or ()
        if contents and isinstance(contents[0], Mapping):
            lead = typed_text(contents[0].get("value"), contents[0].get("type"), limit=MAX_LEAD)
    title = typed_text(entry.get("title"), _detail_type(entry, "title"), limit=MAX_TITLE)
    if not title:
        title = title_from_text(lead)
    given = _given_guid(entry.get("id"))
    if not title or (url is None and given is None and not lead):
        # Nothing to show a reader, or nothing to tell this item from the next one.
        return None
    published = (
        _struct_to_datetime(_own(entry, "published_parsed"))
        or _struct_to_datetime(_own(entry, "updated_parsed"))
        or _written_date(_own(entry, "published"))
        or _written_date(_own(entry, "updated"))
    )
    terms = _tag_terms(entry.get("tags") or ())
    author = _short(entry.get("author"))
    if author is None:
        detail = entry.get("author_detail")
        if isinstance(detail, Mapping):
            author = _short(detail.get("name"))
    return FeedItem(
        guid=_make_guid(given, url, title, published, lead),
        # Without a link of its own, the item still reaches readers, pointing at the feed's site.
        url=url or site,
        title=title,
        lead=lead,
        category=terms[0] if terms else None,
        author=author,
        image_url=_feedparser_image(entry, url or base),
        published=published,
        tags=tuple(terms),
        publisher_guid=given is not None,
        own_link=url is not None,
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


def _name(raw: object) -> str | None:
    """An unreadable item's id, link or title as written, when it has one."""
    if isinstance(raw, Mapping):
        for key in ("id", "link", "url", "title"):
            value = raw.get(key)
            if isinstance(value, str | int) and str(value).strip():
                return sanitize(str(value).strip())[:MAX_GUID]
    return None


def _identity(raw: object) -> str:
    """What tells an unreadable item apart from the next one: its name, else a hash of all it holds."""
    name = _name(raw)
    if name is not None:
        return name
    return "sha1:" + hashlib.sha1(repr(raw).encode("utf-8", "replace"), usedforsecurity=False).hexdigest()


def _build_items(
    raw_items: Iterable[Any], build: Callable[[Any], FeedItem | None], url: str
) -> tuple[tuple[FeedItem, ...], tuple[str, ...]]:
    """Build each item on its own: one that cannot be read is skipped and reported, never the feed."""
    items: list[FeedItem] = []
    skipped: list[str] = []
    for raw in raw_items:
        try:
            item = build(raw)
        except Exception:  # one poisoned item must not empty the whole feed
            skipped.append(_identity(raw))
            logger.warning("Feed %s: skipped an item that could not be read", url, exc_info=True)
            continue
        if item is None:  # nothing a reader could be shown (no title, no text): counted all the same
            skipped.append(_identity(raw))
            logger.info("Feed %s: skipped an item with nothing to show", url)
            continue
        items.append(item)
    return _dedupe(items), tuple(skipped)


def _replace_bad_char_ref(match: re.Match[bytes]) -> bytes:
    digits = match.group(1) or match.group(2)
    code = int(digits, 16 if match.group(1) else 10)
    if code < 0x20 and code not in (0x09, 0x0A, 0x0D):
        return b""  # a control character: stripped, as in any other text
    if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return b"&#xFFFD;"
    return match.group(0)


def _fix_char_refs(document: bytes) -> bytes:
    """Replace references to characters that cannot exist (&#xD800;, &#x110000;) with U+FFFD.

    One such reference made the XML parser give up and the fallback parser crash, so one
    poisoned item emptied the whole feed.
    """
    if b"&#" not in document:
        return document
    return _CHAR_REF.sub(_replace_bad_char_ref, document)


def _feedparser(document: bytes, base: str | None) -> Any:
    """Run feedparser on a UTF-8 document, resolving its addresses against base when given."""
    headers = {"content-type": "application/xml; charset=utf-8"}
    if base is not None:
        headers["content-location"] = base
    # A BytesIO, never raw bytes or str: feedparser would try those as a file name or a URL.
    # Its sanitizer and markup rewriting are off: every text goes through html_text or clean_text,
    # which keep only the words, and the renderer escapes them.
    return feedparser.parse(
        io.BytesIO(document), response_headers=headers, resolve_relative_uris=False, sanitize_html=False
    )


def _join(base: str, value: str) -> str:
    """What feedparser makes of an address it resolves against base."""
    try:
        return urljoin(base, value)
    except ValueError:
        return ""


def _unmoved(base: str, value: object) -> bool:
    """Whether resolving value against base would leave it as it is."""
    return not isinstance(value, str) or not value or _join(base, value) == value


def _addresses(entry: Mapping[str, Any]) -> Iterable[object]:
    """Every address of an entry that newsbot reads, but its id."""
    yield entry.get("link")
    for key, field in (("links", "href"), ("media_content", "url"), ("media_thumbnail", "url")):
        for value in entry.get(key) or ():
            if isinstance(value, Mapping):
                yield value.get(field)
    image = entry.get("image")
    if isinstance(image, Mapping):
        yield image.get("href")
        yield image.get("url")


def _parse_unbased(document: bytes, url: str) -> Any | None:
    """feedparser's result as if given url as base, or None when that needs the base itself.

    Given a base, feedparser resolves an address at every element, a fifth of its time for a
    plain feed. Without one, and when the document sets no base of its own (xml:base), every
    address feedparser would have resolved is the same unless it is relative. Items are known
    by their ids, which feedparser resolves unless marked isPermaLink="false": a relative id
    is resolved here when no guid carries that mark; any other relative address (rare: feeds
    write absolute links) sends the document through the based parse, so nothing stored differs.
    """
    if (
        not url.startswith(("http://", "https://"))
        or url.startswith(("http:///", "https:///"))  # feedparser would rewrite such a base
        or _join(url, url) != url
        or _BASE_ATTRIBUTE.search(document)
    ):
        return None
    parsed = _feedparser(document, None)
    marks = _PERMALINK_MARK.search(document) is not None
    feed_meta = parsed.get("feed") or {}
    if not _unmoved(url, feed_meta.get("link")):
        return None
    for entry in parsed.get("entries") or ():
        if not all(_unmoved(url, value) for value in _addresses(entry)):
            return None
        raw_id = entry.get("id")
        if not _unmoved(url, raw_id):
            if marks:
                return None
            entry["id"] = _join(url, raw_id)
        if _name(entry) is None:
            _rebase(entry, url)  # a nameless item is known by a hash of it all, the base included
    return parsed


def _rebase(entry: Mapping[str, Any], url: str) -> None:
    """Give an entry's texts the base feedparser would have recorded on them."""
    for value in entry.values():
        for detail in value if isinstance(value, list) else (value,):
            if isinstance(detail, dict) and detail.get("base") == "":
                detail["base"] = url


def _parse_xml_feed(content: bytes, url: str, content_type: str | None) -> ParsedFeed:
    document = _fix_char_refs(_to_utf8(content, content_type))
    parsed = _parse_unbased(document, url)
    if parsed is None:
        parsed = _feedparser(document, url)
    feed_meta = parsed.get("feed") or {}
    title = typed_text(feed_meta.get("title"), _detail_type(feed_meta, "title"), limit=MAX_TITLE) or None
    entries = parsed.get("entries") or []
    version = parsed.get("version") or ""
    if not entries and not version:
        reason = parsed.get("bozo_exception")
        return ParsedFeed(title=title, items=(), error=f"not a feed: {reason or 'no feed elements'}")
    if parsed.get("bozo"):
        logger.debug(
            "Feed %s is not well-formed, kept %d entries: %s", url, len(entries), parsed.get("bozo_exception")
        )
    site = _link(feed_meta.get("link"), url) or url
    items, skipped = _build_items(
        entries[: MAX_ITEMS * 2], lambda entry: _feedparser_item(entry, url, site), url
    )
    return ParsedFeed(title=title, items=items, skipped=skipped)


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


def _json_item(data: object, base: str, site: str) -> FeedItem | None:
    if not isinstance(data, Mapping):
        return None
    url = _link(data.get("url"), base) or _link(data.get("external_url"), base)
    # JSON Feed says which fields are HTML: only content_html is.
    lead = clean_text(data.get("summary") if isinstance(data.get("summary"), str) else "", limit=MAX_LEAD)
    if not lead and isinstance(data.get("content_text"), str):
        lead = clean_text(data["content_text"], limit=MAX_LEAD)
    if not lead and isinstance(data.get("content_html"), str):
        lead = html_text(data["content_html"], limit=MAX_LEAD)
    title = clean_text(data.get("title") if isinstance(data.get("title"), str) else "", limit=MAX_TITLE)
    if not title:
        title = title_from_text(lead)
    given = _given_guid(data.get("id"))
    if url is None and isinstance(data.get("id"), str) and data["id"].startswith(("http://", "https://")):
        url = _link(data["id"], base)
    if not title or (url is None and given is None and not lead):
        return None
    published = _iso_to_datetime(data.get("date_published")) or _iso_to_datetime(data.get("date_modified"))
    raw_tags = data.get("tags")
    terms = _tag_terms(raw_tags if isinstance(raw_tags, list) else ())
    image_base = url or base
    image = _link(data.get("image"), image_base) or _link(data.get("banner_image"), image_base)
    if image is None:
        html_body = data.get("content_html")
        image = _link(first_image(html_body if isinstance(html_body, str) else None), image_base)
    return FeedItem(
        guid=_make_guid(given, url, title, published, lead),
        url=url or site,
        title=title,
        lead=lead,
        category=terms[0] if terms else None,
        author=_json_author(data),
        image_url=image,
        published=published,
        tags=tuple(terms),
        publisher_guid=given is not None,
        own_link=url is not None,
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
    base = _link(data.get("feed_url"), url) or url
    site = _link(data.get("home_page_url"), url) or base
    items, skipped = _build_items(raw_items[: MAX_ITEMS * 2], lambda raw: _json_item(raw, base, site), url)
    return ParsedFeed(title=_short(data.get("title"), MAX_TITLE), items=items, skipped=skipped)


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
