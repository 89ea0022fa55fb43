"""Judge summaries and related reads against the shared corpus, beside two baselines each.

Run from the project root: .venv/bin/python scripts/eval_reading.py [--related-queries N]
[--postgres postgresql://...] (related reads on PostgreSQL too, beside SQLite)

Summaries: ROUGE-1/2/L F1 (our own implementation: lower-cased word tokens, no stemming) of
newsbot, a lead baseline (the first k sentences) and a TextRank baseline (PageRank over the
sentence-overlap graph of Mihalcea and Tarau, 2004), each choosing k sentences, on every set
under ../shared/corpus/summaries. ROUGE-L is the summary-level form (union LCS per reference
sentence), as multi-sentence summaries are scored, so the reference's sentence order does not
count. Related reads: precision@5 (same AG News class) of ``newsbot related`` after ``newsbot
import``, beside a plain TF-IDF cosine baseline over the same texts. The class is never
imported, so neither side can see it.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.reading.sentences import split_sentences  # noqa: E402
from bot.reading.summarize import candidates, summarize  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
SUMMARIES = CORPUS / "summaries"
AG_NEWS = CORPUS / "corpus" / "ag_news" / "test.csv"
K = 3  # sentences every system picks
# Both sets are English; every system splits sentences as newsbot does for English.
_TOKEN = re.compile(r"[^\W_]+")

Pair = tuple[str, str, list[str]]  # title, text, reference sentences


# --- ROUGE -------------------------------------------------------------------------------------


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _f1(overlap: float, got: int, want: int) -> float:
    if not overlap or not got or not want:
        return 0.0
    precision, recall = overlap / got, overlap / want
    return 2 * precision * recall / (precision + recall)


def rouge_n(candidate: list[str], reference: list[str], n: int) -> float:
    def grams(words: list[str]) -> Counter[tuple[str, ...]]:
        return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))

    got, want = grams(candidate), grams(reference)
    return _f1(sum((got & want).values()), sum(got.values()), sum(want.values()))


def _lcs_positions(reference: list[str], candidate: list[str]) -> set[int]:
    """Positions in ``reference`` of one longest common subsequence with ``candidate``."""
    rows, cols = len(reference), len(candidate)
    table = [[0] * (cols + 1) for _ in range(rows + 1)]
    for i in range(rows):
        for j in range(cols):
            if reference[i] == candidate[j]:
                table[i + 1][j + 1] = table[i][j] + 1
            else:
                table[i + 1][j + 1] = max(table[i][j + 1], table[i + 1][j])
    found: set[int] = set()
    i, j = rows, cols
    while i and j:
        if reference[i - 1] == candidate[j - 1]:
            found.add(i - 1)
            i, j = i - 1, j - 1
        elif table[i - 1][j] >= table[i][j - 1]:
            i -= 1
        else:
            j -= 1
    return found


def rouge_lsum(candidate: list[list[str]], reference: list[list[str]]) -> float:
    """Summary-level ROUGE-L (Lin 2004): union LCS of each reference sentence with the candidate's."""
    hits = 0
    for sentence in reference:
        union: set[int] = set()
        for other in candidate:
            union |= _lcs_positions(sentence, other)
        hits += len(union)
    return _f1(hits, sum(map(len, candidate)), sum(map(len, reference)))


# --- baselines ---------------------------------------------------------------------------------


def lead(title: str, text: str, k: int) -> list[str]:
    return split_sentences(text, "en")[:k]


def textrank(title: str, text: str, k: int) -> list[str]:
    sentences = split_sentences(text, "en")
    words = [set(tokens(s)) for s in sentences]
    n = len(sentences)
    weights = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if len(words[i]) > 1 and len(words[j]) > 1:
                shared = len(words[i] & words[j])
                weights[i][j] = weights[j][i] = shared / (math.log(len(words[i])) + math.log(len(words[j])))
    out = [sum(row) or 1.0 for row in weights]
    rank = [1.0] * n
    for _ in range(50):
        rank = [0.15 + 0.85 * sum(weights[j][i] / out[j] * rank[j] for j in range(n)) for i in range(n)]
    best = sorted(range(n), key=lambda i: -rank[i])[:k]
    return [sentences[i] for i in sorted(best)]


def lead_cleaned(title: str, text: str, k: int) -> list[str]:
    """The lead after newsbot's own boilerplate and fragment filter: what the scoring adds beyond it."""
    return [c.text for c in candidates(title, text, "en")[:k]]


def newsbot(title: str, text: str, k: int) -> list[str]:
    return list(summarize(text, title=title, sentences=k).sentences)


SYSTEMS: dict[str, Callable[[str, str, int], list[str]]] = {
    "newsbot": newsbot,
    "lead": lead,
    "textrank": textrank,
    "lead-clean": lead_cleaned,
}


# --- data sets ---------------------------------------------------------------------------------


def bbc_pairs() -> Iterator[Pair]:
    base = SUMMARIES / "bbc-aligned"
    for article in sorted((base / "article").glob("*/*.txt")):
        lines = article.read_text(encoding="utf-8", errors="replace").splitlines()
        summary = base / "summary" / article.parent.name / article.name
        reference = [x for x in summary.read_text(encoding="utf-8", errors="replace").splitlines() if x]
        yield lines[0], "\n".join(x for x in lines[1:] if x.strip()), reference


def cnn_pairs() -> Iterator[Pair]:
    path = SUMMARIES / "cnn_dailymail" / "train_sample_100.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            yield "", row["article"], [x for x in row["highlights"].splitlines() if x.strip()]


SETS: dict[str, Callable[[], Iterator[Pair]]] = {"bbc-aligned": bbc_pairs, "cnn_dailymail": cnn_pairs}


def evaluate_summaries() -> list[tuple[str, int, dict[str, tuple[float, float, float]]]]:
    results = []
    for name, load in SETS.items():
        if not (SUMMARIES / name).exists():
            continue
        totals = {system: [0.0, 0.0, 0.0] for system in SYSTEMS}
        count = 0
        for title, text, reference in load():
            want_sentences = [tokens(x) for x in reference]
            want = [w for x in want_sentences for w in x]
            count += 1
            for system, run in SYSTEMS.items():
                got_sentences = [tokens(x) for x in run(title, text, K)]
                got = [w for x in got_sentences for w in x]
                scores = (
                    rouge_n(got, want, 1),
                    rouge_n(got, want, 2),
                    rouge_lsum(got_sentences, want_sentences),
                )
                for i, value in enumerate(scores):
                    totals[system][i] += value
        averaged = {s: (v[0] / count, v[1] / count, v[2] / count) for s, v in totals.items()}
        results.append((name, count, averaged))
    return results


# --- related reads -----------------------------------------------------------------------------


def ag_news() -> list[tuple[str, str, str, str]]:
    """(id, class, title, text) of every AG News test item."""
    with AG_NEWS.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return [
        (f"ag{i}", label, title.replace("\\", " "), text.replace("\\", " "))
        for i, (label, title, text) in enumerate(rows)
    ]


def tfidf_related(items: list[tuple[str, str, str, str]], queries: list[int], k: int) -> list[list[int]]:
    docs = [Counter(tokens(f"{title} {text}")) for _, _, title, text in items]
    df: Counter[str] = Counter()
    for doc in docs:
        df.update(doc.keys())
    idf = {t: math.log(len(docs) / c) for t, c in df.items()}
    vectors = []
    postings: dict[str, list[tuple[int, float]]] = {}
    for i, doc in enumerate(docs):
        vector = {t: (1 + math.log(c)) * idf[t] for t, c in doc.items()}
        norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
        vector = {t: v / norm for t, v in vector.items()}
        vectors.append(vector)
        for t, v in vector.items():
            postings.setdefault(t, []).append((i, v))
    answers = []
    for q in queries:
        scores: Counter[int] = Counter()
        for t, v in vectors[q].items():
            for i, w in postings[t]:
                scores[i] += v * w
        scores.pop(q, None)
        answers.append([i for i, _ in scores.most_common(k)])
    return answers


async def newsbot_related(db_path: Path | str, ids: list[str], k: int) -> list[list[str]]:
    from bot.reading.related import related_reads
    from bot.storage import open_database
    from bot.storage.search import find_article

    db = await open_database(db_path)
    try:
        answers = []
        for external in ids:
            found = await find_article(db, ref=external)
            assert found is not None, external
            reads = await related_reads(db, article_id=found.id, limit=k)
            answers.append([r.guid for r in reads])
        return answers
    finally:
        await db.close()


async def postgres_related(server: str, jsonl: Path, ids: list[str], k: int) -> tuple[list[list[str]], float]:
    """Import into a fresh database on the PostgreSQL server (in process: the CLI takes a file) and answer."""
    import asyncpg

    from bot.reading.importer import import_jsonl
    from bot.storage import open_database

    name = f"eval_reading_{os.getpid()}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = server.rsplit("/", 1)[0] + "/" + name
        try:
            started = time.perf_counter()
            db = await open_database(url)
            try:
                await import_jsonl(db, jsonl, progress=None, warn=lambda m: None)
            finally:
                await db.close()
            seconds = time.perf_counter() - started
            return await newsbot_related(url, ids, k), seconds
        finally:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def evaluate_related(queries: int, postgres: str | None = None) -> list[tuple[str, int, float, float]] | None:
    """(system, queries, P@5, import seconds) of newsbot on each back end and of the baseline."""
    if not AG_NEWS.exists():
        return None
    items = ag_news()
    rng = random.Random(7)
    picked = sorted(rng.sample(range(len(items)), min(queries, len(items))))
    label_of = {item_id: label for item_id, label, _, _ in items}
    with tempfile.TemporaryDirectory() as folder:
        jsonl = Path(folder) / "ag_news.jsonl"
        with jsonl.open("w", encoding="utf-8") as handle:
            for item_id, _label, title, text in items:
                handle.write(json.dumps({"id": item_id, "title": title, "text": text}) + "\n")
        db_path = Path(folder) / "eval.db"
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "bot.cli", "import", str(jsonl)],
            check=True,
            cwd=ROOT,
            env={**os.environ, "NEWSBOT_DB": str(db_path)},
            stdout=subprocess.DEVNULL,
        )
        import_seconds = time.perf_counter() - started
        ours = asyncio.run(newsbot_related(db_path, [items[q][0] for q in picked], 5))
        if postgres:
            on_postgres = asyncio.run(postgres_related(postgres, jsonl, [items[q][0] for q in picked], 5))
    baseline = tfidf_related(items, picked, 5)

    def precision(answers: list[list[str]]) -> float:
        hits = total = 0
        for q, answer in zip(picked, answers, strict=True):
            total += 5
            hits += sum(1 for a in answer if label_of[a] == items[q][1])
        return hits / total

    theirs = precision([[items[i][0] for i in answer] for answer in baseline])
    rows = [("newsbot (SQLite)", len(picked), precision(ours), import_seconds)]
    if postgres:
        rows.append(("newsbot (PostgreSQL)", len(picked), precision(on_postgres[0]), on_postgres[1]))
    return [*rows, ("tf-idf cosine", len(picked), theirs, 0.0)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--related-queries", type=int, default=1000, help="AG News items used as queries")
    parser.add_argument("--skip-related", action="store_true")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="judge related reads on PostgreSQL too (a server URL; a database is made and dropped)",
    )
    args = parser.parse_args()
    if not CORPUS.exists():
        print(f"skipped: {CORPUS} is absent")
        return 0
    print(f"Summaries: ROUGE F1 x100, every system picks {K} sentences")
    print(f"{'set':<16}{'n':>5}  {'system':<10}{'R1':>7}{'R2':>7}{'RL':>7}")
    for name, count, averaged in evaluate_summaries():
        for system, (r1, r2, rl) in averaged.items():
            print(f"{name:<16}{count:>5}  {system:<10}{r1 * 100:>7.2f}{r2 * 100:>7.2f}{rl * 100:>7.2f}")
    if not args.skip_related:
        related = evaluate_related(args.related_queries, args.postgres)
        if related:
            print(f"\nRelated reads on AG News ({related[0][1]} queries; 7,600 items imported)")
            print(f"{'system':<22}{'P@5':>7}{'import s':>10}")
            for system, _n, precision, seconds in related:
                print(f"{system:<22}{precision:>7.3f}{seconds:>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
