"""The reading subcommands of ``newsbot``: summarize, extract, import, related, search."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC
from pathlib import Path
from typing import Any, TextIO

from bot.models import Article
from bot.reading.query import EmptyQuery, to_match
from bot.reading.summarize import DEFAULT_SENTENCES, summarize

MAX_INPUT = 5_000_000


def add_parsers(commands: Any) -> None:
    """Register the reading subcommands on the ``newsbot`` parser."""
    summarize_ = commands.add_parser("summarize", help="summarise a plain text, one sentence a line")
    summarize_.add_argument("file", nargs="?", default="-", help="text file (default: standard input)")
    summarize_.add_argument("--lang", help="language code; detected when absent")
    summarize_.add_argument("--sentences", type=int, default=DEFAULT_SENTENCES, metavar="N")

    extract = commands.add_parser("extract", help="extract an article page as one JSON object")
    extract.add_argument("target", metavar="FILE|URL")

    import_ = commands.add_parser("import", help="load articles from a JSON-lines file into $NEWSBOT_DB")
    import_.add_argument("file", metavar="FILE.jsonl")
    import_.add_argument("--config", metavar="FILE")

    related = commands.add_parser("related", help="related reads of a stored article")
    related.add_argument("id", metavar="ID", help="the id from the imported file, or the stored id")
    related.add_argument("--limit", type=int, default=5, metavar="N")
    related.add_argument("--json", action="store_true")
    related.add_argument("--config", metavar="FILE")

    search = commands.add_parser("search", help="search the stored articles")
    search.add_argument("words", nargs="+", metavar="WORDS")
    search.add_argument("--limit", type=int, default=10, metavar="N")
    search.add_argument("--json", action="store_true")
    search.add_argument("--config", metavar="FILE")


def run(args: argparse.Namespace) -> int:
    """Run one reading subcommand; the exit status."""
    if args.command == "summarize":
        return _summarize(args)
    if args.command == "extract":
        return _extract(args.target)
    if args.command == "import" and not Path(args.file).is_file():
        return _fail(f"no such file: {args.file}")
    return asyncio.run(_with_database(args))


def _fail(message: str) -> int:
    print(f"newsbot: {message}", file=sys.stderr)
    return 1


def _summarize(args: argparse.Namespace) -> int:
    if args.file == "-":
        text = sys.stdin.read(MAX_INPUT)
    else:
        try:
            with open(args.file, encoding="utf-8", errors="replace") as handle:
                text = handle.read(MAX_INPUT)
        except OSError as exc:
            return _fail(f"cannot read {args.file}: {exc.strerror}")
    if not 1 <= args.sentences <= 10:
        return _fail("--sentences must be between 1 and 10")
    result = summarize(text, lang=args.lang, sentences=args.sentences, budget=100_000)
    for sentence in result.sentences:
        print(sentence)
    return 0


async def _fetch(url: str) -> tuple[bytes, str]:
    from bot.news.fetcher import Fetcher

    async with Fetcher() as fetcher:
        # A URL on the command line is untrusted like any other: no private addresses.
        result = await fetcher.fetch(url)
    return result.content, result.url


def _extract(target: str) -> int:
    from bot.news.article import extract_article
    from bot.news.fetcher import FetchError

    if target.startswith(("http://", "https://")):
        try:
            content, url = asyncio.run(_fetch(target))
        except FetchError as exc:
            return _fail(f"cannot fetch {target}: {exc}")
    else:
        path = Path(target)
        try:
            content = path.read_bytes()[:MAX_INPUT]
        except OSError as exc:
            return _fail(f"cannot read {target}: {exc.strerror}")
        url = path.resolve().as_uri()
    page = extract_article(content, url=url)
    summary = summarize(page.text, title=page.title or "")
    print(
        json.dumps(
            {
                "title": page.title,
                "text": page.text,
                # As the publisher wrote it (its offset kept), and in UTC.
                "published": page.published.isoformat() if page.published else None,
                "published_utc": page.published.astimezone(UTC).isoformat() if page.published else None,
                "author": page.author,
                "lang": summary.lang,
                "image": page.image_url,
                "kicker": page.kicker,
                "category": page.category,
                "read_also": [{"url": url, "title": title} for title, url in page.read_also],
                "summary": list(summary.sentences),
            },
            ensure_ascii=False,
            indent=2,
        )
    )
    return 0


class _Progress:
    """A one-line progress bar on a terminal; silent when output is not one."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        share = min(done / total, 1.0)
        bar = "#" * int(share * 30)
        self.stream.write(f"\rimporting [{bar:<30}] {share:6.1%}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


async def _with_database(args: argparse.Namespace) -> int:
    from bot.config import load_settings
    from bot.storage import open_database

    settings = load_settings(args.config)
    db = await open_database(settings.bot.db)
    try:
        if args.command == "import":
            return await _import(db, Path(args.file))
        if args.command == "related":
            return await _related(db, args.id, args.limit, as_json=args.json)
        return await _search(db, " ".join(args.words), args.limit, as_json=args.json)
    finally:
        await db.close()


async def _import(db: Any, path: Path) -> int:
    from bot.reading.importer import import_jsonl

    report = await import_jsonl(
        db, path, progress=_Progress(sys.stderr), warn=lambda m: print(f"skipped {m}", file=sys.stderr)
    )
    rate = report.stored / report.seconds if report.seconds else 0.0
    print(f"imported {report.stored} articles, skipped {report.skipped} lines, {rate:.0f} articles/s")
    return 0


def _shown_id(article: Article) -> str | int:
    """The id a user of the command knows: the file's id for imported articles, else the stored one."""
    from bot.storage.search import IMPORT_SOURCE

    return str(article.guid) if article.source_id == IMPORT_SOURCE else int(article.id)


def _print_rows(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        category = f" [{row['category']}]" if row["category"] else ""
        print(f"{row['id']}\t{row['score']:.3f}\t{row['title']}{category}\t{row['url']}")


async def _related(db: Any, ref: str, limit: int, *, as_json: bool) -> int:
    from bot.reading.related import related_reads
    from bot.storage.search import find_article

    article = await find_article(db, ref=ref)
    if article is None:
        return _fail(f"no article with id {ref}")
    reads = await related_reads(db, article_id=article.id, limit=max(1, min(limit, 50)))
    rows = [
        {
            "id": _shown_id(r.article) if r.article else None,
            "url": r.url,
            "title": r.title,
            "category": r.article.category if r.article else None,
            "score": round(r.score, 4),
        }
        for r in reads
    ]
    _print_rows(rows, as_json)
    return 0


async def _search(db: Any, words: str, limit: int, *, as_json: bool) -> int:
    from bot.storage import search

    try:
        match = to_match(words)
    except EmptyQuery:
        return _fail("nothing to search for")
    hits = await search.search(db, match=match, limit=max(1, min(limit, 100)))
    found = await search.articles_by_id(db, ids=[h.article_id for h in hits])
    rows = []
    for hit in hits:
        article = found.get(hit.article_id)
        if article is not None:
            rows.append(
                {
                    "id": _shown_id(article),
                    "url": article.url,
                    "title": article.title,
                    "category": article.category,
                    "score": round(-hit.score, 4),
                }
            )
    _print_rows(rows, as_json)
    return 0
