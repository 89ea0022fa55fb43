"""News sources and their fetch state (validators, health, back-off)."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Iterable
from typing import Any

from bot.models import Source
from bot.storage.dialect import Dialect
from bot.storage.interface import Database, Row

UPSERT_CONFIGURED = """
INSERT INTO sources (id, name, url, kind, interval, category, breaking, origin, options, created_at)
VALUES (:id, :name, :url, :kind, :interval, :category, :breaking, 'config', :options, :now)
ON CONFLICT (id) DO UPDATE SET
    name = excluded.name,
    -- A new address is a new feed: its validators and first-poll state no longer apply.
    seeded = CASE WHEN sources.url = excluded.url THEN sources.seeded ELSE 0 END,
    etag = CASE WHEN sources.url = excluded.url THEN sources.etag END,
    last_modified = CASE WHEN sources.url = excluded.url THEN sources.last_modified END,
    url = excluded.url,
    kind = excluded.kind,
    interval = excluded.interval,
    category = excluded.category,
    breaking = excluded.breaking,
    -- A retired source put back in the file polls again; a configured one keeps its pause.
    paused = CASE WHEN sources.origin = 'config' THEN sources.paused ELSE 0 END,
    origin = 'config',
    retired_at = NULL,
    options = excluded.options
"""


# A config source no longer in the file: no longer polled or offered, kept with its articles, and
# an ordinary source from now on, which /source_remove may delete.
@functools.cache
def _retire_unconfigured(dialect: Dialect) -> str:
    ids = dialect.texts(":ids")  # fixed text of the dialect, never data
    return f"""
UPDATE sources SET origin = 'admin', paused = 1, retired_at = :now
WHERE origin = 'config' AND id NOT IN {ids}
RETURNING id
"""  # noqa: S608


INSERT_ADMIN = """
INSERT INTO sources (id, name, url, kind, interval, category, breaking, origin, options, created_at)
VALUES (:id, :name, :url, :kind, :interval, :category, 0, 'admin', :options, :now)
ON CONFLICT (id) DO NOTHING
"""
# Sources whose id starts with '_' are reserved (broadcasts): never listed, polled or removed.
SELECT_ALL = "SELECT * FROM sources WHERE substr(id, 1, 1) != '_' ORDER BY id"
SELECT_ONE = "SELECT * FROM sources WHERE id = ? AND substr(id, 1, 1) != '_'"
SELECT_BY_URL = "SELECT * FROM sources WHERE url = ?"
DELETE_ONE = "DELETE FROM sources WHERE id = ?"
SET_PAUSED = "UPDATE sources SET paused = :paused WHERE id = :id"
RECORD_SUCCESS = """
UPDATE sources SET
    last_polled_at = :now, last_success_at = :now, last_error = NULL, consecutive_failures = 0,
    etag = COALESCE(:etag, etag), last_modified = COALESCE(:last_modified, last_modified),
    body_hash = COALESCE(:body_hash, body_hash), next_poll_at = :next_poll_at
WHERE id = :id
"""
# Clears the failure count first, alone: the one success that finds it above zero (in the same
# transaction as RECORD_SUCCESS; another worker's success waits for the row and then finds 0)
# is the recovery, told to the admins once however many ingest workers there are.
RECOVER = "UPDATE sources SET consecutive_failures = 0 WHERE id = :id AND consecutive_failures > 0"
RECORD_FAILURE = """
UPDATE sources SET
    last_polled_at = :now, last_error = :error, consecutive_failures = consecutive_failures + 1,
    next_poll_at = :next_poll_at
WHERE id = :id
RETURNING consecutive_failures
"""
# Several ingest workers: the one whose UPDATE changes the row polls the source; the others see a
# next poll in the future. A worker killed mid-poll leaves it claimed until :until, then it is due.
CLAIM_POLL = """
UPDATE sources SET next_poll_at = :until
WHERE id = :id AND (next_poll_at IS NULL OR next_poll_at <= :now)
"""
MARK_SEEDED = "UPDATE sources SET seeded = 1, items_total = items_total + :added WHERE id = :id"


def source_from_row(row: Row) -> Source:
    return Source(
        id=row["id"],
        name=row["name"],
        url=row["url"],
        kind=row["kind"],
        interval=row["interval"],
        category=row["category"],
        breaking=bool(row["breaking"]),
        origin=row["origin"],
        options=json.loads(row["options"]),
        paused=bool(row["paused"]),
        seeded=bool(row["seeded"]),
        etag=row["etag"],
        last_modified=row["last_modified"],
        last_polled_at=row["last_polled_at"],
        last_success_at=row["last_success_at"],
        last_error=row["last_error"],
        consecutive_failures=row["consecutive_failures"],
        next_poll_at=row["next_poll_at"],
        items_total=row["items_total"],
        body_hash=row["body_hash"],
        items_merged=row["items_merged"],
        items_skipped=row["items_skipped"],
        retired=row["retired_at"] is not None,
    )


async def sync_configured(db: Database, *, sources: Iterable[dict[str, Any]], now: float) -> None:
    """Add or update the config file's [[sources]], keeping each one's fetch state."""
    rows = [
        {
            "id": s["id"],
            "name": s["name"],
            "url": s["url"],
            "kind": s["kind"],
            "interval": s["interval"],
            "category": s.get("category"),
            "breaking": int(bool(s.get("breaking"))),
            "options": json.dumps(s.get("options", {}), sort_keys=True),
            "now": now,
        }
        for s in sources
    ]
    if rows:
        async with db.transaction() as conn:
            await conn.executemany(UPSERT_CONFIGURED, rows)


async def retire_unconfigured(
    db: Database, *, configured: Iterable[str], now: float | None = None
) -> list[str]:
    """Retire the config sources whose ids the file no longer has; return their ids."""
    params = {"ids": json.dumps(list(configured)), "now": time.time() if now is None else now}
    async with (
        db.transaction() as conn,
        conn.execute(_retire_unconfigured(db.dialect), params) as cursor,
    ):
        rows = await cursor.fetchall()
    return sorted(str(row[0]) for row in rows)


async def add_source(
    db: Database,
    *,
    source_id: str,
    name: str,
    url: str,
    kind: str,
    interval: float,
    options: dict[str, Any],
    now: float,
    category: str | None = None,
) -> bool:
    """Add a source an admin asked for; False when the id is taken."""
    changed = await db.write(
        INSERT_ADMIN,
        {
            "id": source_id,
            "name": name,
            "url": url,
            "kind": kind,
            "interval": interval,
            "category": category,
            "options": json.dumps(options, sort_keys=True),
            "now": now,
        },
    )
    return changed > 0


async def add_sources(db: Database, *, sources: Iterable[dict[str, Any]], now: float) -> list[str]:
    """Add many admin sources in one transaction (an OPML import); return the ids that were free.

    Each dict has the keyword arguments of ``add_source`` except ``now``.
    """
    added: list[str] = []
    async with db.transaction() as conn:
        for s in sources:
            params = {
                "id": s["source_id"],
                "name": s["name"],
                "url": s["url"],
                "kind": s["kind"],
                "interval": s["interval"],
                "category": s.get("category"),
                "options": json.dumps(s.get("options", {}), sort_keys=True),
                "now": now,
            }
            cursor = await conn.execute(INSERT_ADMIN, params)
            if cursor.rowcount > 0:
                added.append(s["source_id"])
    return added


async def list_sources(db: Database) -> list[Source]:
    return [source_from_row(r) for r in await db.fetchall(SELECT_ALL)]


async def get_source(db: Database, *, source_id: str) -> Source | None:
    row = await db.fetchone(SELECT_ONE, (source_id,))
    return None if row is None else source_from_row(row)


async def find_by_url(db: Database, *, url: str) -> Source | None:
    row = await db.fetchone(SELECT_BY_URL, (url,))
    return None if row is None else source_from_row(row)


async def remove_source(db: Database, *, source_id: str) -> bool:
    """Delete a source and, through the foreign keys, its articles and their deliveries."""
    return await db.write(DELETE_ONE, (source_id,)) > 0


async def set_paused(db: Database, *, source_id: str, paused: bool) -> bool:
    return await db.write(SET_PAUSED, {"paused": int(paused), "id": source_id}) > 0


async def record_success(
    db: Database,
    *,
    source_id: str,
    etag: str | None,
    last_modified: str | None,
    now: float,
    next_poll_at: float,
    body_hash: str | None = None,
) -> bool:
    """Record a good poll; True when it ends a run of failures (the source has recovered)."""
    async with db.transaction() as conn:
        recovered = (await conn.execute(RECOVER, {"id": source_id})).rowcount == 1
        await conn.execute(
            RECORD_SUCCESS,
            {
                "id": source_id,
                "etag": etag,
                "last_modified": last_modified,
                "now": now,
                "next_poll_at": next_poll_at,
                "body_hash": body_hash,
            },
        )
    return recovered


async def record_failure(db: Database, *, source_id: str, error: str, now: float, next_poll_at: float) -> int:
    """Record a failed poll; return the source's consecutive failure count (1: it starts failing)."""
    async with (
        db.transaction() as conn,
        conn.execute(
            RECORD_FAILURE,
            {"id": source_id, "error": error[:500], "now": now, "next_poll_at": next_poll_at},
        ) as cur,
    ):
        row = await cur.fetchone()
    return 0 if row is None else int(row[0])


async def claim_poll(db: Database, *, source_id: str, now: float, until: float) -> bool:
    """Claim a due source for one poll until ``until``; False when not due or another worker has it."""
    return await db.write(CLAIM_POLL, {"id": source_id, "now": now, "until": until}) == 1
