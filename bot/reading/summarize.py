"""Extractive summaries of news articles: lead bias, centrality, title overlap, no repetition.

Each sentence is scored on three signals news editors rely on: where it stands (news puts the
essentials first), how central it is (how much of the article's vocabulary it shares), and how
much it shares with the headline. Sentences are then taken best first, skipping any that
repeats one already taken, and returned in article order.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from bot.reading.boilerplate import is_boilerplate
from bot.reading.language import detect_language
from bot.reading.sentences import split_sentences
from bot.reading.stopwords import stopwords_for
from bot.text import fold

DEFAULT_SENTENCES = 3
MIN_SENTENCES, MAX_SENTENCES = 1, 10
# Room left for the summary in one 4,096-character message beside headline, source line and link.
SUMMARY_BUDGET = 2400
_MIN_WORDS = 5
_MAX_SENTENCE_CHARS = 700  # longer "sentences" are lists, tables or unsplit blobs
_REDUNDANT = 0.55  # cosine above which a sentence says again what a chosen one said
_WORD = re.compile(r"[^\W_]+")
_MAX_TEXT = 100_000

# Weights of the three signals (see the module docstring); tuned on the English sets and kept
# round so they carry to other languages.
_W_POSITION, _W_CENTRALITY, _W_TITLE = 0.5, 1.5, 0.6
# How much a long sentence's larger vocabulary is discounted (0: not at all, 1: fully).
_LENGTH_DAMPING = 0.4


@dataclass(frozen=True, slots=True)
class Summary:
    sentences: tuple[str, ...]
    lang: str | None

    @property
    def text(self) -> str:
        return "\n".join(self.sentences)


@dataclass(slots=True)
class _Candidate:
    index: int
    text: str
    terms: Counter[str]
    words: int
    score: float = 0.0


def _terms(sentence: str, stop: frozenset[str]) -> tuple[Counter[str], int]:
    words = _WORD.findall(fold(sentence))
    content = [w for w in words if w not in stop and (len(w) > 1 or w.isdigit())]
    return Counter(content), sum(1 for w in words if not w.isdigit())


def _cosine(a: Counter[str], b: Counter[str]) -> float:
    if not a or not b:
        return 0.0
    if len(a) > len(b):
        a, b = b, a
    dot = sum(v * b[k] for k, v in a.items() if k in b)
    if not dot:
        return 0.0
    return dot / math.sqrt(sum(v * v for v in a.values()) * sum(v * v for v in b.values()))


def candidates(title: str, text: str, lang: str | None) -> list[_Candidate]:
    """The article's real sentences: boilerplate, fragments, blobs and the repeated headline out."""
    stop = stopwords_for(lang)
    folded_title = fold(title).strip()
    found: list[_Candidate] = []
    seen: set[str] = set()
    for sentence in split_sentences(text[:_MAX_TEXT], lang):
        folded = fold(sentence)
        if len(sentence) > _MAX_SENTENCE_CHARS or is_boilerplate(folded):
            continue
        key = " ".join(_WORD.findall(folded))
        if not key or key in seen or (folded_title and key == " ".join(_WORD.findall(folded_title))):
            continue
        seen.add(key)
        terms, words = _terms(sentence, stop)
        if words < _MIN_WORDS or not terms:
            continue
        found.append(_Candidate(len(found), sentence, terms, words))
    return found


def score(found: list[_Candidate], title: str, lang: str | None) -> None:
    """Give every candidate its score from position, centrality and overlap with the title."""
    if not found:
        return
    document: Counter[str] = Counter()
    for candidate in found:
        document.update(candidate.terms.keys())  # in how many sentences a term occurs
    # A term that recurs across sentences is the topic; a one-off term is detail.
    weights = {term: math.log(1 + count) for term, count in document.items() if count > 1}
    title_terms, _ = _terms(title, stopwords_for(lang))
    centrality = [
        sum(weights.get(t, 0.0) for t in c.terms) / (len(c.terms) + 4) ** _LENGTH_DAMPING for c in found
    ]
    top = max(centrality) or 1.0
    for candidate, central in zip(found, centrality, strict=True):
        position = 1.0 / math.sqrt(1 + candidate.index)
        overlap = len(title_terms.keys() & candidate.terms.keys()) / len(title_terms) if title_terms else 0.0
        candidate.score = _W_POSITION * position + _W_CENTRALITY * central / top + _W_TITLE * overlap


def select(found: list[_Candidate], count: int, budget: int) -> list[_Candidate]:
    """Best first, skipping repeats and what would overflow the budget; in article order."""
    chosen: list[_Candidate] = []
    used = 0
    for candidate in sorted(found, key=lambda c: (-c.score, c.index)):
        if len(chosen) >= count:
            break
        if any(_cosine(candidate.terms, c.terms) > _REDUNDANT for c in chosen):
            continue
        if used + len(candidate.text) > budget and chosen:
            continue
        chosen.append(candidate)
        used += len(candidate.text) + 1
    return sorted(chosen, key=lambda c: c.index)


def summarize(
    text: str,
    *,
    title: str = "",
    lang: str | None = None,
    hint: str | None = None,
    sentences: int = DEFAULT_SENTENCES,
    budget: int = SUMMARY_BUDGET,
) -> Summary:
    """Summarise an article's text in ``sentences`` sentences (fewer when it is short)."""
    lang = lang or detect_language(f"{title}\n{text[:3000]}", hint)
    count = max(MIN_SENTENCES, min(MAX_SENTENCES, sentences))
    found = candidates(title, text, lang)
    score(found, title, lang)
    chosen = select(found, count, budget)
    return Summary(tuple(c.text for c in chosen), lang)


def page_summary(text: str, title: str) -> tuple[str | None, str | None]:
    """The summary kept with a stored page (None when nothing is worth keeping) and its language."""
    found = summarize(text, title=title)
    return (found.text if found.sentences else None), found.lang
