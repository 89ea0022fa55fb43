"""Several workers on one database: leases, shard claims, the budget split, source claims, roles."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.delivery.ratelimit import Limiter, Rates
from bot.storage import leases, outbox, sources
from bot.storage.interface import Database
from bot.storage.outbox import Shards
from bot.workers import LeaseKeeper

TOKEN = "123456:TEST-token_abc"


async def test_a_lease_has_one_holder_until_it_expires(db: Database) -> None:
    assert await leases.acquire(db, name="shard:1", holder="a", ttl=15, now=1000.0)
    assert not await leases.acquire(db, name="shard:1", holder="b", ttl=15, now=1010.0)
    # The holder renews; the other still cannot take it.
    assert await leases.renew(db, names=["shard:1"], holder="a", ttl=15, now=1010.0) == {"shard:1"}
    assert not await leases.acquire(db, name="shard:1", holder="b", ttl=15, now=1020.0)
    # No heartbeat: after expiry the other takes it, and the old holder's renewal fails.
    assert await leases.acquire(db, name="shard:1", holder="b", ttl=15, now=1026.0)
    assert await leases.renew(db, names=["shard:1"], holder="a", ttl=15, now=1027.0) == set()
    assert [
        (lease.name, lease.holder) for lease in await leases.live(db, prefix="shard:", now=1027.0)
    ] == [("shard:1", "b")]
    await leases.release(db, names=["shard:1"], holder="b")
    assert await leases.acquire(db, name="shard:1", holder="a", ttl=15, now=1028.0)


async def test_a_keeper_stops_its_work_before_the_lease_can_expire(db: Database) -> None:
    clock = [0.0]
    keeper = LeaseKeeper(db, holder="a", ttl=15, clock=lambda: clock[0])
    lost: list[set[str]] = []
    keeper.on_lost.append(lost.append)
    assert await keeper.acquire("updates")
    clock[0] = 11.9
    assert keeper.held("updates")
    clock[0] = 12.0  # 80% of the lease time without a renewal: the work stops
    keeper.expire()
    assert not keeper.held("updates") and lost == [{"updates"}]


async def test_two_claims_of_one_due_source_poll_it_once(db: Database) -> None:
    assert await sources.add_source(
        db,
        source_id="wire",
        name="Wire",
        url="https://example.com/feed",
        kind="feed",
        interval=60,
        options={},
        now=1000.0,
    )
    first = await sources.claim_poll(db, source_id="wire", now=2000.0, until=2300.0)
    second = await sources.claim_poll(db, source_id="wire", now=2000.0, until=2300.0)
    assert (first, second) == (True, False)
    # A worker killed mid-poll: another takes the source once the claim has run out.
    assert await sources.claim_poll(db, source_id="wire", now=2301.0, until=2600.0)


def test_shards_split_the_chats_and_the_budget() -> None:
    a, b = Shards(16, frozenset(range(8))), Shards(16, frozenset(range(8, 16)))
    chats = [-1001234567890, -42, 7, 123456789, 16, 0]
    assert all(a.owns(c) != b.owns(c) for c in chats)
    limiters = [Limiter(Rates(30.0, 1.0, 20.0)) for _ in range(2)]
    for limiter, shards in zip(limiters, (a, b), strict=True):
        limiter.set_global_rate(30.0 * len(shards.held) / 16)
    assert sum(limiter.rates.global_per_second for limiter in limiters) == 30.0


async def test_release_of_one_shard_leaves_the_others_sending(db: Database) -> None:
    # Nothing queued: the statements run on both back ends and touch no row.
    assert await outbox.release_claims(db, shards=Shards(16, frozenset({3}))) == 0
    assert await outbox.active_articles(db, now=0.0, shards=Shards(16, frozenset({3}))) == []
    # (outbox.claim's own SQL is being ported to PostgreSQL elsewhere; its shard term is the same.)


def test_a_role_other_than_all_needs_postgresql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NEWSBOT_TOKEN", TOKEN)
    monkeypatch.setenv("NEWSBOT_DB", str(tmp_path / "news.db"))
    assert main(["run", "--role", "dispatch"]) == 2
    assert "needs a PostgreSQL database" in capsys.readouterr().err


def test_an_unknown_role_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--role", "everything"])
    assert "invalid choice" in capsys.readouterr().err
