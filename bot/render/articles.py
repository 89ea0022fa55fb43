"""How one news item looks in a chat."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.i18n import Translate
from bot.models import Article
from bot.render.html import MESSAGE_LIMIT, bold, escape, italic, link, utf16_len
from bot.text import shorten

TITLE_LIMIT = 300
LEAD_LIMIT = 600
_TAG_MARKS = {"photo": "📷", "video": "🎥", "foto": "📷", "видео": "🎥", "фото": "📷"}


def format_time(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%d %b %Y, %H:%M")


def article_message(
    article: Article, *, tz: ZoneInfo, translate: Translate, lead_limit: int = LEAD_LIMIT
) -> str:
    """The HTML of one pushed item: linked bold title, kicker/category and time, a short lead."""
    title = shorten(article.title, TITLE_LIMIT) or translate("(untitled)")
    marks = "".join(_TAG_MARKS[t.lower()] for t in article.tags if t.lower() in _TAG_MARKS)
    head = f"<b>{link(title, article.url)}</b>" + (f" {marks}" if marks else "")
    if article.breaking:
        head = bold(translate("Breaking")) + " · " + head
    meta = [italic(article.kicker)] if article.kicker else []
    if article.category:
        meta.append(escape(article.category))
    meta.append(escape(format_time(article.published_at, tz)))
    parts = [head, " · ".join(meta)]
    lead = shorten(article.lead, lead_limit)
    if lead and lead != title:
        parts.append("")
        parts.append(escape(lead))
    text = "\n".join(parts)
    # The caps above keep us far below 4096; this guards the invariant if they ever change.
    if utf16_len(text) > MESSAGE_LIMIT:
        return article_message(article, tz=tz, translate=translate, lead_limit=lead_limit // 2)
    return text
