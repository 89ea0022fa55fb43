"""Sources found by /source_add and shown to the admin, waiting for the Confirm button."""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage.interface import Database, inserted_id

# A pending candidate older than this is dropped: the admin can ask again.
PENDING_TTL = 86400.0

DROP_EXPIRED = "DELETE FROM pending_sources WHERE created_at < :before"
INSERT_PENDING = """
INSERT INTO pending_sources (url, kind, poll_url, name, found, created_at)
VALUES (:url, :kind, :poll_url, :name, :found, :now)
RETURNING id
"""
# Taking is deleting: two presses of the same button cannot add the source twice.
TAKE_PENDING = """
DELETE FROM pending_sources WHERE id = :id AND created_at >= :since
RETURNING id, url, kind, poll_url, name, found, created_at
"""


@dataclass(frozen=True, slots=True)
class PendingSource:
    id: int
    url: str
    kind: str
    poll_url: str
    name: str
    found: str
    created_at: float


async def save_pending(
    db: Database, *, url: str, kind: str, poll_url: str, name: str, found: str, now: float
) -> int:
    """Keep a found source until the admin confirms it; return its id (for the button)."""
    async with db.transaction() as conn:
        await conn.execute(DROP_EXPIRED, {"before": now - PENDING_TTL})
        cursor = await conn.execute(
            INSERT_PENDING,
            {"url": url, "kind": kind, "poll_url": poll_url, "name": name, "found": found, "now": now},
        )
        pending_id = await inserted_id(cursor)
    assert pending_id is not None
    return pending_id


async def take_pending(db: Database, *, pending_id: int, now: float) -> PendingSource | None:
    """Remove and return a pending source; None when it was taken, cancelled or expired."""
    params = {"id": pending_id, "since": now - PENDING_TTL}
    async with db.transaction() as conn, conn.execute(TAKE_PENDING, params) as cursor:
        row = await cursor.fetchone()
    if row is None:
        return None
    return PendingSource(
        id=row["id"],
        url=row["url"],
        kind=row["kind"],
        poll_url=row["poll_url"],
        name=row["name"],
        found=row["found"],
        created_at=row["created_at"],
    )
