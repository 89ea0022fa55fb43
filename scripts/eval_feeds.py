"""Parse every feed of the shared corpus and compare titles and links with the ground truth.

Run from the project root: .venv/bin/python scripts/eval_feeds.py
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.news.feeds import clean_text, parse_feed  # noqa: E402
from bot.news.models import ParsedFeed  # noqa: E402
from bot.news.urls import normalize_url  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "feeds"


@dataclass
class Tally:
    """Counts for one corpus folder."""

    files: int = 0
    parsed: int = 0
    errors: int = 0
    items: int = 0
    expected_titles: int = 0
    matched_titles: int = 0
    expected_links: int = 0
    matched_links: int = 0
    misses: list[str] = field(default_factory=list)


def feed_files() -> list[Path]:
    """Return the corpus files that are feeds (not ground truth)."""
    return [
        path
        for path in sorted(CORPUS.rglob("*"))
        if path.is_file()
        and not path.name.endswith(".serde.json")
        and "output" not in path.relative_to(CORPUS).parts
        and path.suffix.lower() not in (".md", ".txt")
    ]


def expected_feed_rs(path: Path) -> list[tuple[str | None, str | None]]:
    """Read (title, link) pairs from a feed-rs serde file beside path."""
    truth = path.with_suffix(".serde.json")
    if not truth.exists():
        return []
    data = json.loads(truth.read_text(encoding="utf-8"))
    pairs: list[tuple[str | None, str | None]] = []
    for entry in data.get("entries") or []:
        title_obj = entry.get("title") or {}
        title = clean_text(title_obj.get("content")) or None
        link = None
        for candidate in entry.get("links") or []:
            if candidate.get("rel") in (None, "alternate"):
                link = candidate.get("href")
                break
        pairs.append((title, link))
    return pairs


def expected_rss_parser(path: Path) -> list[tuple[str | None, str | None]]:
    """Read (title, link) pairs from rss-parser's output file for path."""
    truth = path.parent.parent / "output" / (path.stem + ".json")
    if not truth.exists():
        return []
    data: Any = json.loads(truth.read_bytes().decode("utf-8", errors="replace"))
    items = (data.get("feed") or {}).get("items") or []
    return [
        (clean_text(item.get("title")) or None, link if isinstance(link := item.get("link"), str) else None)
        for item in items
    ]


def compare(
    tally: Tally, path: Path, feed: ParsedFeed, expected: list[tuple[str | None, str | None]]
) -> None:
    """Count how many expected titles and links the parsed feed contains."""
    titles = {item.title for item in feed.items}
    links = {item.url for item in feed.items}
    for title, link in expected:
        if title:
            tally.expected_titles += 1
            if title in titles or any(t.rstrip("…") and title.startswith(t.rstrip("…")) for t in titles):
                tally.matched_titles += 1
            elif len(tally.misses) < 8:
                tally.misses.append(f"{path.name}: title {title[:60]!r}")
        if link:
            tally.expected_links += 1
            if normalize_url(link, base=f"https://corpus.example/{path.name}") in links:
                tally.matched_links += 1
            elif len(tally.misses) < 8:
                tally.misses.append(f"{path.name}: link {link[:80]!r}")


def rate(matched: int, expected: int) -> str:
    """Format a share as a percentage."""
    return f"{100 * matched / expected:5.1f}% ({matched}/{expected})" if expected else "   n/a"


def main() -> int:
    """Evaluate and print one line per corpus folder."""
    if not CORPUS.is_dir():
        print(f"corpus not found at {CORPUS}; nothing to evaluate")
        return 0
    tallies: dict[str, Tally] = defaultdict(Tally)
    for path in feed_files():
        folder = path.relative_to(CORPUS).parts[0]
        tally = tallies[folder]
        tally.files += 1
        feed = parse_feed(path.read_bytes(), url=f"https://corpus.example/{path.name}")
        if feed.error:
            tally.errors += 1
        else:
            tally.parsed += 1
        tally.items += len(feed.items)
        if folder == "feed-rs":
            compare(tally, path, feed, expected_feed_rs(path))
        elif folder == "rss-parser":
            compare(tally, path, feed, expected_rss_parser(path))
    header = f"{'folder':18} {'files':>5} {'parsed':>6} {'errors':>6} {'items':>6}"
    print(f"{header}  titles matched         links matched")
    for folder, tally in sorted(tallies.items()):
        print(
            f"{folder:18} {tally.files:5} {tally.parsed:6} {tally.errors:6} {tally.items:6}  "
            f"{rate(tally.matched_titles, tally.expected_titles):22} "
            f"{rate(tally.matched_links, tally.expected_links)}"
        )
    for folder, tally in sorted(tallies.items()):
        for miss in tally.misses:
            print(f"  miss [{folder}] {miss}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
