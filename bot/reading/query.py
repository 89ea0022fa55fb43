"""Readers' search words turned into a safe FTS5 expression."""

from __future__ import annotations

import re

from bot.folding import search_tokens

MAX_QUERY_CHARS = 200
MAX_TERMS = 12
# Words this long match their inflected forms too ("Bakı" finds "Bakıda", "выборы" "выборах"):
# a prefix is the honest stand-in for a stemmer across four languages.
PREFIX_FROM = 4
_PHRASE = re.compile(r'"([^"]*)"')


class EmptyQuery(ValueError):
    """The words held nothing to search for."""


def _quoted(token: str) -> str:
    # Tokens are letters and digits only, so quoting cannot be escaped from.
    return f'"{token}"'


def to_match(words: str) -> str:
    """An FTS5 MATCH expression: "quoted phrases" exact, other words all required, long words as prefixes."""
    words = words[:MAX_QUERY_CHARS]
    parts: list[str] = []
    for phrase in _PHRASE.findall(words):
        tokens = search_tokens(phrase)
        if tokens:
            parts.append(_quoted(" ".join(tokens)))
    for token in search_tokens(_PHRASE.sub(" ", words)):
        parts.append(_quoted(token) + ("*" if len(token) >= PREFIX_FROM else ""))
    if not parts:
        raise EmptyQuery(words)
    return " AND ".join(dict.fromkeys(parts[:MAX_TERMS]))
