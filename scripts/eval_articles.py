"""Judge article extraction against the shared corpus ground truth.

Run from the project root: .venv/bin/python scripts/eval_articles.py
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.news.article import ArticlePage, extract_article  # noqa: E402

ARTICLES = ROOT.parent / "shared" / "corpus" / "articles"
_SPACES = re.compile(r"\s+")
_TOKENS = re.compile(r"\w+", re.UNICODE)


def squash(text: str | None) -> str:
    """Lower-case and collapse whitespace, for lenient comparisons."""
    return _SPACES.sub(" ", (text or "").strip()).lower()


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


def published_date(page: ArticlePage) -> str | None:
    """Return the page's publication date as YYYY-MM-DD."""
    return page.published.date().isoformat() if page.published else None


def eval_trafilatura() -> None:
    """Score `with`/`without` snippets, titles and dates on the trafilatura evaluation set."""
    folder = ARTICLES / "trafilatura-eval"
    truth_file = folder / "evaldata.subset.json"
    if not truth_file.exists():
        print("trafilatura-eval: not present, skipped")
        return
    truth: dict[str, dict[str, Any]] = json.loads(truth_file.read_text(encoding="utf-8"))
    with_total = with_found = without_total = without_kept = 0
    titles = titles_ok = dates = dates_ok = pages = 0
    started = time.perf_counter()
    for url, case in truth.items():
        path = folder / case["file"]
        if not path.exists():
            continue
        pages += 1
        page = extract_article(path.read_bytes(), url=url)
        text = squash(page.text)
        for snippet in case.get("with") or []:
            with_total += 1
            with_found += squash(snippet) in text
        for snippet in case.get("without") or []:
            without_total += 1
            without_kept += squash(snippet) in text
        if case.get("title"):
            titles += 1
            titles_ok += squash(case["title"]) == squash(page.title)
        if case.get("date"):
            dates += 1
            dates_ok += published_date(page) == case["date"]
    elapsed = time.perf_counter() - started
    print(f"trafilatura-eval: {pages} pages in {elapsed:.1f}s ({pages / elapsed:.1f} pages/s)")
    print(
        f"  `with` snippets found:        {with_found}/{with_total} = {with_found / max(with_total, 1):.1%}"
    )
    print(
        f"  `without` snippets kept:      {without_kept}/{without_total} = "
        f"{without_kept / max(without_total, 1):.1%} (lower is better)"
    )
    print(f"  title exact (case/space-insensitive): {titles_ok}/{titles} = {titles_ok / max(titles, 1):.1%}")
    print(f"  date (YYYY-MM-DD, UTC):       {dates_ok}/{dates} = {dates_ok / max(dates, 1):.1%}")


def eval_newspaper4k() -> None:
    """Score body text similarity and titles on the newspaper4k pages."""
    folder = ARTICLES / "newspaper4k"
    if not folder.is_dir():
        print("newspaper4k: not present, skipped")
        return
    f1_scores: list[float] = []
    titles = titles_ok = 0
    for html_path in sorted(folder.glob("*.html")):
        meta_path = html_path.with_suffix(".metadata.json")
        text_path = html_path.with_suffix(".txt")
        meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
        page = extract_article(
            html_path.read_bytes(), url=meta.get("url") or f"https://corpus.example/{html_path.name}"
        )
        if text_path.exists():
            f1_scores.append(token_f1(page.text, text_path.read_text(encoding="utf-8", errors="replace")))
        if meta.get("title"):
            titles += 1
            titles_ok += squash(meta["title"]) == squash(page.title)
    if not f1_scores:
        print("newspaper4k: no pages")
        return
    f1_scores.sort()
    mean = sum(f1_scores) / len(f1_scores)
    median = f1_scores[len(f1_scores) // 2]
    print(f"newspaper4k: {len(f1_scores)} pages")
    print(f"  body token F1: mean {mean:.3f}, median {median:.3f}, min {f1_scores[0]:.3f}")
    print(f"  title exact (case/space-insensitive): {titles_ok}/{titles} = {titles_ok / max(titles, 1):.1%}")


def main() -> int:
    """Run both evaluations."""
    if not ARTICLES.is_dir():
        print(f"corpus not found at {ARTICLES}; nothing to evaluate")
        return 0
    eval_trafilatura()
    eval_newspaper4k()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
