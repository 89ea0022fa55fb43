"""Judge article extraction against the shared corpus ground truth, side by side with trafilatura's default.

Run from the project root: .venv/bin/python scripts/eval_articles.py

Both columns go through the same scorer: the project is `bot.news.article.extract_article`, the
baseline is `trafilatura.bare_extraction(html, url=url, with_metadata=True)` with every other
option left at its default.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import trafilatura

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.news.article import extract_article  # noqa: E402

ARTICLES = ROOT.parent / "shared" / "corpus" / "articles"
_SPACES = re.compile(r"\s+")
_TOKENS = re.compile(r"\w+", re.UNICODE)
_AUTHOR_SPLIT = re.compile(r"\s*(?:;|,|&|\band\b|\bund\b|\by\b)\s*", re.I)


@dataclass(frozen=True)
class Found:
    """What one extractor said about one page."""

    title: str | None
    text: str
    author: str | None
    date: str | None  # YYYY-MM-DD as the publisher wrote it (its own offset)


@dataclass(frozen=True)
class Case:
    """One page and what it should give."""

    html: bytes
    url: str
    title: str | None
    author: str | None
    date: str | None
    body: str | None = None  # the whole expected text (newspaper4k)
    with_snippets: tuple[str, ...] = ()  # must be in the text (trafilatura-eval)
    without_snippets: tuple[str, ...] = ()  # must not be


@dataclass
class Score:
    """Running totals of one extractor on one set."""

    titles: int = 0
    titles_ok: int = 0
    dates: int = 0
    dates_ok: int = 0
    authors: int = 0
    authors_ok: int = 0
    f1: list[float] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)


def squash(text: str | None) -> str:
    """Normalise Unicode, lower-case and collapse whitespace, for lenient comparisons."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text or "").strip()).lower()


def token_f1(found: str, expected: str) -> float:
    """Return the bag-of-words F1 between two texts."""
    got = Counter(_TOKENS.findall(found.lower()))
    want = Counter(_TOKENS.findall(expected.lower()))
    if not got or not want:
        return 1.0 if got == want else 0.0
    overlap = sum((got & want).values())
    if overlap == 0:
        return 0.0
    precision = overlap / sum(got.values())
    recall = overlap / sum(want.values())
    return 2 * precision * recall / (precision + recall)


def snippet_f1(text: str, with_snippets: tuple[str, ...], without_snippets: tuple[str, ...]) -> float:
    """F1 over snippets: `with` found is recall, `without` left out is precision (as trafilatura scores)."""
    body = squash(text)
    true_pos = sum(squash(s) in body for s in with_snippets)
    false_neg = len(with_snippets) - true_pos
    false_pos = sum(squash(s) in body for s in without_snippets)
    if true_pos == 0:
        return 0.0
    precision = true_pos / (true_pos + false_pos)
    recall = true_pos / (true_pos + false_neg)
    return 2 * precision * recall / (precision + recall)


def authors_match(found: str | None, expected: str) -> bool:
    """Same set of names, whatever the order, case and separators."""
    want = {squash(name) for name in _AUTHOR_SPLIT.split(expected) if name.strip()}
    got = {squash(name) for name in _AUTHOR_SPLIT.split(found or "") if name.strip()}
    return bool(want) and got == want


def project(case: Case) -> Found:
    """The project's extractor."""
    page = extract_article(case.html, url=case.url)
    return Found(
        title=page.title,
        text=page.text,
        author=page.author,
        date=page.published.date().isoformat() if page.published else None,
    )


def baseline(case: Case) -> Found:
    """trafilatura with its default settings."""
    try:
        doc = trafilatura.bare_extraction(case.html, url=case.url, with_metadata=True)
    except Exception:  # the baseline failing on a page counts as finding nothing
        doc = None
    if doc is None:
        return Found(title=None, text="", author=None, date=None)
    return Found(title=doc.title, text=doc.text or "", author=doc.author, date=(doc.date or "")[:10] or None)


def score(cases: list[Case], extractor: Callable[[Case], Found]) -> Score:
    """Run one extractor over a set."""
    result = Score()
    for case in cases:
        found = extractor(case)
        if case.body is not None:
            result.f1.append(token_f1(found.text, case.body))
        elif case.with_snippets:
            result.f1.append(snippet_f1(found.text, case.with_snippets, case.without_snippets))
        if case.title:
            result.titles += 1
            ok = squash(found.title) == squash(case.title)
            result.titles_ok += ok
            if not ok:
                result.misses.append(f"title {case.url}: {found.title!r} != {case.title!r}")
        if case.date:
            result.dates += 1
            ok = found.date == case.date
            result.dates_ok += ok
            if not ok:
                result.misses.append(f"date {case.url}: {found.date!r} != {case.date!r}")
        if case.author:
            result.authors += 1
            ok = authors_match(found.author, case.author)
            result.authors_ok += ok
            if not ok:
                result.misses.append(f"author {case.url}: {found.author!r} != {case.author!r}")
    return result


def trafilatura_cases() -> Iterator[Case]:
    """The trafilatura evaluation pages, with their `with`/`without` snippets."""
    folder = ARTICLES / "trafilatura-eval"
    truth_file = folder / "evaldata.subset.json"
    if not truth_file.exists():
        return
    truth: dict[str, dict[str, Any]] = json.loads(truth_file.read_text(encoding="utf-8"))
    for url, entry in truth.items():
        path = folder / entry["file"]
        if path.exists():
            yield Case(
                html=path.read_bytes(),
                url=url,
                title=entry.get("title") or None,
                author=_names(entry.get("author")),
                date=entry.get("date") or None,
                with_snippets=tuple(entry.get("with") or ()),
                without_snippets=tuple(entry.get("without") or ()),
            )


def newspaper_cases() -> Iterator[Case]:
    """The newspaper4k pages, with their whole expected text."""
    folder = ARTICLES / "newspaper4k"
    if not folder.is_dir():
        return
    for html_path in sorted(folder.glob("*.html")):
        meta_path = html_path.with_suffix(".metadata.json")
        text_path = html_path.with_suffix(".txt")
        meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
        published = meta.get("publish_date")
        yield Case(
            html=html_path.read_bytes(),
            url=meta.get("url") or f"https://corpus.example/{html_path.name}",
            title=meta.get("title") or None,
            author="; ".join(meta.get("authors") or []) or None,
            date=datetime.fromisoformat(published).date().isoformat() if published else None,
            body=text_path.read_text(encoding="utf-8", errors="replace") if text_path.exists() else None,
        )


def _names(value: object) -> str | None:
    if isinstance(value, list):
        return "; ".join(str(name) for name in value) or None
    return str(value) if value else None


def _pct(ok: int, total: int) -> str:
    return f"{ok}/{total} = {ok / total:.1%}" if total else "n/a"


def report(name: str, cases: list[Case], verbose: bool) -> None:
    """Print one set's table: project against trafilatura's default."""
    if not cases:
        print(f"{name}: not present, skipped")
        return
    # No timing here: both run trafilatura, whose date search caches per page, so whichever runs
    # second looks faster. bench/bench_parse.py times the project alone.
    theirs = score(cases, baseline)
    ours = score(cases, project)
    body = "body snippet F1" if cases[0].body is None else "body token F1"
    print(f"\n{name}: {len(cases)} pages")
    print(f"| {'measure':<22} | {'project':>18} | {'trafilatura default':>19} |")
    print(f"|{'-' * 24}|{'-' * 20}|{'-' * 21}|")
    mean = lambda values: f"{100 * sum(values) / len(values):.1f}" if values else "n/a"  # noqa: E731
    rows = (
        (f"{body} (mean)", mean(ours.f1), mean(theirs.f1)),
        ("title exact", _pct(ours.titles_ok, ours.titles), _pct(theirs.titles_ok, theirs.titles)),
        ("date (day)", _pct(ours.dates_ok, ours.dates), _pct(theirs.dates_ok, theirs.dates)),
        ("author", _pct(ours.authors_ok, ours.authors), _pct(theirs.authors_ok, theirs.authors)),
    )
    for label, left, right in rows:
        print(f"| {label:<22} | {left:>18} | {right:>19} |")
    if verbose:
        for miss in ours.misses:
            print("  project miss:", miss)


def main() -> int:
    """Run every article set."""
    if not ARTICLES.is_dir():
        print(f"corpus not found at {ARTICLES}; nothing to evaluate")
        return 0
    verbose = "-v" in sys.argv
    report("trafilatura-eval", list(trafilatura_cases()), verbose)
    report("newspaper4k", list(newspaper_cases()), verbose)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
