"""Leases: named pieces of work that one worker at a time may do, each until it expires.

A worker takes a lease that is free, expired, or already its own, and renews it by heartbeat;
one that dies stops renewing and the lease expires for another to take. The SQL is common to
both back ends. Times are the database's clock (``server_time``), never a worker's, so workers
on machines whose clocks disagree still agree on who holds what. Their writes do not queue behind
the process's other transactions (``queued=False``): behind a broadcast's claims a heartbeat came
too late and the worker lost its shards mid-send. For the same reason the workers hand these
functions a database of their own on PostgreSQL (``PostgresDatabase.dedicated``), not the pool.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage.interface import Database

# Taken when free, expired, or ours already (then only extended): one statement, so two workers
# racing for one lease cannot both win. RETURNING says whether we hold it now.
ACQUIRE = """
INSERT INTO leases (name, holder, expires_at, acquired_at) VALUES (:name, :holder, :until, :now)
ON CONFLICT (name) DO UPDATE SET
    holder = excluded.holder,
    expires_at = excluded.expires_at,
    acquired_at = CASE WHEN leases.holder = excluded.holder AND leases.expires_at >= :now
                       THEN leases.acquired_at ELSE excluded.acquired_at END
WHERE leases.expires_at < :now OR leases.holder = :holder
RETURNING name
"""
# A renewal never revives a lease that expired meanwhile: another worker may have taken it since.
RENEW = """
UPDATE leases SET expires_at = :until
WHERE name = :name AND holder = :holder AND expires_at >= :now
"""
RELEASE = "DELETE FROM leases WHERE name = :name AND holder = :holder"
LIVE = """
SELECT name, holder, expires_at FROM leases
WHERE name LIKE :pattern AND expires_at >= :now
ORDER BY name
"""
# Leases nobody renewed for a day: a worker that died long ago, whose name will not come back.
FORGET_DEAD = "DELETE FROM leases WHERE expires_at < :before"


@dataclass(frozen=True, slots=True)
class Lease:
    name: str
    holder: str
    expires_at: float


async def server_time(db: Database) -> float:
    """The database's clock, seconds since the epoch."""
    return float(await db.scalar(db.dialect.clock))


async def acquire(db: Database, *, name: str, holder: str, ttl: float, now: float) -> bool:
    """Take (or extend) the lease ``name`` for ``ttl`` seconds; False when another holds it."""
    async with db.transaction(queued=False) as conn:
        cursor = await conn.execute(ACQUIRE, {"name": name, "holder": holder, "until": now + ttl, "now": now})
        return await cursor.fetchone() is not None


async def renew(db: Database, *, names: list[str], holder: str, ttl: float, now: float) -> set[str]:
    """Extend these leases of ``holder`` by ``ttl`` from ``now``; return the ones still held."""
    kept: set[str] = set()
    async with db.transaction(queued=False) as conn:
        for name in names:
            cursor = await conn.execute(
                RENEW, {"name": name, "holder": holder, "until": now + ttl, "now": now}
            )
            if cursor.rowcount == 1:
                kept.add(name)
    return kept


async def release(db: Database, *, names: list[str], holder: str) -> None:
    """Give these leases up at once, so another worker need not wait for them to expire."""
    if names:
        async with db.transaction(queued=False) as conn:
            await conn.executemany(RELEASE, [{"name": name, "holder": holder} for name in names])


async def live(db: Database, *, prefix: str, now: float) -> list[Lease]:
    """Unexpired leases whose name starts with ``prefix`` (no ``%`` or ``_`` in it)."""
    rows = await db.fetchall(LIVE, {"pattern": prefix + "%", "now": now})
    return [Lease(r["name"], r["holder"], float(r["expires_at"])) for r in rows]


async def forget_dead(db: Database, *, before: float) -> int:
    """Delete leases that expired before ``before``."""
    return await db.write(FORGET_DEAD, {"before": before})
