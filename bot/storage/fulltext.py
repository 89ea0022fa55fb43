"""A full-text query as data, and its text in each back end's syntax (FTS5 MATCH, tsquery).

Reading parses a reader's words once (``bot.reading.query``) into a ``Match``; the storage
layer renders it with ``db.dialect.render_match``, so no query text reaches either parser
unquoted.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Term:
    """One word, or a phrase of words in order; a prefix term also matches longer words."""

    words: tuple[str, ...]
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class Match:
    """Terms that must all match (``any_of`` False) or of which one must (``any_of`` True)."""

    terms: tuple[Term, ...]
    any_of: bool = False


def _fts5_string(text: str) -> str:
    # An FTS5 string: a double quote inside is doubled.
    return '"' + text.replace('"', '""') + '"'


def fts5_match(match: Match) -> str:
    """The expression for ``article_search MATCH ?`` (SQLite FTS5)."""
    parts = [_fts5_string(" ".join(t.words)) + ("*" if t.prefix else "") for t in match.terms]
    return (" OR " if match.any_of else " AND ").join(parts)


def _lexeme(word: str) -> str:
    # A quoted tsquery lexeme: backslash and the quote are the only characters with meaning inside.
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def tsquery(match: Match) -> str:
    """The text for ``to_tsquery('simple', ?)`` (PostgreSQL): phrases with <->, prefixes with :*."""
    parts = []
    for term in match.terms:
        lexemes = [_lexeme(w) for w in term.words]
        if term.prefix:
            lexemes[-1] += ":*"
        phrase = " <-> ".join(lexemes)
        parts.append(f"({phrase})" if len(lexemes) > 1 else phrase)
    return (" | " if match.any_of else " & ").join(parts)
