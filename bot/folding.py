"""Folding text for search: case and diacritics, sensibly for English, Russian, Azerbaijani, Turkish.

It sits beside ``bot.text``, below storage and reading, because storage writes the index with it.

SQLite's unicode61 tokenizer lower-cases "İ" to "i̇" (with a combining dot) and leaves "ı" and
"ə" alone, so "İstanbul", "istanbul" and "Istanbul" would be three words. Text is folded here,
before it is indexed and before a query is run, and the index tokenizer only splits words.
Latin letters lose their marks ("Bakı" and "Baku", "Şuşa" and "Susa" match, as a reader with an
English keyboard expects); Cyrillic keeps "й" (a different letter), while "ё" is read as "е".
"""

from __future__ import annotations

import re
import unicodedata

from bot.text import fold

# Letters with no decomposition that readers type as their plain look-alikes.
_PLAIN = str.maketrans(
    {"ı": "i", "ə": "e", "ø": "o", "ß": "ss", "æ": "ae", "œ": "oe", "đ": "d", "ł": "l", "ħ": "h"}
)
# Combining marks that follow a basic Latin letter (after decomposition); a fixed-width lookbehind.
_LATIN_MARKS = re.compile(r"(?<=[a-z])[\u0300-\u036f]+")
_WORD = re.compile(r"[^\W_]+")


def search_fold(text: str) -> str:
    """Fold text for the search index and for queries."""
    text = unicodedata.normalize("NFKD", fold(text).translate(_PLAIN))
    return unicodedata.normalize("NFC", _LATIN_MARKS.sub("", text))


def search_tokens(text: str) -> list[str]:
    """The words of folded text, as the index's tokenizer sees them."""
    return _WORD.findall(search_fold(text))


def folded_tokens(folded: str) -> list[str]:
    """The words of text that is already folded (as the index holds it)."""
    return _WORD.findall(folded)
