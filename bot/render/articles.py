"""How one news item looks in a chat."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime

from bot.i18n import Translate
from bot.models import Article
from bot.render.html import MESSAGE_LIMIT, bold, escape, italic, link, strip_controls, utf16_len
from bot.text import collapse_spaces, shorten

TITLE_LIMIT = 300
LEAD_LIMIT = 600
LABEL_LIMIT = 60  # kicker, category, source name: short labels, whatever the feed says
_TAG_MARKS = {"photo": "📷", "video": "🎥", "foto": "📷", "видео": "🎥", "фото": "📷"}


def format_time(moment: datetime, tz: ZoneInfo, translate: Translate | None = None) -> str:
    """A time in the chat's zone and language, with the zone named, e.g. "26 Jul 2024, 20:55 +04"."""
    local = moment.astimezone(tz)
    locale = translate.locale if translate is not None else "en"
    return format_datetime(local, "d MMM y, HH:mm", locale=locale) + " " + (local.tzname() or tz.key)


def label(text: str | None, limit: int = LABEL_LIMIT) -> str:
    """A one-line label from web text: controls dropped, whitespace collapsed, shortened."""
    return shorten(collapse_spaces(strip_controls(text or "")), limit)


def article_message(
    article: Article, *, tz: ZoneInfo, translate: Translate, lead_limit: int = LEAD_LIMIT
) -> str:
    """The HTML of one pushed item: linked bold title, source, kicker/category and time, a short lead."""
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
    if category := label(article.category):
        meta.append(escape(category))
    meta.append(escape(format_time(article.published_at, tz, translate)))
    parts = [head, " · ".join(meta)]
    lead = shorten(strip_controls(article.lead or ""), lead_limit)
    if lead and lead != title:
        parts.append("")
        parts.append(escape(lead))
    text = "\n".join(parts)
    # Every part above is capped, which keeps us far below 4096; a smaller lead is the way out
    # if the caps ever change (a lead of 0 leaves a few hundred characters at most).
    if utf16_len(text) > MESSAGE_LIMIT and lead_limit > 0:
        return article_message(article, tz=tz, translate=translate, lead_limit=lead_limit // 2)
    return text
