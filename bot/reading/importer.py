"""Loading a JSON-lines file of articles: summaries and index rows computed as they are stored."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from bot.reading.summarize import summarize
from bot.storage import search
from bot.storage.interface import Database
from bot.storage.search import ImportRecord

logger = logging.getLogger(__name__)

BATCH = 500
MAX_FIELD = 100_000


@dataclass(frozen=True, slots=True)
class ImportReport:
    stored: int
    skipped: int  # lines that were not an article (reported with their line numbers)
    seconds: float


def _text(value: Any, limit: int = MAX_FIELD) -> str:
    return " ".join(str(value).split())[:limit] if isinstance(value, str | int | float) else ""


def _body(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    # Paragraph breaks matter to sentence splitting; other whitespace does not.
    return "\n".join(" ".join(line.split()) for line in value[:MAX_FIELD].splitlines() if line.strip())


def _published(value: Any, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value.strip():
        text = value.strip().replace("Z", "+00:00")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return default
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)  # a date without an offset is read as UTC
        return moment.timestamp()
    return default


def parse_line(line: str, *, now: float) -> ImportRecord:
    """One JSON line as an article; ValueError says why it is not one."""
    data = json.loads(line)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    guid = _text(data.get("id"), 200)
    title = _text(data.get("title"), 1000)
    body = _body(data.get("text"))
    if not guid:
        raise ValueError("no id")
    if not title and not body:
        raise ValueError("neither title nor text")
    lead = _text(data.get("lead"), 2000)
    url = _text(data.get("url"), 2000) or f"urn:newsbot:import:{guid}"
    category = _text(data.get("category"), 200) or None
    lang_hint = _text(data.get("lang"), 20) or None
    summary = summarize(body or lead, title=title, hint=lang_hint)
    return ImportRecord(
        guid=guid,
        url=url,
        title=title or body[:120],
        lead=lead,
        body=body,
        category=category,
        published=_published(data.get("published"), now),
        summary=summary.text,
        lang=summary.lang,
    )


def _lines(handle: IO[str]) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(handle, 1):
        if line.strip():
            yield number, line


async def import_jsonl(
    db: Database,
    path: Path,
    *,
    progress: Callable[[int, int], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> ImportReport:
    """Store every article of a JSON-lines file; a bad line is reported and skipped, never fatal."""
    started = time.perf_counter()
    now = time.time()
    stored = skipped = 0
    batch: list[ImportRecord] = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        total_bytes = os.fstat(handle.fileno()).st_size
        read = 0
        for number, line in _lines(handle):
            read += len(line.encode("utf-8", errors="replace"))
            try:
                batch.append(parse_line(line, now=now))
            except (ValueError, RecursionError) as exc:
                skipped += 1
                if warn is not None:
                    warn(f"line {number}: {exc}")
            if len(batch) >= BATCH:
                stored += len(await search.import_batch(db, records=batch, now=now))
                batch = []
                if progress is not None:
                    progress(read, total_bytes)
        if batch:
            stored += len(await search.import_batch(db, records=batch, now=now))
        if progress is not None:
            progress(total_bytes, total_bytes)
    return ImportReport(stored, skipped, time.perf_counter() - started)
