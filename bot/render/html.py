"""Building blocks for Telegram's HTML parse mode.

Everything that comes from the web goes through ``escape``, which also drops control and
bidi-override characters; only the tags Telegram allows are ever produced, and limits are
applied to plain text before markup is added, so a cut can never land inside a tag or an entity.
"""

from __future__ import annotations

import html
from urllib.parse import urlsplit

# Re-exported: every renderer measures with it, and one definition serves config checks too.
from bot.html_check import utf16_len as utf16_len

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
ANSWER_LIMIT = 200  # answerCallbackQuery text

# Characters that must never reach a reader: C0 and C1 controls (tab and newline excepted),
# DEL, the bidi marks, embeddings, overrides and isolates (U+202E can make a headline read
# backwards), lone surrogates (no valid UTF-8 exists for them) and the two noncharacters.
_UNSAFE = (
    [c for c in range(0x20) if c not in (0x09, 0x0A)]
    + list(range(0x7F, 0xA0))
    + [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
    + list(range(0xD800, 0xE000))
    + [0xFFFE, 0xFFFF]
)
_STRIP = dict.fromkeys(_UNSAFE)


def strip_controls(text: str) -> str:
    """Drop control, bidi-override and surrogate characters; keep newlines and tabs (linear)."""
    return text.translate(_STRIP)


def escape(text: str) -> str:
    """Escape text for Telegram HTML (``<``, ``>``, ``&`` and quotes), dropping unsafe characters."""
    return html.escape(strip_controls(text), quote=True)


def bold(text: str) -> str:
    return f"<b>{escape(text)}</b>"


def italic(text: str) -> str:
    return f"<i>{escape(text)}</i>"


def code(text: str) -> str:
    return f"<code>{escape(text)}</code>"


def link(text: str, url: str) -> str:
    """A link when the address is http(s); plain escaped text otherwise (never a javascript: link)."""
    url = strip_controls(url).strip()
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:  # e.g. an unbalanced "[" in the host part
        scheme = ""
    if scheme not in {"http", "https"} or len(url) > 2048:
        return escape(text)
    return f'<a href="{escape(url)}">{escape(text)}</a>'


def clip(text: str, limit: int) -> str:
    """Cut plain text to at most ``limit`` UTF-16 units, marking the cut (never splits a pair)."""
    text = strip_controls(text)
    if utf16_len(text) <= limit:
        return text
    out: list[str] = []
    used = 0
    for char in text:
        size = 2 if ord(char) > 0xFFFF else 1
        if used + size > limit - 1:
            break
        out.append(char)
        used += size
    return "".join(out) + "…"


def fit(html_text: str, fallback_plain: str, limit: int = MESSAGE_LIMIT) -> str:
    """The HTML when it fits Telegram's limit, else the plain text escaped and clipped to fit.

    The check counts the markup too, so it errs on the short side; the fallback keeps the words
    and loses only the formatting, and is escaped after clipping so no entity is ever cut.
    """
    if utf16_len(html_text) <= limit:
        return html_text
    clipped = clip(fallback_plain, limit)
    while utf16_len(html.escape(clipped, quote=True)) > limit:
        clipped = clip(clipped, max(utf16_len(clipped) // 2, 1))
    return html.escape(clipped, quote=True)
