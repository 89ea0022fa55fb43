"""Related reads: the page's own "Read also" links first, then similar stored articles.

Similar articles are found with the article's salient terms (its telling words: frequent in
it, rare in the collection): BM25 fetches candidates with the strongest of them, a rerank
weighs every term, pseudo-relevance feedback favours candidates that share words with the best
few, and the same category and closeness in time are boosted. The article itself and the same
story from other feeds (near-duplicate titles) are left out.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from bot.folding import folded_tokens, search_fold, search_tokens
from bot.models import Article
from bot.reading.stopwords import stopwords_for
from bot.storage import search
from bot.storage.fulltext import Match, Term
from bot.storage.interface import Database

MAX_RELATED = 5
SALIENT_TERMS = 20
# The strongest of them fetch candidates (each adds its postings to score); all of them rerank.
QUERY_TERMS = 20
_COMMON_SHARE = 0.05
_COMMON_FLOOR = 100  # small collections keep every term
_COUNT_TTL = 600.0
_POSTINGS_BUDGET = 1000  # documents the candidate query may score
_COUNT_CACHE = 200_000
_CACHE_FROM = 20  # documents; rarer terms are cheap to count
_BM25_SHARE = 0.5  # how much the BM25 order counts beside the weighed rerank
_FEEDBACK_TOP = 3
_FEEDBACK = 1.0
CANDIDATES = 30
_RERANK_BODY_CHARS = 1500
_BODY_CHARS = 4000
# Title, lead and body count alike: weighing the title more lost precision on AG News.
_FIELD_WEIGHTS = (1.0, 1.0, 1.0)
_SAME_CATEGORY = 0.3
_RECENCY = 0.25
_RECENCY_DAYS = 7.0
_NEAR_DUPLICATE = 0.6  # Jaccard of title words: the same story told by another feed


@dataclass(frozen=True, slots=True)
class RelatedRead:
    """One related read: a stored article, or a page link we do not hold."""

    url: str
    title: str
    article: Article | None = None
    from_page: bool = False
    score: float = 0.0

    @property
    def guid(self) -> str:
        return self.article.guid if self.article else self.url


@lru_cache(maxsize=16)
def _stop(lang: str | None) -> frozenset[str]:
    return frozenset(map(search_fold, stopwords_for(lang)))


def _title_words(title: str) -> frozenset[str]:
    return frozenset(t for t in search_tokens(title) if len(t) > 1)


def near_duplicate(a: str, b: str) -> bool:
    """Whether two titles tell the same story (most of their words shared)."""
    x, y = _title_words(a), _title_words(b)
    if not x or not y:
        return False
    return len(x & y) / len(x | y) >= _NEAR_DUPLICATE


async def salient_terms(
    db: Database, *, title: str, lead: str, body: str, lang: str | None, count: int = SALIENT_TERMS
) -> tuple[dict[str, float], dict[str, int]]:
    """The article's most telling words, weighed (frequent in it, rare elsewhere), with their counts."""
    stop = _stop(lang)
    weighted: dict[str, float] = {}
    for text, weight in zip((title, lead, body[:_BODY_CHARS]), _FIELD_WEIGHTS, strict=True):
        for token in search_tokens(text):
            if len(token) > 1 and not token.isdigit() and token not in stop:
                weighted[token] = weighted.get(token, 0.0) + weight
    shortlist = sorted(weighted, key=lambda t: -weighted[t])[: count * 2]
    if not shortlist:
        return {}, {}
    total, counts = await _document_counts(db, shortlist)
    scored: dict[str, float] = {}
    for term in shortlist:
        df = counts.get(term, 0)
        if df <= 1 or df > max(total * _COMMON_SHARE, _COMMON_FLOOR):
            continue  # only this article has it, or a twentieth of everything: it tells nothing
        scored[term] = (1 + math.log(weighted[term])) * math.log((total + 1) / df)
    best = sorted(scored, key=lambda t: -scored[t])[:count]
    return {t: scored[t] for t in best}, {t: counts.get(t, 0) for t in best}


class _CommonTerms:
    """Document counts of frequent terms, kept a while: counting one means reading all its postings.

    Rare terms are cheap to count and always counted afresh; a frequent term's count moves
    slowly, so a value up to ``_COUNT_TTL`` seconds old ranks as well as a fresh one.
    """

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}
        self.totals: dict[str, int] = {}
        self.since = time.monotonic()

    def fresh(self) -> None:
        if time.monotonic() - self.since > _COUNT_TTL or len(self.counts) > _COUNT_CACHE:
            self.counts.clear()
            self.totals.clear()
            self.since = time.monotonic()


_COMMON = _CommonTerms()


async def _document_counts(db: Database, terms: list[str]) -> tuple[int, dict[str, int]]:
    _COMMON.fresh()
    key = db.name
    known = {t: _COMMON.counts[(key, t)] for t in terms if (key, t) in _COMMON.counts}
    missing = [t for t in terms if t not in known]
    total = _COMMON.totals.get(key)
    if missing or total is None:
        total, counted = await search.document_counts(db, terms=missing)
        _COMMON.totals[key] = total
        for term, df in counted.items():
            if df >= _CACHE_FROM:
                _COMMON.counts[(key, term)] = df
        known.update(counted)
    return total, known


def _query_terms(terms: dict[str, float], counts: dict[str, int]) -> list[str]:
    """The strongest terms whose postings together stay within budget: BM25 scores every posting."""
    chosen: list[str] = []
    postings = 0
    for term in terms:  # strongest first
        if len(chosen) >= QUERY_TERMS:
            break
        if chosen and postings + counts.get(term, 0) > _POSTINGS_BUDGET:
            continue
        chosen.append(term)
        postings += counts.get(term, 0)
    return chosen


def _weighted_match(terms: dict[str, float], tokens: list[str]) -> float:
    """Cosine-like match of a candidate's words against the weighed terms."""
    if not tokens:
        return 0.0
    counts = Counter(t for t in tokens if t in terms)
    return sum(terms[t] * (1 + math.log(tf)) for t, tf in counts.items()) / math.sqrt(len(set(tokens)))


def _feedback(
    ranked: list[tuple[float, Article]], tokens: dict[int, list[str]], *, stop: frozenset[str]
) -> list[tuple[float, Article]]:
    """Pseudo-relevance feedback: a candidate that shares words with the best few is more on topic."""
    if len(ranked) <= _FEEDBACK_TOP:
        return ranked
    words = {a.id: {t for t in tokens[a.id] if len(t) > 2 and t not in stop} for _, a in ranked}
    top = [words[a.id] for _, a in ranked[:_FEEDBACK_TOP]]
    best = ranked[0][0] or 1.0
    rescored = []
    for value, article in ranked:
        mine = words[article.id]
        overlap = [len(mine & other) / (len(mine | other) or 1) for other in top if other is not mine]
        rescored.append((value / best + _FEEDBACK * sum(overlap) / max(len(overlap), 1), article))
    rescored.sort(key=lambda pair: (-pair[0], -pair[1].published_at.timestamp()))
    return rescored


def _same_category(a: Article, b: Article) -> bool:
    return bool(a.category and b.category and search_fold(a.category) == search_fold(b.category))


def _recency(a: datetime, b: datetime) -> float:
    days = abs((a - b).total_seconds()) / 86400
    return 1.0 + _RECENCY * math.exp(-days / _RECENCY_DAYS)


async def similar_articles(
    db: Database,
    *,
    article: Article,
    body: str,
    lang: str | None,
    limit: int,
    exclude: frozenset[int] = frozenset(),
) -> list[RelatedRead]:
    """Stored articles like this one, best first."""
    terms, counts = await salient_terms(db, title=article.title, lead=article.lead, body=body, lang=lang)
    if not terms:
        return []
    match = Match(tuple(Term((t,)) for t in _query_terms(terms, counts)), any_of=True)
    hits = await search.related_candidates(db, article_id=article.id, match=match, limit=CANDIDATES)
    ids = [h.article_id for h in hits if h.article_id not in exclude]
    # BM25 treats every query term alike; the candidates are ranked again with the terms' weights.
    both = await search.articles_with_texts(db, ids=ids, body_chars=_RERANK_BODY_CHARS)
    found = {i: pair[0] for i, pair in both.items()}
    texts = {i: pair[1] for i, pair in both.items()}
    bm25 = {h.article_id: -h.score for h in hits}
    tokens = {i: [t for field in texts[i] for t in folded_tokens(field)] for i in ids if i in texts}
    matches = {i: _weighted_match(terms, words) for i, words in tokens.items()}
    top_bm25 = max(bm25.values(), default=0.0) or 1.0
    top_match = max(matches.values(), default=0.0) or 1.0
    ranked: list[tuple[float, Article]] = []
    for article_id, match_value in matches.items():
        other = found.get(article_id)
        if other is None:
            continue
        value = match_value / top_match + _BM25_SHARE * bm25[article_id] / top_bm25
        value *= _recency(other.published_at, article.published_at)
        if _same_category(article, other):
            value *= 1.0 + _SAME_CATEGORY
        ranked.append((value, other))
    ranked.sort(key=lambda pair: (-pair[0], -pair[1].published_at.timestamp()))
    ranked = _feedback(ranked, tokens, stop=_stop(lang))
    chosen: list[RelatedRead] = []
    titles = [article.title]
    for value, other in ranked:
        if other.url == article.url or any(near_duplicate(other.title, t) for t in titles):
            continue
        titles.append(other.title)
        chosen.append(RelatedRead(other.url, other.title, other, score=value))
        if len(chosen) >= limit:
            break
    return chosen


async def related_reads(db: Database, *, article_id: int, limit: int = MAX_RELATED) -> list[RelatedRead]:
    """Up to ``limit`` reads: the page's "Read also" links first, then similar stored articles."""
    facts = await search.reading_facts(db, article_id=article_id)
    if facts is None:
        return []
    article = facts.article
    reads: list[RelatedRead] = []
    seen_urls = {article.url}
    stored_ids: set[int] = {article.id}
    if facts.duplicate_of is not None:
        stored_ids.add(facts.duplicate_of)
    for link in facts.read_also:
        if len(reads) >= limit or link.url in seen_urls:
            continue
        seen_urls.add(link.url)
        known_id = await search.find_by_url(db, url=link.url)
        known = (await search.articles_by_id(db, ids=[known_id])).get(known_id) if known_id else None
        if known is not None:
            stored_ids.add(known.id)
        reads.append(RelatedRead(link.url, link.title or (known.title if known else link.url), known, True))
    if len(reads) < limit:
        more = await similar_articles(
            db,
            article=article,
            body=article.body or "",
            lang=facts.lang,
            limit=limit - len(reads) + 3,
            exclude=frozenset(stored_ids),
        )
        reads += [r for r in more if r.url not in seen_urls][: limit - len(reads)]
    return reads
