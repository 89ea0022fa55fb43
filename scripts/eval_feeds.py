"""newsbot's feed ingestion against plain feedparser, side by side, on every feed of the shared corpus.

For each corpus folder: the entries plain feedparser returns, the items newsbot parses and how
many of them it stores in a real SQLite database (each feed as its own source, so stored must
equal parsed), and, where the corpus has ground truth (feed-rs, rss-parser), how often each
side gives the link exactly as written, the title, the date and the author.

Run from the project root: .venv/bin/python scripts/eval_feeds.py
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import feedparser

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.items import FeedItem  # noqa: E402
from bot.news.feeds import html_text, parse_feed  # noqa: E402
from bot.storage import articles, open_database, sources  # noqa: E402
from bot.storage.interface import Database  # noqa: E402
from bot.urls import url_key  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "feeds"


@dataclass
class Truth:
    """What the ground truth says of one item."""

    title: str | None
    link: str | None
    published: datetime | None
    author: str | None


@dataclass
class Side:
    """One side's answers for one item: newsbot's or feedparser's."""

    title: str | None
    link: str | None
    published: datetime | None
    author: str | None


@dataclass
class Score:
    """Matches against ground truth for one side."""

    links: int = 0
    titles: int = 0
    dates: int = 0
    authors: int = 0


@dataclass
class Tally:
    """Counts for one corpus folder."""

    files: int = 0
    fp_entries: int = 0
    parsed: int = 0
    stored: int = 0
    linkless: int = 0  # items kept without a link of their own (a guid, or a title and text)
    with_links: int = 0
    with_titles: int = 0
    with_dates: int = 0
    with_authors: int = 0
    ours: Score | None = None
    theirs: Score | None = None

    def __post_init__(self) -> None:
        self.ours = Score()
        self.theirs = Score()


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


def _iso(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _words(text: str | None) -> str | None:
    return " ".join(text.split()) if text else None


def truth_feed_rs(path: Path) -> list[Truth]:
    """Ground truth from a feed-rs serde file beside path."""
    truth = path.with_suffix(".serde.json")
    if not truth.exists():
        return []
    data = json.loads(truth.read_text(encoding="utf-8"))
    found: list[Truth] = []
    for entry in data.get("entries") or []:
        title_obj = entry.get("title") or {}
        content = title_obj.get("content")
        if content and "html" in str(title_obj.get("content_type")):
            content = html_text(content)
        link = next(
            (c.get("href") for c in entry.get("links") or [] if c.get("rel") in (None, "alternate")), None
        )
        authors = entry.get("authors") or []
        found.append(
            Truth(
                _words(content),
                link,
                _iso(entry.get("published")) or _iso(entry.get("updated")),
                _words(authors[0].get("name")) if authors else None,
            )
        )
    return found


def truth_rss_parser(path: Path) -> list[Truth]:
    """Ground truth from rss-parser's output file for path (its titles are raw markup)."""
    truth = path.parent.parent / "output" / (path.stem + ".json")
    if not truth.exists():
        return []
    data: Any = json.loads(truth.read_bytes().decode("utf-8", errors="replace"))
    found: list[Truth] = []
    for item in (data.get("feed") or {}).get("items") or []:
        title = item.get("title")
        author = item.get("creator") or item.get("author")
        found.append(
            Truth(
                _words(html_text(title)) if isinstance(title, str) else None,
                item["link"].strip() if isinstance(item.get("link"), str) else None,
                _iso(item.get("isoDate")),
                _words(author) if isinstance(author, str) else None,
            )
        )
    return found


def feedparser_sides(content: bytes, url: str) -> list[Side]:
    """Plain feedparser, as a project would use it out of the box."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = feedparser.parse(io.BytesIO(content), response_headers={"content-location": url})
        sides: list[Side] = []
        for entry in parsed.get("entries") or []:
            stamp = dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")
            published = datetime(*stamp[:6], tzinfo=UTC) if stamp else None
            title = entry.get("title")
            sides.append(
                Side(
                    _words(title) if isinstance(title, str) else None,
                    entry.get("link"),
                    published,
                    _words(entry.get("author")),
                )
            )
    return sides


def our_sides(items: tuple[FeedItem, ...]) -> list[Side]:
    return [
        Side(item.title, item.url if item.own_link else None, item.published, item.author) for item in items
    ]


def _match(truth: Truth, sides: list[Side], base: str) -> Side | None:
    """The side's item for a ground-truth item: by its link's key, else by its title."""
    if truth.link:
        wanted = url_key(urljoin(base, truth.link))
        for side in sides:
            if side.link and url_key(urljoin(base, side.link)) == wanted:
                return side
    if truth.title:
        for side in sides:
            if (
                side.title
                and _words(side.title.rstrip("…"))
                and truth.title.startswith(side.title.rstrip("…"))
            ):
                return side
    return None


def score(tally: Tally, truths: list[Truth], ours: list[Side], theirs: list[Side], base: str) -> None:
    """Count, for both sides, the ground-truth links, titles, dates and authors given exactly."""
    assert tally.ours is not None and tally.theirs is not None
    for truth in truths:
        tally.with_links += bool(truth.link)
        tally.with_titles += bool(truth.title)
        tally.with_dates += bool(truth.published)
        tally.with_authors += bool(truth.author)
        for sides, result in ((ours, tally.ours), (theirs, tally.theirs)):
            side = _match(truth, sides, base)
            if side is None:
                continue
            if truth.link and side.link == urljoin(base, truth.link):
                result.links += 1
            if truth.title and side.title == truth.title:
                result.titles += 1
            if (
                truth.published
                and side.published
                and abs((side.published - truth.published).total_seconds()) < 1
            ):
                result.dates += 1
            if truth.author and side.author == truth.author:
                result.authors += 1


async def stored_count(db: Database, source_id: str, items: tuple[FeedItem, ...]) -> int:
    """Store the items as one new source's first poll, as the bot does; return how many it kept."""
    now = time.time()
    await sources.sync_configured(
        db,
        sources=[
            {
                "id": source_id,
                "name": source_id,
                "url": "https://corpus.example/",
                "kind": "feed",
                "interval": 60,
            }
        ],
        now=now,
    )
    result = await articles.store_items(
        db, source_id=source_id, items=items, default_category=None, breaking=False, push=False, now=now
    )
    await sources.remove_source(db, source_id=source_id)
    return len(result.new)


def rate(matched: int, expected: int) -> str:
    return f"{100 * matched / expected:5.1f}%" if expected else "   n/a"


async def evaluate() -> dict[str, Tally]:
    tallies: dict[str, Tally] = defaultdict(Tally)
    with tempfile.TemporaryDirectory() as folder:
        db = await open_database(Path(folder) / "eval.db")
        try:
            for number, path in enumerate(feed_files()):
                group = path.relative_to(CORPUS).parts[0]
                tally = tallies[group]
                tally.files += 1
                url = f"https://corpus.example/{path.parent.name}/{path.name}"
                content = path.read_bytes()
                feed = parse_feed(content, url=url)
                theirs = feedparser_sides(content, url)
                tally.fp_entries += len(theirs)
                tally.parsed += len(feed.items)
                tally.linkless += sum(not item.own_link for item in feed.items)
                tally.stored += await stored_count(db, f"f{number}", feed.items)
                if group == "feed-rs":
                    score(tally, truth_feed_rs(path), our_sides(feed.items), theirs, url)
                elif group == "rss-parser":
                    score(tally, truth_rss_parser(path), our_sides(feed.items), theirs, url)
        finally:
            await db.close()
    return tallies


def main() -> int:
    """Evaluate and print one line per corpus folder, newsbot beside feedparser."""
    if not CORPUS.is_dir():
        print(f"corpus not found at {CORPUS}; nothing to evaluate")
        return 0
    tallies = asyncio.run(evaluate())
    print(
        "newsbot (nb) vs plain feedparser 6 (fp). Links, titles, dates, authors: share of ground-truth items"
    )
    print(
        "given exactly (links as written, resolved only when relative); n/a where there is no ground truth."
    )
    print()
    print(
        f"| {'folder':16} | files | fp entries | nb parsed | nb stored | links nb / fp   | titles nb / fp "
        f"  | dates nb / fp    | authors nb / fp  |"
    )
    rule = "-" * 17
    print(f"|{'-' * 18}|------:|-----------:|----------:|----------:|{rule}|{rule}|{rule}-|{rule}-|")
    for name, t in sorted(tallies.items()):
        assert t.ours is not None and t.theirs is not None
        print(
            f"| {name:16} | {t.files:5} | {t.fp_entries:10} | {t.parsed:9} | {t.stored:9} "
            f"| {rate(t.ours.links, t.with_links)} / {rate(t.theirs.links, t.with_links)} "
            f"| {rate(t.ours.titles, t.with_titles)} / {rate(t.theirs.titles, t.with_titles)} "
            f"| {rate(t.ours.dates, t.with_dates)} / {rate(t.theirs.dates, t.with_dates)}  "
            f"| {rate(t.ours.authors, t.with_authors)} / {rate(t.theirs.authors, t.with_authors)}  |"
        )
    files = sum(t.files for t in tallies.values())
    fp = sum(t.fp_entries for t in tallies.values())
    parsed = sum(t.parsed for t in tallies.values())
    stored = sum(t.stored for t in tallies.values())
    linkless = sum(t.linkless for t in tallies.values())
    print(f"\n{files} files: feedparser {fp} entries; newsbot parsed {parsed}, stored {stored}.")
    print(f"newsbot kept {linkless} items without a link of their own, each pointing at its feed's site.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
