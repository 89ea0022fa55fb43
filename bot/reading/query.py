"""Readers' search words parsed into a query that either back end renders safely."""

from __future__ import annotations

import re

from bot.folding import search_tokens
from bot.storage.fulltext import Match, Term

MAX_QUERY_CHARS = 200
MAX_TERMS = 12
# Words this long match their inflected forms too ("Bakı" finds "Bakıda", "выборы" "выборах"):
# a prefix is the honest stand-in for a stemmer across four languages.
PREFIX_FROM = 4
_PHRASE = re.compile(r'"([^"]*)"')


class EmptyQuery(ValueError):
    """The words held nothing to search for."""


def to_match(words: str) -> Match:
    """The query: "quoted phrases" exact, other words all required, long words as prefixes."""
    words = words[:MAX_QUERY_CHARS]
    terms: list[Term] = []
    for phrase in _PHRASE.findall(words):
        tokens = search_tokens(phrase)
        if tokens:
            terms.append(Term(tuple(tokens)))
    for token in search_tokens(_PHRASE.sub(" ", words)):
        terms.append(Term((token,), prefix=len(token) >= PREFIX_FROM))
    if not terms:
        raise EmptyQuery(words)
    return Match(tuple(dict.fromkeys(terms[:MAX_TERMS])))
