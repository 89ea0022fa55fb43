"""Measure feed, listing and article parsing throughput over the shared corpus (prints figures only).

Run from the project root: .venv/bin/python bench/bench_parse.py
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.news.article import extract_article  # noqa: E402
from bot.news.feeds import parse_feed  # noqa: E402
from bot.news.listing import parse_listing, read_any_listing  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
REPEATS = 5


def measure(label: str, unit: str, work: Callable[[], int]) -> None:
    """Run work REPEATS times and print the median rate and its spread."""
    rates: list[float] = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        count = work()
        rates.append(count / (time.perf_counter() - started))
    low, high = min(rates), max(rates)
    median = statistics.median(rates)
    print(f"{label:32} median {median:9.1f} {unit}/s  (min {low:.1f}, max {high:.1f}, n={count})")


def main() -> int:
    """Benchmark the three parsers (the listing page is synthetic: 100 items in the reference shape)."""
    if not CORPUS.is_dir():
        print(f"corpus not found at {CORPUS}; nothing to measure")
        return 0
    feeds = [
        path.read_bytes()
        for path in sorted((CORPUS / "feeds").rglob("*"))
        if path.is_file() and not path.name.endswith(".serde.json") and "output" not in path.parts
    ]

    def parse_all_feeds() -> int:
        return sum(len(parse_feed(body, url="https://corpus.example/feed").items) for body in feeds)

    def parse_feed_files() -> int:
        for body in feeds:
            parse_feed(body, url="https://corpus.example/feed")
        return len(feeds)

    measure("feeds: entries", "entries", parse_all_feeds)
    measure("feeds: documents", "docs", parse_feed_files)

    items = b"".join(
        b'<div class="news-item"><a href="/n/%d"><span class="news-item__title">Story %d</span></a>'
        b'<span class="news-item__tag">PHOTO</span>'
        b'<span class="news-item__date">26 July 2024 - 20:%02d</span></div>' % (i, i, i % 60)
        for i in range(100)
    )
    big_listing = b"<html><body><section class='latest-news'>" + items + b"</section></body></html>"

    def parse_listings() -> int:
        for _ in range(50):
            parse_listing(big_listing, url="https://ticker.example/en/news/")
        return 50 * 100

    measure("listing: ticker items", "items", parse_listings)

    pages = [path.read_bytes() for path in sorted((CORPUS / "articles").rglob("*.html"))]

    def extract_pages() -> int:
        for body in pages:
            extract_article(body, url="https://corpus.example/article")
        return len(pages)

    measure("articles: pages", "pages", extract_pages)

    # The generic reader (no selectors match) over the real pages' own lists of story links.
    # Each page read as from its own site (its canonical address), so same-site links count.
    addresses = [extract_article(body, url="https://corpus.example/article").canonical_url for body in pages]
    own = [
        (body, url or "https://corpus.example/article") for body, url in zip(pages, addresses, strict=True)
    ]

    def read_generic() -> int:
        return sum(len(read_any_listing(body, url=url).items) for body, url in own)

    measure("listing: generic reader items", "items", read_generic)

    # Hostile size: one page of each growing length, 2,000 repeated stories or nested a whole MB.
    def median_ms(work: Callable[[], object]) -> float:
        times = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            work()
            times.append(1000 * (time.perf_counter() - started))
        return statistics.median(times)

    for rows in (1_000, 2_000, 4_000):
        flat = "".join(
            f'<li><a href="/n/2024/story-{i}-of-the-day">Story {i} of the long day</a></li>'
            for i in range(rows)
        )
        elapsed = median_ms(lambda flat=flat: read_any_listing(f"<ul>{flat}</ul>", url="https://s.example/"))
        print(f"generic reader, {rows:5} links in one list: median {elapsed:7.1f} ms")
    for repeats in (25_000, 50_000, 100_000):
        deep = ("<html><body><p>Story.</p>" + "<div><span>word " * repeats).encode()
        elapsed = median_ms(lambda deep=deep: extract_article(deep, url="https://s.example/deep"))
        print(f"article nested {repeats:6} deep ({len(deep) // 1000:5} kB): median {elapsed:7.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
