"""Read "Latest news" ticker pages of sites that publish no feed; never raises."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo

from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from bot.items import FeedItem, ParsedFeed
from bot.news.dates import MONTHS, parse_date
from bot.news.feeds import MAX_ITEMS, MAX_SHORT, MAX_TITLE, MAX_URL, clean_text, title_from_text
from bot.urls import host_of, normalize_url

logger = logging.getLogger(__name__)

MAX_PAGE_CHARS = 3_000_000
MAX_DEPTH = 120
# A clock time a few minutes ahead of ours is clock skew; more than that means "yesterday".
_FUTURE_SLACK = timedelta(minutes=10)


@dataclass(frozen=True)
class ListingSelectors:
    """CSS selectors that find the items of a ticker page and their parts (relative to an item)."""

    item: str
    title: str
    link: str
    time: str | None
    kicker: str | None
    tag: str | None


DEFAULT_SELECTORS = ListingSelectors(
    item=".news-item, .latest-news li, .news-list li, .news-feed li",
    title=".news-item__title, .title, h3, h2, h4",
    link="a[href]",
    time="time, .news-item__date, .date, .time",
    kicker=".news-item__subtitle, .subtitle, .kicker, .lead",
    tag=".news-item__tag, .tag, .label, .badge",
)
# The keys a source's ``selectors`` table may set; config checking refuses any other.
SELECTOR_KEYS: frozenset[str] = frozenset(f.name for f in fields(ListingSelectors))

# A zone nobody uses: parse_date returns it when the text named no offset, so ours applies.
_UNWRITTEN = timezone(timedelta(seconds=1))
_CLOCK = re.compile(r"(?<!\d)([01]?\d|2[0-3])[:.h]([0-5]\d)(?::([0-5]\d))?(?!\d)")
_NUMERIC_DMY = re.compile(r"(?<!\d)(\d{1,2})[./-](\d{1,2})[./-](\d{4}|\d{2})(?!\d)")
_NUMERIC_YMD = re.compile(r"(?<!\d)(\d{4})[./-](\d{1,2})[./-](\d{1,2})(?!\d)")
_WORD_DMY = re.compile(r"(?<!\d)(\d{1,2})\.?\s+([^\W\d_]{3,})\.?,?\s+(\d{4})(?!\d)")
_WORD_MDY = re.compile(r"([^\W\d_]{3,})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})(?!\d)")
_TODAY = ("today", "сегодня", "bu gün", "bugün", "bugun")
_YESTERDAY = ("yesterday", "вчера", "dünən", "dunen", "dün")


def _month(word: str) -> int | None:
    word = word.lower().rstrip(".")
    return MONTHS.get(word) or MONTHS.get(word[:3])


def _find_date(text: str) -> date | None:
    candidates: list[tuple[int, int, int]] = []
    if match := _NUMERIC_YMD.search(text):
        candidates.append((int(match[1]), int(match[2]), int(match[3])))
    if match := _NUMERIC_DMY.search(text):
        year = int(match[3])
        candidates.append((year + 2000 if year < 100 else year, int(match[2]), int(match[1])))
    if (match := _WORD_DMY.search(text)) and (month := _month(match[2])):
        candidates.append((int(match[3]), month, int(match[1])))
    if (match := _WORD_MDY.search(text)) and (month := _month(match[1])):
        candidates.append((int(match[3]), month, int(match[2])))
    for year, month, day in candidates:
        try:
            return date(year, month, day)
        except ValueError:
            continue
    return None


def parse_site_time(text: str, *, tz: tzinfo = UTC, now: datetime | None = None) -> datetime | None:
    """Parse a ticker time stamp printed in the site's timezone; return it in UTC (None if unknown)."""
    # Capped: _WORD_MDY backtracks over a long run of letters, quadratic in its length.
    raw = text.strip()[:200]
    if not raw:
        return None
    iso = raw.replace("Z", "+00:00") if raw.endswith("Z") else raw
    try:
        parsed = datetime.fromisoformat(iso)
    except ValueError:
        pass
    else:
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=tz)
        return parsed.astimezone(UTC)
    local_now = (now or datetime.now(UTC)).astimezone(tz)
    # Dates with month and day names in any of the languages bot.news.dates knows.
    written = parse_date(raw, tz=_UNWRITTEN, now=local_now)
    if written is not None:
        if written.tzinfo is _UNWRITTEN:
            written = written.replace(tzinfo=tz)
        return written.astimezone(UTC)
    lowered = raw.lower()
    clock = _CLOCK.search(_NUMERIC_DMY.sub(" ", _NUMERIC_YMD.sub(" ", lowered)))
    hour, minute, second = (int(clock[1]), int(clock[2]), int(clock[3] or 0)) if clock else (0, 0, 0)
    day = _find_date(lowered)
    relative = False
    if day is None and (_NUMERIC_DMY.search(lowered) or _NUMERIC_YMD.search(lowered)):
        return None  # a date was printed but it is impossible (31.02): do not guess "today"
    if day is None:
        if any(word in lowered for word in _YESTERDAY):
            day = local_now.date() - timedelta(days=1)
        elif clock is not None:
            day = local_now.date()
            relative = not any(word in lowered for word in _TODAY)
        else:
            return None
    try:
        local = datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=tz)
    except ValueError:
        return None
    if relative and local > local_now + _FUTURE_SLACK:
        # "23:55" read at 00:10 belongs to the day before.
        local -= timedelta(days=1)
    return local.astimezone(UTC)


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.I)


def decode_html(content: bytes) -> str:
    """Decode an HTML page: UTF-8 when it is valid, else the meta charset, else windows-1252."""
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    match = _META_CHARSET.search(content[:4096])
    if match:
        try:
            return content.decode(match.group(1).decode("ascii"), errors="replace")
        except LookupError:
            pass
    return content.decode("cp1252", errors="replace")


# Tags that never nest (void) or whose end tag is optional: counting them would inflate the depth.
_NO_DEPTH = frozenset((
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr", "p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "thead", "tbody", "tfoot",
    "colgroup", "rb", "rt", "rp", "caption",
))  # fmt: skip
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]{0,30})")


def cap_nesting(html: str, limit: int) -> str:
    """Cut the page where its elements nest deeper than limit (one linear scan of the tags)."""
    # HTML parsers check open elements on every tag, so a page nested thousands deep costs time
    # quadratic in its depth (a 2 MB page took over a minute): no real page nests that deep.
    depth = 0
    position = 0
    while True:
        match = _TAG.search(html, position)
        if match is None:
            return html
        position = match.end()
        name = match.group(2).lower()
        if match.group(1):
            depth = max(0, depth - (name not in _NO_DEPTH))
            continue
        if name in ("script", "style", "textarea", "title"):
            end = html.find(f"</{name}", position)
            position = len(html) if end < 0 else end
            continue
        # Bounded: a page of "<a<a<a…" with no ">" must not make every tag scan to the end.
        close = html.find(">", position, position + 4096)
        if name in _NO_DEPTH or (close > 0 and html[close - 1] == "/"):
            continue
        depth += 1
        if depth > limit:
            return html[: match.start()]


def is_valid_selector(css: str) -> bool:
    """True when selectolax can parse ``css`` (config checking refuses the others)."""
    try:
        LexborHTMLParser("<p></p>").css(css)
    except SelectolaxError:
        return False
    return True


def _first(node: LexborNode, selector: str | None) -> LexborNode | None:
    if not selector:
        return None
    try:
        return node.css_first(selector)
    except Exception:  # a malformed operator-supplied selector must not stop ingestion
        logger.warning("Bad listing selector %r", selector)
        return None


def _all(node: LexborNode, selector: str | None) -> list[LexborNode]:
    if not selector:
        return []
    try:
        return list(node.css(selector))
    except Exception:
        logger.warning("Bad listing selector %r", selector)
        return []


def _text(node: LexborNode | None, limit: int) -> str:
    if node is None:
        return ""
    return clean_text(node.text(separator=" "), limit=limit)


def _link(item: LexborNode, selectors: ListingSelectors, base: str) -> str | None:
    candidates = [item] if item.tag == "a" else []
    candidates += _all(item, selectors.link)
    for node in candidates:
        href = node.attributes.get("href")
        if not href or href.startswith(("#", "javascript:", "mailto:")):
            continue
        url = normalize_url(href, base=base)
        if url.startswith(("http://", "https://")) and len(url) <= MAX_URL:
            return url
    return None


def _item(
    node: LexborNode, selectors: ListingSelectors, base: str, tz: tzinfo, now: datetime
) -> FeedItem | None:
    url = _link(node, selectors, base)
    if url is None:
        return None
    title = _text(_first(node, selectors.title), MAX_TITLE)
    if not title:
        anchor = node if node.tag == "a" else _first(node, selectors.link)
        title = title_from_text(_text(anchor, MAX_TITLE))
    if not title:
        return None
    published = None
    time_node = _first(node, selectors.time)
    if time_node is not None:
        stamp = time_node.attributes.get("datetime") or ""
        published = parse_site_time(stamp, tz=tz, now=now) if stamp else None
        published = published or parse_site_time(_text(time_node, 100), tz=tz, now=now)
    tags: list[str] = []
    for tag_node in _all(node, selectors.tag):
        tag = _text(tag_node, MAX_SHORT)
        if tag and tag not in tags:
            tags.append(tag)
    kicker = _text(_first(node, selectors.kicker), MAX_SHORT) or None
    image = _first(node, "img[src]")
    image_src = image.attributes.get("src") if image is not None else None
    image_url = normalize_url(image_src, base=base) if image_src else None
    return FeedItem(
        guid=url,
        url=url,
        title=title,
        kicker=kicker if kicker != title else None,
        image_url=image_url if image_url and image_url.startswith(("http://", "https://")) else None,
        published=published,
        tags=tuple(tags[:10]),
    )


def parse_listing(
    content: bytes | str,
    *,
    url: str,
    selectors: ListingSelectors = DEFAULT_SELECTORS,
    tz: tzinfo = UTC,
    now: datetime | None = None,
    generic: bool = True,
) -> ParsedFeed:
    """Read a ticker page's items, times in tz returned in UTC; the generic reader if none match."""
    try:
        html = decode_html(content) if isinstance(content, bytes) else content
        html = cap_nesting(html[:MAX_PAGE_CHARS], MAX_DEPTH)
        tree = LexborHTMLParser(html)
        title_node = tree.css_first("title")
        page_title = clean_text(title_node.text(), limit=MAX_TITLE) if title_node else None
        moment = now or datetime.now(UTC)
        seen: set[str] = set()
        items: list[FeedItem] = []
        root = tree.root
        nodes = _all(root, selectors.item) if root is not None else []
        for node in nodes:
            item = _item(node, selectors, url, tz, moment)
            if item is None or item.guid in seen:
                continue
            seen.add(item.guid)
            items.append(item)
            if len(items) >= MAX_ITEMS:
                break
        if not items and generic:
            # No selector matched: read the page's repeated lists of story links instead.
            if selectors != DEFAULT_SELECTORS:
                logger.warning("Listing %s: its selectors matched nothing; read by the generic reader", url)
            return read_any_listing(html, url=url, tz=tz, now=moment)
        if not items:
            error = "no items matched the listing selectors"
            return ParsedFeed(title=page_title or None, items=(), error=error)
        return ParsedFeed(title=page_title or None, items=tuple(items))
    except Exception as exc:  # a page must never take the ingest loop down
        logger.warning("Listing %s could not be parsed", url, exc_info=True)
        return ParsedFeed(title=None, items=(), error=f"parser failure: {type(exc).__name__}: {exc}")


# ---------------------------------------------------------------------------------------------
# The generic reader: pages with no feed and no selectors that match.

MAX_ANCHORS = 5000
MIN_GROUP = 3
_ANCESTRY = 12  # levels of parents that make an anchor's structural signature
# Blocks that are never the news list: menus, footers, rankings and the like, by tag or marker.
_JUNK_TAGS = "nav, footer, form, script, style, noscript, template, svg, iframe, select, button"
# A class or id word that starts with one of these marks a menu, a footer and the like.
_JUNK_WORDS = (
    "nav", "menu", "footer", "breadcrumb", "cookie", "social", "share", "newsletter", "subscribe",
    "login", "signin", "search", "pagination", "pager", "copyright", "sitemap", "skip", "masthead",
    "toolbar", "dropdown",
)  # fmt: skip
# Rankings ("most read", "trending") anywhere in a class, even inside a compound name such as
# "dfm-sidebar-most-popular-flex" or "RecircMostPopularWrapper" (compared without - and _).
_JUNK_INSIDE = (
    "mostread", "mostpopular", "mostviewed", "mostshared", "mostcommented", "topread", "trending",
    "popular", "meistgelesen", "masleido", "masvisto", "maislid", "cokokunan", "populyar",
    "ranking", "tagcloud", "hotnews", "newsletter", "breadcrumb", "pagination",
)  # fmt: skip
# Paths that are sections, not stories.
_NOT_ARTICLE_SEGMENTS = frozenset((
    "tag", "tags", "author", "authors", "category", "categories", "topic", "topics", "section",
    "search", "login", "signin", "signup", "register", "subscribe", "account", "page", "about",
    "contact", "privacy", "terms", "rss", "feed", "feeds", "archive", "archives", "video", "videos",
    "photo", "photos", "gallery", "galleries", "live", "weather", "horoscope", "podcasts",
    "newsletters", "user", "profile", "archiv", "mehr",
))  # fmt: skip
_MEDIA_TAGS = {
    "photo": "PHOTO", "photos": "PHOTO", "foto": "PHOTO", "fotos": "PHOTO", "фото": "PHOTO",
    "video": "VIDEO", "vídeo": "VIDEO", "видео": "VIDEO", "gallery": "PHOTO", "audio": "AUDIO",
    "infographic": "INFOGRAPHIC", "infographics": "INFOGRAPHIC", "live": "LIVE", "exclusive": "EXCLUSIVE",
}  # fmt: skip
_DIGITS = re.compile(r"\d{4,}")


def _marker(node: LexborNode) -> str:
    return f"{node.attributes.get('class') or ''} {node.attributes.get('id') or ''}".lower()


def _is_junk(node: LexborNode) -> bool:
    marker = _marker(node)
    if not marker.strip():
        role = (node.attributes.get("role") or "").lower()
        return role in ("navigation", "contentinfo", "search", "menu", "menubar")
    words = re.split(r"[^a-z0-9_-]+", marker)
    if any(word.startswith(_JUNK_WORDS) for word in words if word):
        return True
    squashed = marker.replace("-", "").replace("_", "")
    return any(inside in squashed for inside in _JUNK_INSIDE)


def _strongly_article(url: str) -> bool:
    """An id, a date or a long slug in the path: menus and section links have none of these."""
    path = url.split("://", 1)[-1].partition("/")[2].partition("?")[0]
    last = [s for s in path.split("/") if s][-1:] or [""]
    return bool(_DIGITS.search(path)) or len(re.split(r"[-_]+", last[0])) >= 4


def article_shaped(url: str, site_host: str) -> bool:
    """A same-site address that looks like one story: a slug, an id or a dated path, not a section."""
    if host_of(url).removeprefix("www.") != site_host:
        return False
    path = url.split("://", 1)[-1].partition("/")[2].partition("?")[0].partition("#")[0]
    segments = [s for s in path.split("/") if s]
    if not segments:
        return False
    if any(s.lower() in _NOT_ARTICLE_SEGMENTS for s in segments[:-1]) and len(segments) <= 2:
        return False
    last = segments[-1].lower()
    if last in _NOT_ARTICLE_SEGMENTS:
        return False
    slug_words = len(re.split(r"[-_]+", last.rsplit(".", 1)[0]))
    has_id = bool(_DIGITS.search(path)) or "id=" in url
    return slug_words >= 3 or has_id or (len(segments) >= 3 and slug_words >= 2)


def headline_shaped(text: str) -> bool:
    """Anchor text that reads as a headline: several words, not a button or a date."""
    if not 20 <= len(text) <= MAX_TITLE:
        return False
    words = text.split()
    if len(words) < 3 and not any(ord(ch) > 0x2E80 for ch in text):  # CJK headlines have no spaces
        return False
    if text[0].islower():
        return False  # a sentence cut from a lead or a caption, not a headline
    return sum(ch.isalpha() for ch in text) >= len(text) // 2


def _signature(anchor: LexborNode) -> tuple[str, ...]:
    """The anchor's place in the page's structure: tags and first classes of its ancestors."""
    parts: list[str] = []
    node: LexborNode | None = anchor
    for _level in range(_ANCESTRY):
        if node is None or node.tag in ("html", "body", None):
            break
        classes = (node.attributes.get("class") or "").split()
        parts.append(f"{node.tag}.{classes[0] if classes else ''}")
        node = node.parent
    return tuple(parts)


def _ancestors(node: LexborNode, levels: int) -> list[LexborNode]:
    chain: list[LexborNode] = []
    current = node.parent
    while current is not None and len(chain) < levels:
        chain.append(current)
        current = current.parent
    return chain


def _item_box(anchors: list[LexborNode]) -> list[LexborNode]:
    """For each anchor of a group, the repeated element that holds it (its <li>, its card)."""
    chains = [[a, *_ancestors(a, 6)] for a in anchors]
    depth = min(len(chain) for chain in chains)
    box_level = 0
    for level in range(depth):
        ids = {chain[level].mem_id for chain in chains}
        if len(ids) < len(chains):
            break  # two anchors share this ancestor: the box is one level below
        box_level = level
    return [chain[box_level] for chain in chains]


def _box_details(
    box: LexborNode, anchor: LexborNode, title: str, tz: tzinfo, now: datetime
) -> tuple[datetime | None, tuple[str, ...], str | None]:
    """The time, PHOTO/VIDEO-like tags and kicker printed next to the link, when there are any."""
    published = None
    tags: list[str] = []
    kicker = None
    for node in box.css("*")[:80]:
        if node.tag in ("script", "style"):
            continue
        own = clean_text(node.text(deep=False, separator=" "), limit=MAX_SHORT)
        if node.tag == "time" or "date" in _marker(node) or "time" in _marker(node):
            stamp = node.attributes.get("datetime") or ""
            published = published or (parse_site_time(stamp, tz=tz, now=now) if stamp else None)
            published = published or parse_site_time(clean_text(node.text(), limit=100), tz=tz, now=now)
            continue
        if not own:
            continue
        label = _MEDIA_TAGS.get(own.lower().strip(" :"))
        if label and label not in tags:
            tags.append(label)
        elif published is None and len(own) <= 40 and (when := parse_site_time(own, tz=tz, now=now)):
            published = when
        elif kicker is None and own != title and len(own) >= 8 and own not in title and title not in own:
            kicker = own if headline_shaped(own) or len(own.split()) >= 2 else None
    for node in box.css("[class*=video], [class*=photo], [class*=gallery]")[:5]:
        marker = _marker(node)
        label = "VIDEO" if "video" in marker else "PHOTO"
        if label not in tags and not clean_text(node.text(), limit=50):
            tags.append(label)  # an icon, no text
    return published, tuple(tags), kicker


def read_any_listing(
    content: bytes | str, *, url: str, tz: tzinfo = UTC, now: datetime | None = None
) -> ParsedFeed:
    """Read a news page with no feed and no selectors: its repeated lists of same-site story links."""
    try:
        return _read_any(content, url, tz, now or datetime.now(UTC))
    except Exception as exc:  # a page must never take the ingest loop down
        logger.warning("Listing %s could not be read", url, exc_info=True)
        return ParsedFeed(title=None, items=(), error=f"parser failure: {type(exc).__name__}: {exc}")


def _read_any(content: bytes | str, url: str, tz: tzinfo, now: datetime) -> ParsedFeed:
    html = decode_html(content[:MAX_PAGE_CHARS]) if isinstance(content, bytes) else content[:MAX_PAGE_CHARS]
    tree = LexborHTMLParser(cap_nesting(html, MAX_DEPTH))
    title_node = tree.css_first("title")
    page_title = clean_text(title_node.text(), limit=MAX_TITLE) if title_node else None
    # Junk blocks are marked, not removed: destroying a block would leave its nested matches
    # pointing at freed nodes. A link inside any marked block is skipped.
    junk = {node.mem_id for node in tree.css(_JUNK_TAGS)}
    junk |= {
        node.mem_id
        for node in tree.css("[class], [id], [role]")
        if node.tag not in ("html", "body", "main") and _is_junk(node)
    }
    site_host = host_of(url).removeprefix("www.")
    page_key = normalize_url(url)
    groups: dict[tuple[str, ...], list[tuple[LexborNode, str, str]]] = {}
    for anchor in tree.css("a[href]")[:MAX_ANCHORS]:
        href = anchor.attributes.get("href") or ""
        if href.startswith(("#", "javascript:", "mailto:")):
            continue
        link = normalize_url(href, base=url)
        if link == page_key or len(link) > MAX_URL or not article_shaped(link, site_host):
            continue
        text = _anchor_title(anchor)
        if not headline_shaped(text) or inside_marked(anchor, junk):
            continue
        groups.setdefault(_signature(anchor), []).append((anchor, link, text))
    ranked = sorted(
        (
            members
            for members in groups.values()
            if len({link for _, link, _ in members}) >= MIN_GROUP
            # A group of section links ("Auto & Verkehr") is a menu, whatever its markup says.
            and 2 * sum(_strongly_article(link) for _, link, _ in members) >= len(members)
        ),
        key=lambda members: -sum(len(text) for _, _, text in members),
    )
    seen: set[str] = set()
    items: list[FeedItem] = []
    for members in ranked:
        boxes = _item_box([anchor for anchor, _, _ in members])
        for (anchor, link, text), box in zip(members, boxes, strict=True):
            if link in seen:
                continue
            seen.add(link)
            published, tags, kicker = _box_details(box, anchor, text, tz, now)
            first, _, rest = text.partition(" ")
            if rest and _MEDIA_TAGS.get(first.lower()) in tags:
                text = rest  # "Video Coronavirus: …": the label is a tag, not the headline
            image = box.css_first("img")
            image_url = _image_of(image, url) if image is not None else None
            items.append(
                FeedItem(
                    guid=link,
                    url=link,
                    title=text,
                    kicker=kicker,
                    published=published,
                    tags=tags,
                    image_url=image_url,
                )
            )
            if len(items) >= MAX_ITEMS:
                break
    if not items:
        return ParsedFeed(title=page_title or None, items=(), error="no list of stories found on the page")
    return ParsedFeed(title=page_title or None, items=tuple(items))


def _image_of(image: LexborNode, base: str) -> str | None:
    """An <img>'s picture; lazy-loading pages keep it in data-src and put a placeholder in src."""
    for name in ("data-src", "data-lazy-src", "data-original", "src"):
        value = image.attributes.get(name)
        if value and not value.startswith("data:"):
            url = normalize_url(value, base=base)
            if url.startswith(("http://", "https://")) and len(url) <= MAX_URL:
                return url
    return None


def inside_marked(node: LexborNode, marked: set[int]) -> bool:
    """Whether node or one of its ancestors is marked (nesting is capped, so this is bounded)."""
    current: LexborNode | None = node
    while current is not None:
        if current.mem_id in marked:
            return True
        current = current.parent
    return False


def _anchor_title(anchor: LexborNode) -> str:
    for selector in ("[class*=title]", "h1, h2, h3, h4, h5"):
        node = anchor.css_first(selector)
        if node is not None:
            text = clean_text(node.text(separator=" "), limit=MAX_TITLE)
            if text:
                return text
    text = clean_text(anchor.text(separator=" "), limit=MAX_TITLE)
    return text or clean_text(anchor.attributes.get("title") or "", limit=MAX_TITLE)
