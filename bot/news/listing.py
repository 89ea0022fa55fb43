"""Read "Latest news" ticker pages of sites that publish no feed; never raises."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from selectolax.lexbor import LexborHTMLParser, LexborNode

from bot.news.feeds import MAX_ITEMS, MAX_SHORT, MAX_TITLE, MAX_URL, clean_text, title_from_text
from bot.news.models import FeedItem, ParsedFeed
from bot.news.urls import normalize_url

logger = logging.getLogger(__name__)

MAX_PAGE_CHARS = 3_000_000
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

# Month names as news sites print them: English, Russian (nominative and genitive), Azerbaijani,
# Turkish.
_MONTH_NAMES = (
    "january январь января yanvar ocak",
    "february февраль февраля fevral şubat subat",
    "march март марта mart",
    "april апрель апреля aprel nisan",
    "may май мая mayıs mayis",
    "june июнь июня iyun haziran",
    "july июль июля iyul temmuz",
    "august август августа avqust ağustos agustos",
    "september сентябрь сентября sentyabr eylül eylul",
    "october октябрь октября oktyabr ekim",
    "november ноябрь ноября noyabr kasım kasim",
    "december декабрь декабря dekabr aralık aralik",
)


def _month_table() -> dict[str, int]:
    table: dict[str, int] = {}
    for number, names in enumerate(_MONTH_NAMES, start=1):
        for name in names.split():
            table[name] = number
            table.setdefault(name[:3], number)  # "Jul", "Sep", "окт"
    return table


_MONTHS = _month_table()
_CLOCK = re.compile(r"(?<!\d)([01]?\d|2[0-3])[:.h]([0-5]\d)(?::([0-5]\d))?(?!\d)")
_NUMERIC_DMY = re.compile(r"(?<!\d)(\d{1,2})[./-](\d{1,2})[./-](\d{4}|\d{2})(?!\d)")
_NUMERIC_YMD = re.compile(r"(?<!\d)(\d{4})[./-](\d{1,2})[./-](\d{1,2})(?!\d)")
_WORD_DMY = re.compile(r"(?<!\d)(\d{1,2})\.?\s+([^\W\d_]{3,})\.?,?\s+(\d{4})(?!\d)")
_WORD_MDY = re.compile(r"([^\W\d_]{3,})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})(?!\d)")
_TODAY = ("today", "сегодня", "bu gün", "bugün", "bugun")
_YESTERDAY = ("yesterday", "вчера", "dünən", "dunen", "dün")


def _month(word: str) -> int | None:
    word = word.lower()
    return _MONTHS.get(word) or _MONTHS.get(word[:3])


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
    raw = text.strip()
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
    lowered = raw.lower()
    local_now = (now or datetime.now(UTC)).astimezone(tz)
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
_NO_DEPTH = frozenset(
    "area base br col embed hr img input link meta source track wbr p li dt dd option optgroup tr td th"
    " thead tbody tfoot colgroup rb rt rp caption".split()
)
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]{0,30})")


def cap_nesting(html: str, limit: int) -> str:
    """Cut the page where its elements nest deeper than limit (one linear scan of the tags).

    HTML parsers check open elements on every tag, so a page nested thousands deep costs time
    quadratic in its depth (a 2 MB page took over a minute): no real page nests that deep.
    """
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
        close = html.find(">", position)
        if name in _NO_DEPTH or (close > 0 and html[close - 1] == "/"):
            continue
        depth += 1
        if depth > limit:
            return html[: match.start()]


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
) -> ParsedFeed:
    """Read the items of a ticker page; times are read in tz and returned in UTC."""
    try:
        html = decode_html(content) if isinstance(content, bytes) else content
        tree = LexborHTMLParser(html[:MAX_PAGE_CHARS])
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
        if not items:
            error = "no items matched the listing selectors"
            return ParsedFeed(title=page_title or None, items=(), error=error)
        return ParsedFeed(title=page_title or None, items=tuple(items))
    except Exception as exc:  # a page must never take the ingest loop down
        logger.warning("Listing %s could not be parsed", url, exc_info=True)
        return ParsedFeed(title=None, items=(), error=f"parser failure: {type(exc).__name__}: {exc}")
