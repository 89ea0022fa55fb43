"""Extract an article page: main text, metadata and the page's own "Read also" links; never raises."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

import trafilatura
from selectolax.lexbor import LexborHTMLParser, LexborNode

from bot.news.dates import parse_date
from bot.news.feeds import MAX_SHORT, MAX_TITLE, MAX_URL, clean_text
from bot.news.listing import cap_nesting, decode_html, inside_marked
from bot.news.presets import ArticleSelectors
from bot.urls import host_of, normalize_url

logger = logging.getLogger(__name__)

MAX_TEXT = 100_000
MAX_DESCRIPTION = 1_000
MAX_PAGE_BYTES = 1_500_000
MAX_PAGE_CHARS = 1_500_000
MAX_DEPTH = 120
MAX_JSON_LD = 200_000
# The precise extraction kept less than this share of the page's paragraphs: it collapsed.
COLLAPSE_SHARE = 0.3
# A precise text this short is checked against the default extraction (it costs a second pass).
SHORT_TEXT = 300
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
_BLOCK_TAGS = frozenset({"div", "p", "span", "header"})
_CONTAINER_STOP = frozenset({"html", "body", "main"})
_KICKER_SELECTOR = (
    "[class*=kicker], [class*=overline], [class*=supertitle], [class*=eyebrow], [class*=overtitle],"
    " [class*=subtitle], [class*=sub-title], [class*=sub_title], [class*=dachzeile], [class*=topline]"
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
    site_name: str | None = None


def _http(value: str | None, base: str) -> str | None:
    if not value or not value.strip():
        return None
    url = normalize_url(value, base=base)
    return url if url.startswith(("http://", "https://")) and len(url) <= MAX_URL else None


def _iso_datetime(value: object) -> datetime | None:
    """An ISO 8601 date as written, offset kept; None when it is not one."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()[:64]
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


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
        # A block (div, p, span) says its heading itself; its whole text would be read once per
        # enclosing block, quadratic in the page's depth.
        deep = node.tag not in _BLOCK_TAGS
        text = clean_text(node.text(deep=deep, separator=" ")[:200])
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


def _trafilatura(content: str, url: str, *, precise: bool) -> Any:
    try:
        return trafilatura.bare_extraction(
            content,
            url=url,
            favor_precision=precise,
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


def _doc_text(document: Any) -> str:
    text = getattr(document, "text", None) if document is not None else None
    return text if isinstance(text, str) else ""


def _paragraph_chars(tree: LexborHTMLParser) -> int:
    """How much running text the page's paragraphs hold: a yardstick for a collapsed extraction."""
    return sum(len(node.text()) for node in tree.css("p"))


def _json_ld(tree: LexborHTMLParser) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    for script in tree.css('script[type="application/ld+json"]')[:20]:
        raw = script.text()
        if len(raw) > MAX_JSON_LD:
            continue
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            continue
        nodes.extend(list(_walk_json_ld(data))[:200])
    return nodes


_ARTICLE_TYPES = frozenset(
    {"article", "newsarticle", "reportagenewsarticle", "blogposting", "analysisnewsarticle",
     "opinionnewsarticle", "webpage", "report", "liveblogposting", "socialmediaposting", "videoobject"}
)  # fmt: skip


def _ld_types(node: dict[str, Any]) -> set[str]:
    kind = node.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return {k.lower() for k in kinds if isinstance(k, str)}


def _ld_published(nodes: list[dict[str, Any]]) -> str | None:
    """datePublished of the page's article, before that of anything else on the page."""
    ranked = sorted(nodes, key=lambda node: 0 if _ld_types(node) & _ARTICLE_TYPES - {"webpage"} else 1)
    for node in ranked:
        value = node.get("datePublished")
        if isinstance(value, str) and value.strip():
            return value
    return None


def _ld_names(value: Any) -> list[str]:
    """Names in a JSON-LD author/publisher value (a string, an object or a list of either)."""
    values = value if isinstance(value, list) else [value]
    names: list[str] = []
    for entry in values[:20]:
        if isinstance(entry, str):
            names.append(entry)
        elif isinstance(entry, dict) and isinstance(entry.get("name"), str):
            names.append(entry["name"])
    return names


def parse_published(value: str | None) -> datetime | None:
    """Read a page's date, keeping the publisher's own offset (UTC only when none was written)."""
    if not value or not value.strip():
        return None
    parsed = _iso_datetime(value) or parse_date(value)
    if parsed is None:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


# parse_date gives a date written without an offset this zone, so we can tell it was unwritten.
_UNWRITTEN = timezone(timedelta(seconds=1))


def _publisher_offset(published: datetime, tree: LexborHTMLParser) -> datetime:
    """Give a UTC publication time the publisher's offset, from the local time the page shows."""
    if published.utcoffset() != timedelta(0):
        return published
    instant = published.replace(tzinfo=None)
    for node in tree.css("time")[:20]:
        for written in (node.attributes.get("datetime"), node.text()):
            local = parse_date(written, tz=_UNWRITTEN) if written else None
            if local is None or local.tzinfo is not _UNWRITTEN or (local.hour, local.minute) == (0, 0):
                continue
            shift = local.replace(tzinfo=None) - instant
            # A real offset: within a day's zones, whole quarter hours, the same minute and second.
            if timedelta(0) < abs(shift) <= timedelta(hours=14) and shift % timedelta(
                minutes=15
            ) == timedelta(0):
                return published.astimezone(timezone(shift))
    return published


def _key(text: str) -> str:
    """Letters and digits only, lower-cased: "The Namibian" and "the-namibian" agree."""
    return "".join(ch for ch in text.casefold() if ch.isalnum())


_BARE_SEPARATORS = ("｜", "|", "-", "_")
_TITLE_SEPARATORS = (" | ", " - ", " – ", " — ", " :: ", " · ", " • ", " // ", " : ", *_BARE_SEPARATORS)


def _site_keys(meta: dict[str, list[str]], ld_nodes: list[dict[str, Any]], url: str, extra: Any) -> set[str]:
    names = list(meta.get("og:site_name", [])) + list(meta.get("application-name", []))
    names += list(meta.get("twitter:site", [])) + list(meta.get("publisher", []))
    for node in ld_nodes:
        names += _ld_names(node.get("publisher"))
        authors = node.get("author")
        for entry in authors if isinstance(authors, list) else [authors]:
            # An organisation credited as the author is the publisher speaking, not a person.
            if isinstance(entry, dict) and _ld_types(entry) & {"organization", "newsmediaorganization"}:
                names += _ld_names(entry)
        if _ld_types(node) & {"organization", "newsmediaorganization", "website"}:
            names += _ld_names(node)
    if isinstance(extra, str):
        names.append(extra)
    keys = {_key(name.lstrip("@")) for name in names}
    host = host_of(url).removeprefix("www.")
    labels = host.split(".")
    keys.add(_key(host))
    if labels:
        keys.add(_key(labels[0]))
    return {key for key in keys if len(key) >= 2}


def _is_site_name(part: str, sites: set[str], *, strict: bool = False) -> bool:
    key = _key(part)
    if not key:
        return not strict
    if key in sites:
        return True
    if strict:
        return False
    # "Caliber.Az", "The Namibian", "NEWS WEB EASY" next to a host "namibian.com.na": close enough.
    return any(
        len(site) >= 4 and (site in key or key in site) and len(key) <= len(site) + 12 for site in sites
    )


def strip_site_name(title: str, sites: set[str], removed: list[str] | None = None) -> str:
    """Drop a leading or trailing site name ("... - The Namibian", "POLITICO | ...")."""
    for separator in _TITLE_SEPARATORS:
        if separator not in title:
            continue
        # Unspaced separators also join words ("US-Sport"): only an exact site name goes there.
        strict = separator in _BARE_SEPARATORS
        parts = title.split(separator)
        cut: list[str] = []
        while len(parts) > 1 and _is_site_name(parts[-1].strip(), sites, strict=strict):
            cut.append(parts.pop().strip())
        while len(parts) > 1 and _is_site_name(parts[0].strip(), sites, strict=strict):
            cut.append(parts.pop(0).strip())
        if cut:
            title = separator.join(parts).strip()
            if removed is not None:
                removed.extend(cut)
    return title.strip()


def _is_logo(node: LexborNode, base: str) -> bool:
    """An h1 that is the site's logo or name: a link home, or marked as the logo."""
    marker = f"{node.attributes.get('class') or ''} {node.attributes.get('id') or ''}".lower()
    if "logo" in marker or "brand" in marker or "site-title" in marker or "sitename" in marker:
        return True
    anchor = node.css_first("a[href]")
    if anchor is None:
        return False
    target = _http(anchor.attributes.get("href"), base)
    if target is None:
        return False
    path = target.split("://", 1)[-1].partition("/")[2]
    return path.strip("/") in ("", "node", "index.html", "index.php") and host_of(target) == host_of(base)


def _untruncated(title: str, others: list[str]) -> str:
    """A title cut short (an ellipsis, a quote that broke the attribute) is whole in another source."""
    stem = title.rstrip(".… ")
    if len(stem) < 20:
        return title
    for other in others:
        rest = other[len(stem) :].lstrip()
        # Longer, and not by a site name after a separator: the whole of what this one cut.
        if (
            len(other) > len(title)
            and other.startswith(stem)
            and rest[:1] not in ("-", "|", "–", "—", "·", ":")
        ):
            return other
    return title


def _heading_text(node: LexborNode) -> str:
    """An h1's text without a kicker the markup glued into it (<h1><span class=kicker>…</span>…)."""
    text = clean_text(node.text(separator=" "), limit=MAX_TITLE)
    kicker = node.css_first(_KICKER_SELECTOR)
    if kicker is not None:
        glued = clean_text(kicker.text(separator=" "), limit=MAX_TITLE)
        if glued and text.startswith(glued) and len(text) > len(glued) + 3:
            return text[len(glued) :].lstrip(" :–—-|")
    return text


def _choose_title(
    tree: LexborHTMLParser,
    meta: dict[str, list[str]],
    sites: set[str],
    ld_nodes: list[dict[str, Any]],
    doc_title: Any,
    base: str,
) -> str:
    """The headline as the reader sees it, without the site's name, the kicker or a logo."""
    removed: list[str] = []
    page_title = _text_of(tree, "title", MAX_TITLE)
    page_title = strip_site_name(page_title, sites, removed) if page_title else ""
    # What the <title> pattern cut off is the site's name as this page writes it.
    sites = sites | {_key(part) for part in removed if _key(part)}
    social = _first_meta(meta, "og:title", "twitter:title")
    social = strip_site_name(clean_text(social, limit=MAX_TITLE), sites) if social else ""
    headline = ""
    for node in ld_nodes:
        if _ld_types(node) & _ARTICLE_TYPES and isinstance(node.get("headline"), str):
            headline = strip_site_name(clean_text(node["headline"], limit=MAX_TITLE), sites)
            break
    headings = [_heading_text(node) for node in tree.css("h1")[:10] if not _is_logo(node, base)]
    headings = [h for h in headings if h and not _is_site_name(h, sites)]
    named = [t for t in (social, headline, page_title) if t]
    h1 = ""
    if len(headings) == 1:
        h1 = headings[0]
    elif headings:
        # Several h1s: the one the metadata agrees with.
        h1 = next((h for h in headings if any(_key(h) == _key(t) for t in named)), "")
    named = [_untruncated(t, named) for t in named]
    if h1:
        h1_key = _key(h1)
        for candidate in (social, page_title):
            key = _key(candidate)
            # The h1 glued a kicker (or a label) to the headline the metadata gives alone.
            if key and key != h1_key and key in h1_key and len(key) >= len(h1_key) // 2:
                return candidate
        return h1
    if isinstance(doc_title, str) and doc_title.strip():
        named.append(strip_site_name(clean_text(doc_title, limit=MAX_TITLE), sites))
    return next((t for t in named if t), "")


_AUTHOR_PLACEHOLDERS = frozenset(
    {"no author", "username", "admin", "administrator", "author", "editor", "editorial", "redaktion",
     "redacción", "redaccion", "staff", "null", "none", "undefined", "unknown", "anonymous",
     "webmaster", "guest", "submitted"}
)  # fmt: skip


def _good_author(value: Any, sites: set[str]) -> str | None:
    """An author's name, or None for a URL, a placeholder or the publisher's own name."""
    if not isinstance(value, str):
        return None
    author = clean_text(value, limit=MAX_SHORT).strip(" '\"")
    if not author or "://" in author or "www." in author or "@" in author:
        return None
    if author.casefold() in _AUTHOR_PLACEHOLDERS or _key(author) in sites:
        return None
    if any(len(site) >= 4 and site in _key(author) and len(_key(author)) <= len(site) + 4 for site in sites):
        return None  # "Deutsche Welle (www.dw.com)", "The Local"
    return author


# Between names in a byline: "A, B and C", "A; B", "A & B". Only ever run on MAX_SHORT characters.
_NAME_SEPARATORS = re.compile(r"\s*(?:[,;&]|\band\b|\bund\b|\by\b|\bet\b)\s*")
_ORGANISATION_WORDS = frozenset(
    {"gmbh", "inc", "ltd", "llc", "ag", "sa", "nast", "media", "group", "press", "agencies", "online",
     "newsroom", "desk", "drupal", "wordpress"}
)  # fmt: skip


def _person_names(value: Any, sites: set[str]) -> list[str]:
    """The people in an author string, without the publisher and organisations listed beside them."""
    if not isinstance(value, str):
        return []
    names: list[str] = []
    for part in value.split(";"):
        name = _good_author(part, sites)
        if name is None or name in names:
            continue
        words = {w.strip(".,()").casefold() for w in name.split()}
        if words & _ORGANISATION_WORDS:
            continue
        names.append(name)
    return names


def _choose_author(
    meta: dict[str, list[str]], ld_nodes: list[dict[str, Any]], sites: set[str], doc_author: Any
) -> str | None:
    candidates: list[Any] = [doc_author]
    for node in ld_nodes:
        if _ld_types(node) & _ARTICLE_TYPES:
            candidates.append("; ".join(_ld_names(node.get("author"))))
    meta_author = _first_meta(meta, "author", "article:author", "dc.creator", "byl", "sailthru.author")
    if meta_author and ("www." in meta_author or "://" in meta_author):
        # "Deutsche Welle (www.dw.com)": a name given with a web address is the publisher's.
        sites = sites | {_key(meta_author.split("(")[0])}
    candidates += [meta_author]
    for candidate in candidates:
        names = _person_names(candidate, sites)
        if not names:
            continue
        # trafilatura drops the dots of initials ("Leah C Stokes"): take the page's own spelling.
        spelled: dict[str, str] = {}
        for other in candidates[1:]:
            if isinstance(other, str):
                for part in _NAME_SEPARATORS.split(other[:MAX_SHORT]):
                    spelled.setdefault(_key(part), part.strip())
        return "; ".join(spelled.get(_key(name)) or name for name in names)
    # No person anywhere: trafilatura's own credit (an agency, "CNN Wire") beats nothing, but
    # never a URL, a placeholder or the publisher's own name.
    if isinstance(doc_author, str):
        credit = clean_text(doc_author, limit=MAX_SHORT)
        if _good_author(credit, sites):
            return credit
    return None


def _background_image(tree: LexborHTMLParser, base: str) -> str | None:
    """A cover picture set as a CSS background (style="background-image: url(...)")."""
    for node in tree.css("[style*=background]")[:50]:
        style = node.attributes.get("style") or ""
        start = style.find("url(")
        if start < 0:
            continue
        end = style.find(")", start)
        if end < 0:
            continue
        value = style[start + 4 : end].strip().strip("'\"")
        if value and not value.startswith("data:"):
            return _http(value, base)
    return None


def extract_article(
    content: bytes | str, *, url: str, selectors: ArticleSelectors | None = None, tz: tzinfo = UTC
) -> ArticlePage:
    """Extract text and metadata from an article page (no network access of any kind)."""
    # A preset's selectors win for each part they find; tz is the zone of times printed without
    # an offset.
    try:
        page = _extract(content, url)
    except Exception:
        logger.warning("Article %s could not be extracted", url, exc_info=True)
        return _empty(url)
    if selectors is None:
        return page
    try:
        return _apply_selectors(page, content, url, selectors, tz)
    except Exception:  # a preset selector lexbor refuses: the generic reading still stands
        logger.warning("Article %s: the preset's selectors failed", url, exc_info=True)
        return page


def _empty(url: str) -> ArticlePage:
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


def _selected_text(root: LexborNode, selector: str, limit: int) -> str:
    if not selector:
        return ""
    try:
        node = root.css_first(selector)
    except Exception:  # a malformed preset selector must not stop the reader
        logger.warning("Bad article selector %r", selector)
        return ""
    return clean_text(node.text(separator=" "), limit=limit) if node is not None else ""


def _apply_selectors(
    page: ArticlePage, content: bytes | str, url: str, selectors: ArticleSelectors, tz: tzinfo
) -> ArticlePage:
    """Let a preset's selectors say what they find; the generic reading stays for the rest."""
    html = decode_html(content[:MAX_PAGE_BYTES]) if isinstance(content, bytes) else content[:MAX_PAGE_CHARS]
    tree = LexborHTMLParser(cap_nesting(html, MAX_DEPTH))
    root = (tree.css_first(selectors.container) if selectors.container else None) or tree.root
    if root is None:
        return page
    base = page.canonical_url or url
    links: list[tuple[str, str]] = []
    seen = {normalize_url(url), *([page.canonical_url] if page.canonical_url else [])}
    blocks = list(tree.css(selectors.read_also)) if selectors.read_also else []
    for block in blocks:
        for anchor in block.css("a[href]")[:MAX_READ_ALSO]:
            link = _http(anchor.attributes.get("href"), base)
            title = _link_title(anchor)
            if link and link not in seen and len(title) >= 3:
                seen.add(link)
                links.append((title, link))
    # "Read also" inside the body is not the story's text. Only the outermost blocks are
    # destroyed: a nested one goes with its parent, and must not be touched after.
    marked = {block.mem_id for block in blocks}
    outermost = [b for b in blocks if b.parent is None or not inside_marked(b.parent, marked)]
    for block in outermost:
        block.decompose()
    published = None
    time_node = root.css_first(selectors.time) if selectors.time else None
    if time_node is not None:
        written = time_node.attributes.get("datetime") or clean_text(time_node.text(separator=" "), limit=100)
        published = parse_date(written, tz=tz)
    body = ""
    body_node = root.css_first(selectors.body) if selectors.body else None
    if body_node is not None:
        paragraphs = [clean_text(p.text(separator=" ")) for p in body_node.css("p")]
        body = "\n".join(p for p in paragraphs if p) or clean_text(body_node.text(separator=" "))
    image = None
    image_node = root.css_first(selectors.image) if selectors.image else None
    if image_node is not None:
        image = _http(image_node.attributes.get("src") or image_node.attributes.get("data-src"), base)
    return dataclasses.replace(
        page,
        title=_selected_text(root, selectors.title, MAX_TITLE) or page.title,
        kicker=_selected_text(root, selectors.kicker, MAX_SHORT) or page.kicker,
        category=_selected_text(root, selectors.category, MAX_SHORT) or page.category,
        author=_selected_text(root, selectors.author, MAX_SHORT) or page.author,
        published=published or page.published,
        text=body[:MAX_TEXT] or page.text,
        image_url=image or page.image_url,
        read_also=tuple([*links, *[x for x in page.read_also if x[1] not in seen]][:MAX_READ_ALSO]),
    )


def _extract(content: bytes | str, url: str) -> ArticlePage:
    # Beyond this no article has more to say; a bigger page is markup or an attack.
    html = decode_html(content[:MAX_PAGE_BYTES]) if isinstance(content, bytes) else content[:MAX_PAGE_CHARS]
    capped = cap_nesting(html, MAX_DEPTH)
    if len(capped) < len(html):
        logger.info("Article %s nested deeper than %d elements; cut at %d chars", url, MAX_DEPTH, len(capped))
        html = capped
    tree = LexborHTMLParser(html)
    meta = _meta(tree)
    ld_nodes = _json_ld(tree)
    document = _trafilatura(html, url, precise=True) if html.strip() else None
    text = _doc_text(document)
    if html.strip() and (len(text) < SHORT_TEXT or len(text) < COLLAPSE_SHARE * _paragraph_chars(tree)):
        # Precision sometimes throws the body away with the boilerplate: the default keeps it.
        fallback = _trafilatura(html, url, precise=False)
        if len(text) < COLLAPSE_SHARE * len(_doc_text(fallback)):
            document, text = fallback, _doc_text(fallback)

    def doc(name: str) -> Any:
        return getattr(document, name, None) if document is not None else None

    canonical_node = tree.css_first('link[rel~="canonical"][href]')
    canonical = _http(canonical_node.attributes.get("href") if canonical_node else None, url)
    canonical = canonical or _http(_first_meta(meta, "og:url"), url)
    sites = _site_keys(meta, ld_nodes, url, doc("sitename"))
    site_name = clean_text(_first_meta(meta, "og:site_name") or doc("sitename") or "", limit=MAX_SHORT)
    title = _choose_title(tree, meta, sites, ld_nodes, doc("title"), url)
    description_source = _first_meta(meta, "og:description", "description", "twitter:description")
    description = clean_text(description_source or doc("description") or "", limit=MAX_DESCRIPTION)
    author = _choose_author(meta, ld_nodes, sites, doc("author"))
    # JSON-LD datePublished is the publication; article:published_time is often the last edit.
    published = (
        parse_published(_ld_published(ld_nodes))
        or parse_published(
            _first_meta(
                meta, "article:published_time", "og:published_time", "datepublished", "date", "dc.date"
            )
        )
        or parse_published(doc("date"))
    )
    if published is not None:
        published = _publisher_offset(published, tree)
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
    image = image or _background_image(tree, url)
    kicker = _text_of(tree, _KICKER_SELECTOR, MAX_SHORT)
    if kicker and title and _key(kicker) == _key(title):
        kicker = None
    page_urls = {normalize_url(url)} | ({canonical} if canonical else set())
    return ArticlePage(
        url=url,
        canonical_url=canonical,
        title=title or None,
        text=text[:MAX_TEXT].strip(),
        description=description or None,
        kicker=kicker,
        author=author,
        published=published,
        category=category or None,
        tags=tuple(tags[:MAX_TAGS]),
        image_url=image,
        read_also=_read_also(tree, page_urls, canonical or url),
        site_name=site_name or None,
    )
