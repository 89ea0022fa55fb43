"""Building blocks for Telegram's HTML parse mode.

Everything that comes from the web goes through ``escape``; only the tags Telegram allows are
ever produced, and limits are applied to plain text before markup is added, so a cut can never
land inside a tag or an entity.
"""

from __future__ import annotations

import html
from urllib.parse import urlsplit

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024


def escape(text: str) -> str:
    """Escape text for Telegram HTML (``<``, ``>``, ``&`` and quotes)."""
    return html.escape(text, quote=True)


def bold(text: str) -> str:
    return f"<b>{escape(text)}</b>"


def italic(text: str) -> str:
    return f"<i>{escape(text)}</i>"


def link(text: str, url: str) -> str:
    """A link when the address is http(s); plain escaped text otherwise (never a javascript: link)."""
    if urlsplit(url).scheme.lower() not in {"http", "https"}:
        return escape(text)
    return f'<a href="{escape(url)}">{escape(text)}</a>'


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2
