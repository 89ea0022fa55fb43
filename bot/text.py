"""Text helpers that must agree everywhere: folding for matching, trimming for display."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Folding keeps letters distinct where the reader's language keeps them distinct ("Baku" and
# "Bakı" are different words), and equal where case alone differs. Python's casefold() turns
# Turkish "İ" into "i" + U+0307 (combining dot above), which then fails to equal a typed "i";
# we map it to plain "i". Russian readers write "е" for "ё" and expect a match.
_FOLD_TABLE = str.maketrans({"İ": "i", "ё": "е", "Ё": "е"})
_COMBINING_DOT = "\u0307"


def fold(text: str) -> str:
    """Case-fold for matching: Unicode-aware, script-aware, no accent stripping."""
    text = unicodedata.normalize("NFC", text).translate(_FOLD_TABLE).casefold()
    return unicodedata.normalize("NFC", text.replace("i" + _COMBINING_DOT, "i"))


def collapse_spaces(text: str) -> str:
    return " ".join(text.split())


@lru_cache(maxsize=4096)
def _keyword_pattern(folded_keyword: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in folded_keyword.split()]
    # \w is Unicode-aware, so boundaries hold for Cyrillic and Azerbaijani letters too.
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)")


def keyword_matches(folded_keyword: str, folded_text: str | None) -> bool:
    """Whether a folded keyword or phrase occurs as whole words in folded text."""
    if not folded_keyword or not folded_text:
        return False
    return _keyword_pattern(folded_keyword).search(folded_text) is not None


def shorten(text: str, limit: int) -> str:
    """Cut plain text to at most ``limit`` characters at a word boundary, marking the cut."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-–—") + "…"


def command_target(text: str) -> str | None:
    """The bot a command names after its "@" ("/foo@NewsBot" -> "NewsBot"), None when it names none."""
    word = text.split(maxsplit=1)[0] if text.strip() else ""
    if not word.startswith("/") or "@" not in word:
        return None
    return word.partition("@")[2] or None
