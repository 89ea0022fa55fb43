"""Sentence splitting for news text in English, Russian, Azerbaijani and Turkish (and kin).

One pass over candidate boundaries found by a linear pattern; each candidate is then judged
by the word before it (abbreviations, initials, ordinals) and the character after it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# Terminal punctuation, then closing quotes or brackets, then whitespace: every candidate end.
# Linear on any input: a match starts only where a run of punctuation starts (the lookbehind),
# and possessive quantifiers never give back what they took, so no run is scanned twice.
_CANDIDATE = re.compile(r"(?<![.!?…])[.!?…]++[\"'»”’)\]]*+\s++")

# Lower-cased, without their final dot. Short forms that end a word but not a sentence.
_ABBREVIATION_TEXT = (
    # English
    "mr mrs ms dr prof st sr jr gen col lt sgt capt cpl gov sen rep rev hon pres messrs"
    " inc ltd co corp bros plc llc dept univ assn est approx vs etc al cf fig nos vol pp ed eds"
    " jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun"
    " mt ft ave blvd rd sq mln bln bn"
    " u.s u.k u.n e.g i.e a.m p.m u.s.a d.c ph.d"
    # Russian
    " г гг т.е т.д т.п т.к др пр им ул д дд стр ст см напр проф акад доц млн млрд тыс руб коп"
    " тел обл р-н с пос корр англ рис гл ред изд кв вв"
    # Azerbaijani
    " b.e e.ə m.ə prof dos akad küç ş r-nu mln mlrd min manat və s.a"
    # Turkish
    " doç yrd yard av sn bkz örn vb vs age mah cad sok apt alb bnb yzb"
)
_ABBREVIATIONS = frozenset(_ABBREVIATION_TEXT.split())
_OPENING = "\"'«“‘([—–-"


def _last_word(text: str, end: int) -> str:
    """The token that ends at ``end`` (exclusive), without trailing dots."""
    start = end
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    return text[start:end].strip(_OPENING).rstrip(".")


def _is_boundary(text: str, punct_start: int, next_index: int, lang: str | None) -> bool:
    """Whether the candidate whose punctuation starts at ``punct_start`` really ends a sentence."""
    if next_index >= len(text):
        return True
    following = text[next_index]
    # A sentence does not begin in lower case (ellipses mid-sentence, "e.g. this").
    if following.islower():
        return False
    if text[punct_start] != ".":
        return True  # ! ? … followed by a capital end a sentence
    if text[punct_start : punct_start + 2] == "..":
        return True
    word = _last_word(text, punct_start)
    folded = word.lower()
    if not word:
        return True
    if folded in _ABBREVIATIONS:
        return False
    # Initials: "J. K. Rowling", "И. Алиев", "İ. Əliyev".
    if len(word) == 1 and word.isalpha() and word.isupper():
        return False
    # Dotted forms like "U.S." or "т.е." ("a.b" shapes) are abbreviations.
    if "." in word and all(len(part) <= 2 for part in word.split(".")):
        return False
    # Turkish and Azerbaijani ordinals: "2. Dünya Savaşı", "15. Mart" name things mid-sentence.
    return not (lang in {"tr", "az"} and word.isdigit() and len(word) <= 3)


class _Quotes:
    """Whether a position is inside a quotation that opened since the last sentence ended.

    A quoted statement of several sentences ("«Мы победим. Это точно», — сказал он.") stays one
    sentence: its second half alone would make no sense in a summary. Guillemets nest by
    depth; straight double quotes (outside English) by parity. A quote still open after
    ``MAX_QUOTE`` characters was never closed, and splitting resumes. Counting is incremental,
    so the scan stays linear.
    """

    def __init__(self, block: str, *, count_straight: bool) -> None:
        self.block = block
        self.count_straight = count_straight
        self.reset(0)

    def reset(self, start: int) -> None:
        self.scanned = start
        self.depth = 0
        self.straight = 0
        self.opened_at = -1

    def inside(self, position: int) -> bool:
        for index in range(self.scanned, position):
            char = self.block[index]
            if char == "«":
                self.depth += 1
            elif char == "»":
                self.depth = max(0, self.depth - 1)
            elif char == '"' and self.count_straight:
                self.straight ^= 1
            else:
                continue
            open_now = self.depth > 0 or self.straight == 1
            if open_now and self.opened_at < 0:
                self.opened_at = index
            elif not open_now:
                self.opened_at = -1
        self.scanned = max(self.scanned, position)
        return self.opened_at >= 0 and position - self.opened_at <= MAX_QUOTE


MAX_QUOTE = 400


def _split_block(block: str, lang: str | None) -> Iterator[str]:
    start = 0
    # English news often leaves straight quotes unbalanced (a quote running over paragraphs
    # reopens each one), so there only guillemets count; elsewhere straight quotes do too.
    quotes = _Quotes(block, count_straight=lang != "en")
    for match in _CANDIDATE.finditer(block):
        # The candidate's own closing quote (`."`, `.»`) is part of the match: count up to its end.
        if quotes.inside(match.end()):
            continue
        if _is_boundary(block, match.start(), match.end(), lang):
            sentence = block[start : match.end()].strip()
            if sentence:
                yield sentence
            start = match.end()
            quotes.reset(start)
    tail = block[start:].strip()
    if tail:
        yield tail


def split_sentences(text: str, lang: str | None = None) -> list[str]:
    """Split text into sentences; a line break always ends one (paragraphs, headlines, captions)."""
    sentences: list[str] = []
    for line in text.splitlines():
        block = " ".join(line.split())
        if block:
            sentences.extend(_split_block(block, lang))
    return sentences
