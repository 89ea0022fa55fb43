"""Checking Telegram HTML written by the operator (a channel's footer) when the config loads.

It sits low in the house, beside ``bot.text``, because config validation needs it before any
renderer is imported; ``bot.render`` measures its own posts with ``visible``.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

FOOTER_LIMIT = 300
_ALLOWED = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "tg-spoiler"}


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


class _Plain(HTMLParser):
    """Collects the visible text of Telegram HTML and notes anything Telegram would refuse."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.problem: str | None = None
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _ALLOWED:
            self.problem = self.problem or f"tag <{tag}> is not allowed in Telegram HTML"
        elif tag == "a" and not any(
            k == "href" and v and v.startswith(("http://", "https://", "tg://")) for k, v in attrs
        ):
            self.problem = self.problem or "a link needs an http(s) href"
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.problem = self.problem or f"</{tag}> does not close the last open tag"
        else:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible(html_text: str) -> str:
    """The text a reader sees of Telegram HTML (what the length limits count)."""
    parser = _Plain()
    parser.feed(html_text)
    parser.close()
    return "".join(parser.parts)


def footer_problem(footer: str) -> str | None:
    """Why an operator's footer would be refused by Telegram, or None when it is fine."""
    if utf16_len(footer) > FOOTER_LIMIT:
        return f"is longer than {FOOTER_LIMIT} characters"
    if "\n" in footer.strip():
        return "must be one line"
    parser = _Plain()
    parser.feed(footer)
    parser.close()
    if parser.problem is None and parser.open:
        return f"<{parser.open[-1]}> is never closed"
    if parser.problem is None and re.search(r"<(?![a-zA-Z/])", footer):
        return "has a bare '<'; write &lt;"
    return parser.problem
