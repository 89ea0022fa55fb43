"""Messages that list several items: /latest, digests, quiet-hours batches."""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from bot.i18n import Translate
from bot.models import Article
from bot.render.articles import format_time
from bot.render.html import MESSAGE_LIMIT, bold, escape, link, utf16_len
from bot.text import shorten


def _line(article: Article, tz: ZoneInfo) -> str:
    when = escape(format_time(article.published_at, tz))
    category = f" · {escape(article.category)}" if article.category else ""
    return f"• {link(shorten(article.title, 200), article.url)}\n  <i>{when}{category}</i>"


def item_list(heading: str, items: Sequence[Article], *, tz: str) -> list[str]:
    """Split a heading and item lines into as few messages as Telegram's limit allows."""
    zone = ZoneInfo(tz)
    messages: list[str] = []
    current = bold(heading)
    for article in items:
        line = _line(article, zone)
        if utf16_len(current) + 2 + utf16_len(line) > MESSAGE_LIMIT:
            messages.append(current)
            current = line
        else:
            current += "\n\n" + line
    messages.append(current)
    return messages


def latest_list(items: Sequence[Article], *, tz: str, translate: Translate) -> str:
    # At most 20 items of at most ~400 characters each: one message always suffices.
    return item_list(translate("Latest news"), items, tz=tz)[0]
