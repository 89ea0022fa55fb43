"""How one news item looks in a chat."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from bot.html_check import visible
from bot.i18n import Translate
from bot.models import Article
from bot.render.html import MESSAGE_LIMIT, bold, escape, italic, link, strip_controls, utf16_len
from bot.text import collapse_spaces, shorten

TITLE_LIMIT = 300
LEAD_LIMIT = 600
LABEL_LIMIT = 60  # kicker, category, source name: short labels, whatever the feed says
RECENT_MINUTES = 60  # younger items say "5 min ago"; older ones the time in the chat's zone
_TAG_MARKS = {"photo": "📷", "video": "🎥", "foto": "📷", "видео": "🎥", "фото": "📷"}


def format_time(moment: datetime, tz: ZoneInfo, translate: Translate | None = None) -> str:
    """A time in the chat's zone and language, with the zone named, e.g. "26 Jul 2024, 20:55 +04"."""
    local = moment.astimezone(tz)
    locale = translate.locale if translate is not None else "en"
    return format_datetime(local, "d MMM y, HH:mm", locale=locale) + " " + (local.tzname() or tz.key)


def minutes_ago(article: Article, now: float) -> int:
    """The item's age in whole minutes at ``now``, or -1 once too old to say so (or from the future)."""
    age = int((now - article.published_at.timestamp()) // 60)
    return age if 0 <= age < RECENT_MINUTES else -1


def when(moment: datetime, tz: ZoneInfo, translate: Translate, minutes_ago: int | None = None) -> str:
    """Say "5 min ago" for an item published within the hour, else its zoned ``format_time``."""
    if minutes_ago is None or not 0 <= minutes_ago < RECENT_MINUTES:  # -1: too old to say
        return format_time(moment, tz, translate)
    if minutes_ago == 0:
        return translate("just now")
    return translate("{n} min ago").format(n=minutes_ago)


def label(text: str | None, limit: int = LABEL_LIMIT) -> str:
    """A one-line label from web text: controls dropped, whitespace collapsed, shortened."""
    return shorten(collapse_spaces(strip_controls(text or "")), limit)


def article_message(
    article: Article,
    *,
    tz: ZoneInfo,
    translate: Translate,
    lead_limit: int = LEAD_LIMIT,
    short: bool = False,
    minutes_ago: int | None = None,
    limit: int = MESSAGE_LIMIT,
) -> str:
    """The HTML of one pushed item: linked bold title, source, kicker/category and time, a short lead.

    ``short`` leaves the lead out; ``minutes_ago`` (the item's age when sent) makes a recent time
    relative; ``limit`` is what the reader may see of it (1,024 for a photo's caption).
    """
    title = label(article.title, TITLE_LIMIT) or translate("(untitled)")
    marks = "".join(_TAG_MARKS[t.lower()] for t in article.tags if t.lower() in _TAG_MARKS)
    head = f"<b>{link(title, article.url)}</b>" + (f" {marks}" if marks else "")
    if article.breaking:
        head = bold(translate("Breaking")) + " · " + head
    meta = []
    if source := label(article.source_name):
        meta.append(bold(source))
    if kicker := label(article.kicker):
        meta.append(italic(kicker))
    if category := label(article.category or article.source_category):
        meta.append(escape(category))
    meta.append(escape(when(article.published_at, tz, translate, minutes_ago)))
    parts = [head, " · ".join(meta)]
    lead = "" if short else shorten(strip_controls(article.lead or ""), lead_limit)
    if lead and lead != title:
        parts.append("")
        parts.append(escape(lead))
    text = "\n".join(parts)
    # Every part but the lead is capped, to about 550 visible characters in all: a smaller lead
    # is the way into any limit (a caption's 1,024 included), and the markup itself stays far
    # below 4,096 whatever the lead.
    if lead and lead_limit > 0 and (utf16_len(text) > MESSAGE_LIMIT or utf16_len(visible(text)) > limit):
        return article_message(
            article,
            tz=tz,
            translate=translate,
            lead_limit=lead_limit // 2,
            minutes_ago=minutes_ago,
            limit=limit,
        )
    return text
