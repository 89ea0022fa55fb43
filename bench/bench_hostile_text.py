"""Time hostile HTML in one feed item, at growing sizes: each pass must stay linear (prints figures only).

The cases come from issue 7: `<img ` x 50,000 took 94 s inside one regular expression, `<script>`
x 20,000 took 7.9 s. Each line gives the median of five parses of a one-item RSS feed whose
description holds the case, and the time per 10,000 repetitions: flat means linear, falling
means a cap cut the input (200,000 characters and 2,000 tags per HTML pass).

Run from the project root: .venv/bin/python bench/bench_hostile_text.py
"""

from __future__ import annotations

import html
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.news.dates import parse_date  # noqa: E402
from bot.news.feeds import parse_feed  # noqa: E402

REPEATS = 5
CASES = {
    "<img ": "<img ",
    "<script>": "<script>",
    "nested <div>": "<div>",
    "<!--": "<!--",
    "<a href='": "<a href='",
    "&lt;b&gt; (plain)": "&lt;b&gt;",
}
SIZES = (5_000, 10_000, 20_000, 50_000)


def _feed(fragment: str, count: int) -> bytes:
    description = html.escape(fragment * count)
    return (
        '<rss version="2.0"><channel><title>T</title><item><title>Title</title>'
        f"<link>https://x.example/1</link><description>{description}</description></item></channel></rss>"
    ).encode()


def _median_seconds(document: bytes) -> float:
    times: list[float] = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        feed = parse_feed(document, url="https://x.example/rss")
        times.append(time.perf_counter() - started)
        assert len(feed.items) == 1
    return statistics.median(times)


def main() -> int:
    """Print one line per case and size."""
    print(f"{'case':20} {'repeats':>8} {'bytes':>9} {'median ms':>10} {'ms per 10k':>11}")
    for label, fragment in CASES.items():
        for count in SIZES:
            document = _feed(fragment, count)
            seconds = _median_seconds(document)
            per_10k = seconds * 1000 * 10_000 / count
            print(f"{label:20} {count:8} {len(document):9} {seconds * 1000:10.1f} {per_10k:11.2f}")
    started = time.perf_counter()
    for _ in range(1000):
        parse_date("1:" * 100 + " mer, 16 nov 2022 10:00")
    print(f"\nparse_date on a 200-character hostile date: {(time.perf_counter() - started):.3f} ms per call")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
