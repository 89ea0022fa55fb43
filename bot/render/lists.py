"""Messages that list several items: digests and quiet-hours batches."""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from bot.i18n import Translate
from bot.models import Article
from bot.render.articles import format_time, label
from bot.render.html import MESSAGE_LIMIT, bold, escape, fit, link, utf16_len

LINE_TITLE_LIMIT = 200


def _line(article: Article, tz: ZoneInfo, translate: Translate | None) -> str:
    when = escape(format_time(article.published_at, tz, translate))
    extras = [label(article.source_name), label(article.category)]
    tail = "".join(f" · {escape(x)}" for x in extras if x)
    title = label(article.title, LINE_TITLE_LIMIT) or "…"
    return f"• {link(title, article.url)}\n  <i>{when}{tail}</i>"


def item_list(
    heading: str, items: Sequence[Article], *, tz: str, translate: Translate | None = None
) -> list[str]:
    """Split a heading and item lines into as few messages as Telegram's limit allows."""
    zone = ZoneInfo(tz)
    messages: list[str] = []
    current = fit(bold(heading), heading)
    for article in items:
        line = _line(article, zone, translate)
        if utf16_len(current) + 2 + utf16_len(line) > MESSAGE_LIMIT:
            messages.append(current)
            current = line
        else:
            current += "\n\n" + line
    messages.append(current)
    return messages
