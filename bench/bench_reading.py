"""Reading at scale: import, related reads and search over many stored articles; summary CPU.

Run from the project root: nice .venv/bin/python bench/bench_reading.py [--articles 100000]

Articles are generated (a Zipf-distributed vocabulary of English, Russian, Azerbaijani and
Turkish words, in four categories), written as JSON lines and loaded with ``newsbot import`` in
its own process, whose peak RSS is read from the OS. Then ``related`` and ``search`` run against
the database, and one 10 kB article is summarised repeatedly. Figures only: nothing passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.reading.query import to_match  # noqa: E402
from bot.reading.related import related_reads  # noqa: E402
from bot.reading.summarize import summarize  # noqa: E402
from bot.storage import open_database, search  # noqa: E402

WORDS = {
    "en": "government minister market energy election court storm harbour football bank price oil gas "
    "police city school hospital president parliament budget company shares profit league match team "
    "weather flood fire road bridge train airport festival museum film music science space research",
    "ru": "правительство министр рынок энергия выборы суд шторм порт футбол банк цена нефть газ полиция "
    "город школа больница президент парламент бюджет компания акции прибыль лига матч команда погода",
    "az": "hökumət nazir bazar enerji seçki məhkəmə fırtına liman futbol bank qiymət neft qaz polis şəhər "
    "məktəb xəstəxana prezident parlament büdcə şirkət səhm mənfəət liqa oyun komanda hava daşqın",
    "tr": "hükümet bakan piyasa enerji seçim mahkeme fırtına liman futbol banka fiyat petrol gaz polis "
    "şehir okul hastane cumhurbaşkanı meclis bütçe şirket hisse kâr lig maç takım hava sel yangın",
}
CATEGORIES = ["Politics", "Economy", "Sport", "Science"]


def _vocabulary(rng: random.Random) -> dict[str, list[str]]:
    """Real words plus many made-up ones, so the index has a realistic long tail."""
    syllables = ["ka", "ri", "mo", "ten", "sa", "lu", "ba", "zor", "ni", "el", "qa", "ış", "ər", "ов", "ин"]
    syllables += ["de", "to", "vi", "ran", "gu", "ha", "pe", "sol", "mi", "ur", "ze", "ko", "ül", "ей", "ар"]
    vocab = {}
    for lang, words in WORDS.items():
        # News in 100,000 articles uses some 100,000 distinct words; a long tail per language.
        extra = {"".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(40_000)}
        vocab[lang] = words.split() + sorted(extra, key=lambda _: rng.random())
    return vocab


def _word(rng: random.Random, words: list[str]) -> str:
    """A word by Zipf's law: rank r drawn with probability about 1/r (log-uniform ranks)."""
    return words[min(int(len(words) ** rng.random()) - 1, len(words) - 1)]


def _sentence(rng: random.Random, words: list[str], length: int) -> str:
    picked = [_word(rng, words) for _ in range(length)]
    return picked[0].capitalize() + " " + " ".join(picked[1:]) + "."


def _article(rng: random.Random, n: int, vocab: dict[str, list[str]], now: float) -> dict[str, object]:
    lang = rng.choice(list(vocab))
    words = vocab[lang]
    body = " ".join(_sentence(rng, words, rng.randint(8, 20)) for _ in range(rng.randint(5, 9)))
    return {
        "id": f"b{n}",
        "title": _sentence(rng, words, rng.randint(5, 9))[:-1],
        "lead": _sentence(rng, words, rng.randint(12, 20)),
        "text": body,
        "category": rng.choice(CATEGORIES),
        "published": now - rng.uniform(0, 30 * 86400),
        "lang": lang,
    }


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered) * 1000
    p95 = ordered[int(len(ordered) * 0.95) - 1] * 1000
    return f"p50 {p50:.2f} ms, p95 {p95:.2f} ms (n={len(ordered)})"


async def _queries(db_path: Path, count: int, rng: random.Random, vocab: dict[str, list[str]]) -> None:
    db = await open_database(db_path)
    try:
        total = int(await db.scalar("SELECT count(*) FROM articles"))
        ids = [
            int(r[0])
            for r in await db.fetchall("SELECT id FROM articles ORDER BY random() LIMIT ?", (count * 4 // 3,))
        ]
        # A running bot is warm: pages in the OS cache, counts of frequent terms remembered.
        for article_id in ids[count:]:
            await related_reads(db, article_id=article_id, limit=5)
        ids = ids[:count]
        timings: list[float] = []
        for article_id in ids:
            started = time.perf_counter()
            await related_reads(db, article_id=article_id, limit=5)
            timings.append(time.perf_counter() - started)
        print(f"related (5 reads):  {_percentiles(timings)}")
        timings = []
        for _ in range(count):
            words = vocab[rng.choice(list(vocab))]
            picked = [
                words[min(int(rng.paretovariate(1.1)) - 1, len(words) - 1)] for _ in range(rng.randint(1, 2))
            ]
            started = time.perf_counter()
            await search.search(db, match=to_match(" ".join(picked)), limit=6)
            timings.append(time.perf_counter() - started)
        print(f"search (1-2 words): {_percentiles(timings)}")
        rows = await db.fetchall("SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'article_search%'")
        index_bytes = int(rows[0][0] or 0)
        print(f"articles stored: {total}")
        print(
            f"search index on disk: {index_bytes / 1e6:.1f} MB "
            f"({index_bytes / max(total, 1):.0f} bytes/article)"
        )
    finally:
        await db.close()


def _summary_cpu(rng: random.Random, vocab: dict[str, list[str]], runs: int) -> None:
    text = ""
    while len(text.encode()) < 10_000:
        text += _sentence(rng, vocab["en"], rng.randint(10, 22)) + ("\n" if rng.random() < 0.2 else " ")
    text = text.encode()[:10_000].decode(errors="ignore")
    summarize(text, title="Warm-up")  # the language model loads once per process
    timings = []
    for _ in range(runs):
        started = time.process_time()
        summarize(text, title="Government announces new energy budget")
        timings.append(time.process_time() - started)
    print(f"summarise 10 kB article: median {statistics.median(timings) * 1000:.1f} ms CPU (n={runs})")


def _import(
    folder: Path, db_path: Path, count: int, rng: random.Random, vocab: dict[str, list[str]], now: float
) -> None:
    jsonl = folder / "articles.jsonl"
    with jsonl.open("w", encoding="utf-8") as handle:
        for n in range(count):
            handle.write(json.dumps(_article(rng, n, vocab, now), ensure_ascii=False) + "\n")
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "bot.cli", "import", str(jsonl)],
        check=True,
        cwd=ROOT,
        env={**os.environ, "NEWSBOT_DB": str(db_path)},
        stdout=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    size = jsonl.stat().st_size
    print(
        f"import: {count} articles ({size / 1e6:.0f} MB JSONL) in {seconds:.1f} s, "
        f"{count / seconds:.0f} articles/s, peak RSS {peak_kb / 1024:.0f} MB"
    )
    print(f"database file: {db_path.stat().st_size / 1e6:.0f} MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--db", type=Path, help="keep the database here; reuse it (no import) if it exists")
    args = parser.parse_args()
    rng = random.Random(2024)
    vocab = _vocabulary(rng)
    now = time.time()
    _summary_cpu(rng, vocab, 30)
    with tempfile.TemporaryDirectory() as folder:
        db_path = args.db or Path(folder) / "bench.db"
        if not db_path.exists():
            _import(Path(folder), db_path, args.articles, rng, vocab, now)
        asyncio.run(_queries(db_path, args.queries, rng, vocab))
    return 0


if __name__ == "__main__":
    sys.exit(main())
