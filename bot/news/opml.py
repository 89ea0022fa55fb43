"""OPML 2.0 lists of sources: read an untrusted file, write the bot's own sources.

Reading uses the standard library's expat with every entity declaration refused (no "billion
laughs", no external entities), under a size cap and an outline cap. What an outline means:

- ``xmlUrl`` (any casing) is a feed, taken as written, not fetched at import;
- ``type="html"`` with ``htmlUrl`` (or ``url``) is a page newsbot reads as a list of news
  (how newsbot exports its ``html`` sources, which other readers skip, having no ``xmlUrl``);
- any other outline with only ``htmlUrl`` or ``url`` is a page whose feed must be found
  (the discovery /source_add runs);
- an outline with no address is a folder: its ``text`` becomes the category of the feeds inside
  that name none themselves (the innermost folder wins).

The name is ``text`` (what OPML readers display), else ``title``; HTML entities in it are decoded,
whether escaped once (``&amp;eacute;``) or written bare (``&eacute;``, which XML itself does not know).
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import formatdate
from html.entities import html5
from xml.parsers import expat
from xml.sax.saxutils import quoteattr

from bot.i18n import ExplainedError, _
from bot.models import Source
from bot.news.adding import Refused
from bot.urls import host_of, normalize_url

MAX_BYTES = 1_000_000
MAX_OUTLINES = 5_000
MAX_DEPTH = 64
MAX_NAME = 100

_XML_ENTITIES = frozenset({"amp", "lt", "gt", "quot", "apos"})
_BARE_ENTITY = re.compile(rb"&([A-Za-z][A-Za-z0-9]{1,31});")
_ENTITY_LIKE = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_SPACE = re.compile(r"\s+")


class OpmlError(ExplainedError):
    """The file cannot be read as OPML at all (its message is one line, for the person who sent it)."""


@dataclass(frozen=True, slots=True)
class OpmlEntry:
    """One source an outline names."""

    url: str
    name: str
    category: str | None
    html_url: str | None
    kind: str  # "feed" (xmlUrl), "html" (a page read as a list), "discover" (a page to find a feed on)


@dataclass(frozen=True, slots=True)
class OpmlDocument:
    entries: tuple[OpmlEntry, ...]
    invalid: tuple[tuple[str, Refused], ...]  # (what the outline said, why it was not taken)


def _numeric(match: re.Match[bytes]) -> bytes:
    name = match[1].decode("ascii")
    if name in _XML_ENTITIES:
        return match[0]
    chars = html5.get(name + ";")
    if chars is None:
        return match[0]  # expat will call it undefined, which it is
    return b"".join(b"&#%d;" % ord(c) for c in chars)


def _clean_text(value: str | None) -> str:
    if not value:
        return ""
    text = value
    if _ENTITY_LIKE.search(text):
        text = html.unescape(text)  # an exporter that escaped its titles once too often
    text = "".join(c for c in text if c.isprintable() or c == " ")
    return _SPACE.sub(" ", text).strip()


def _web_url(value: str | None) -> str | None:
    """An http(s) address, or None; ``feed://`` is the old way of saying http."""
    if not value or not value.strip():
        return None
    raw = value.strip()
    if raw.lower().startswith("feed://"):
        raw = "http://" + raw[len("feed://") :]
    elif raw.lower().startswith("feed:"):
        raw = raw[len("feed:") :]
    # Kept as written: some sites answer only at their own spelling (a trailing slash, a query).
    url = normalize_url(raw)
    if not url.startswith(("http://", "https://")) or not host_of(url) or any(c.isspace() for c in raw):
        return None
    return raw


def _category(value: str | None) -> str | None:
    """OPML categories are comma-separated paths ("/News/World"): the first one's last part."""
    if not value:
        return None
    first = value.split(",")[0]
    parts = [p for p in (_clean_text(s) for s in first.split("/")) if p]
    return parts[-1][:MAX_NAME] if parts else None


def parse_opml(data: bytes) -> OpmlDocument:
    """Read an OPML file into the sources it names; OpmlError when it is not OPML or too big."""
    if len(data) > MAX_BYTES:
        raise OpmlError(_("the file is larger than {n} bytes"), n=f"{MAX_BYTES:,}")
    if not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        data = _BARE_ENTITY.sub(_numeric, data)
    entries: list[OpmlEntry] = []
    invalid: list[tuple[str, Refused]] = []
    folders: list[str | None] = []  # for each open outline: its folder name, None for a source
    root: list[str] = []  # the root element's name, once seen
    count = [0]  # outlines so far

    def refuse_entities(*_args: object) -> None:
        raise OpmlError(_("the file declares entities, which are not accepted"))

    def start(name: str, attrs: dict[str, str]) -> None:
        tag = name.rsplit(":", 1)[-1].lower()
        if not root:
            root.append(tag)
            if tag != "opml":
                raise OpmlError(_("this is not OPML (its root element is <{tag}>)"), tag=tag[:40])
        if tag != "outline":
            return
        count[0] += 1
        if count[0] > MAX_OUTLINES:
            raise OpmlError(_("the file has more than {n} outlines"), n=f"{MAX_OUTLINES:,}")
        if len(folders) >= MAX_DEPTH:
            raise OpmlError(_("outlines are nested more than {n} deep"), n=MAX_DEPTH)
        lower = {k.lower(): v for k, v in attrs.items()}
        folders.append(_outline(lower, folders, entries, invalid))

    def end(name: str) -> None:
        if name.rsplit(":", 1)[-1].lower() == "outline" and folders:
            folders.pop()

    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.EntityDeclHandler = refuse_entities
    parser.UnparsedEntityDeclHandler = refuse_entities
    parser.ExternalEntityRefHandler = refuse_entities  # type: ignore[assignment]
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        reason = expat.ErrorString(exc.code)
        raise OpmlError(
            _("the file is not well-formed XML ({reason}, line {line})"), reason=reason, line=exc.lineno
        ) from None
    except (ValueError, LookupError) as exc:  # an encoding expat does not know
        if isinstance(exc, OpmlError):
            raise
        raise OpmlError(_("the file cannot be decoded ({error})"), error=type(exc).__name__) from None
    if root != ["opml"]:
        raise OpmlError(_("this is not OPML (no <opml> element)"))
    return OpmlDocument(tuple(entries), tuple(invalid))


def _outline(
    attrs: dict[str, str],
    folders: list[str | None],
    entries: list[OpmlEntry],
    invalid: list[tuple[str, Refused]],
) -> str | None:
    """Record what one outline names; return its folder name (None when it is a source)."""
    name = (_clean_text(attrs.get("text")) or _clean_text(attrs.get("title")))[:MAX_NAME]
    xml_url, page = attrs.get("xmlurl"), attrs.get("htmlurl") or attrs.get("url")
    kind_attr = (attrs.get("type") or "").strip().lower()
    if not (xml_url or "").strip() and not (page or "").strip():
        return name or ""  # a folder (or an empty outline)
    given = (xml_url or "").strip() or (page or "").strip()
    kind = "feed" if (xml_url or "").strip() else "html" if kind_attr == "html" else "discover"
    url = _web_url(given)
    label = name or given[:200]
    if url is None:
        invalid.append((label, Refused(_("not a web address: {address}"), (("address", given[:200]),))))
        return None
    folder = next((f for f in reversed(folders) if f), None)
    category = _category(attrs.get("category")) or (folder[:MAX_NAME] if folder else None)
    html_url = _web_url(page) if kind == "feed" else None
    entries.append(OpmlEntry(url=url, name=name, category=category, html_url=html_url, kind=kind))
    return None


def _outline_xml(source: Source, indent: str) -> str:
    name = quoteattr(source.name)
    attrs = [f"text={name}", f"title={name}"]
    html_url = source.options.get("html_url")
    if source.kind == "html":
        attrs[:0] = ['type="html"']
        attrs.append(f"htmlUrl={quoteattr(source.url)}")
    else:
        attrs[:0] = ['type="rss"']
        attrs.append(f"xmlUrl={quoteattr(source.url)}")
        if isinstance(html_url, str) and html_url:
            attrs.append(f"htmlUrl={quoteattr(html_url)}")
    if source.category:
        attrs.append(f"category={quoteattr(source.category)}")
    return f"{indent}<outline {' '.join(attrs)}/>\n"


def render_opml(
    sources: Iterable[Source], *, title: str = "newsbot sources", now: float | None = None
) -> bytes:
    """OPML 2.0 of these sources, one folder per category; html sources as type="html" with htmlUrl."""
    by_category: dict[str, list[Source]] = {}
    loose: list[Source] = []
    for source in sources:
        (by_category.setdefault(source.category, []) if source.category else loose).append(source)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        '<opml version="2.0">\n',
        "  <head>\n",
        f"    <title>{html.escape(title, quote=False)}</title>\n",
        f"    <dateCreated>{formatdate(time.time() if now is None else now, usegmt=True)}</dateCreated>\n",
        "  </head>\n",
        "  <body>\n",
    ]
    for category in sorted(by_category, key=str.casefold):
        folder = quoteattr(category)
        lines.append(f"    <outline text={folder} title={folder}>\n")
        lines.extend(_outline_xml(s, "      ") for s in by_category[category])
        lines.append("    </outline>\n")
    lines.extend(_outline_xml(s, "    ") for s in loose)
    lines.append("  </body>\n</opml>\n")
    return "".join(lines).encode("utf-8")
