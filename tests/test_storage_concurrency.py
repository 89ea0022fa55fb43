"""Workers writing the outbox at once on PostgreSQL: the counters never make them wait for, or
deadlock on, each other (migration 0014's counter slots), and a chat deleted beside a fan-out
takes the fan-out's rows with it (migration 0015's triggers), as does an article deleted or taken
down beside one."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from bot.storage import channels, open_database, outbox, watch
from bot.storage.interface import Database

SEED = (
    "INSERT INTO sources (id, name, url, kind, interval, created_at)"
    " VALUES ('wire', 'Wire', 'https://wire.example/', 'feed', 60, 0)",
    "INSERT INTO chats (id, type, created_at, updated_at) SELECT g, 'private', 0, 0"
    " FROM generate_series(1, 4) AS g",
    "INSERT INTO articles (id, source_id, guid, url, title, published_at, fetched_at)"
    " VALUES (1, 'wire', 'g1', 'https://wire.example/1', 'One', 0, 0)",
    "INSERT INTO outbox (article_id, chat_id, state, next_attempt_at, created_at) VALUES"
    " (1, 1, 'sending', 0, 0), (1, 2, 'sending', 0, 0), (1, 3, 'queued', 0, 0), (1, 4, 'queued', 0, 0)",
    "UPDATE outbox_counts SET n = 2 WHERE state IN ('sending', 'queued') AND slot = 0",
)


async def test_a_claim_and_an_outcome_in_two_workers_neither_wait_nor_deadlock(postgres_url: str) -> None:
    db = await open_database(postgres_url)
    seeder = await asyncpg.connect(postgres_url)
    a = await asyncpg.connect(postgres_url)
    b = await asyncpg.connect(postgres_url)
    try:
        for statement in SEED:
            await seeder.execute(statement)
        async with a.transaction(), b.transaction():
            # Worker a records a send (sending -> sent) ...
            await a.execute("UPDATE outbox SET state = 'sent' WHERE chat_id = 1")
            # ... worker b claims (queued -> sending): with one shared row per state it waited
            # for a's 'sending' row here ...
            await asyncio.wait_for(b.execute("UPDATE outbox SET state = 'sending' WHERE chat_id = 3"), 3)
            # ... and a's retry (sending -> queued) then waited for b's 'queued' row: a deadlock.
            await asyncio.wait_for(a.execute("UPDATE outbox SET state = 'queued' WHERE chat_id = 2"), 3)
        figures = await watch.queue_figures(db, now=0.0)
        assert {k: v for k, v in figures.by_state.items() if v} == {"sent": 1, "sending": 1, "queued": 2}
        # The slots of connections gone are folded into slot 0; the figures stay.
        await a.close()
        await b.close()
        await asyncio.sleep(0.2)  # the server forgets a closed connection's pid
        await watch.fold_counter_slots(db)
        assert await seeder.fetchval("SELECT COUNT(DISTINCT slot) FROM outbox_counts") == 1
        figures = await watch.queue_figures(db, now=0.0)
        assert {k: v for k, v in figures.by_state.items() if v} == {"sent": 1, "sending": 1, "queued": 2}
    finally:
        for conn in (a, b, seeder):
            await conn.close()
        await db.close()


async def test_a_chat_forgotten_during_a_fan_out_keeps_no_outbox_rows(postgres_url: str) -> None:
    # PostgreSQL's outbox has no foreign keys (migration 0015): the delete must wait for the
    # fan-out that read the chat, then take the rows it added, else they stay queued for nobody.
    db = await open_database(postgres_url)
    other = await asyncpg.connect(postgres_url)
    try:
        for statement in SEED[:3]:
            await other.execute(statement)
        await other.execute(
            "INSERT INTO subscriptions (chat_id, kind, value, created_at) SELECT id, 'all', '', 0 FROM chats"
        )
        async with db.transaction() as conn:
            added = await outbox.fan_out(
                conn, article_id=1, priority=0, category="", source="wire", text="one", now=0.0, fresh=True
            )
            assert added == 4
            forget = asyncio.create_task(other.execute("DELETE FROM chats WHERE id = 2"))
            done, _ = await asyncio.wait({forget}, timeout=0.5)
            assert not done  # it waits for the fan-out to commit
        await forget
        rows = await other.fetch("SELECT chat_id FROM outbox ORDER BY chat_id")
        assert [row["chat_id"] for row in rows] == [1, 3, 4]
        figures = await watch.queue_figures(db, now=0.0)
        assert figures.by_state["queued"] == 3
    finally:
        await other.close()
        await db.close()


async def _readers(conn: asyncpg.Connection, count: int) -> None:
    await conn.execute(SEED[0])
    await conn.execute(
        "INSERT INTO chats (id, type, created_at, updated_at) SELECT g, 'private', 0, 0"
        " FROM generate_series(1, $1::int) AS g",
        count,
    )
    await conn.execute(
        "INSERT INTO subscriptions (chat_id, kind, value, created_at) SELECT id, 'all', '', 0 FROM chats"
    )
    await conn.execute(SEED[2])


async def test_an_article_deleted_during_its_fan_out_keeps_no_outbox_rows(postgres_url: str) -> None:
    # A moderator's release queues an existing story while a prune or /removesource deletes it:
    # the delete waits for the rows, then its trigger takes them (no foreign key does, 0015).
    db = await open_database(postgres_url)
    other = await asyncpg.connect(postgres_url)
    try:
        await _readers(other, 3)
        async with db.transaction() as conn:
            added = await outbox.fan_out(
                conn, article_id=1, priority=0, category="", source="wire", text="one", now=0.0
            )
            assert added == 3
            delete = asyncio.create_task(other.execute("DELETE FROM articles WHERE id = 1"))
            done, _ = await asyncio.wait({delete}, timeout=0.5)
            assert not done
        await delete
        assert await other.fetchval("SELECT COUNT(*) FROM outbox") == 0
        assert (await watch.queue_figures(db, now=0.0)).by_state["queued"] == 0
    finally:
        await other.close()
        await db.close()


async def _first_slice_of_four(db: Database) -> int:
    """Store-time fan-out of article 1 in slices of 4 chats: the rows queued with the story."""
    async with db.transaction() as conn:
        return await outbox.fan_out(
            conn, article_id=1, priority=0, category="", source="wire", text="one", now=0.0, fresh=True,
            slice_chats=4,
        )  # fmt: skip


class _Paused:
    """Stops continue_fan_out once it holds the article, until ``go`` is set."""

    def __init__(self) -> None:
        self.holding = asyncio.Event()
        self.go = asyncio.Event()
        self._real = outbox.hold_article

    async def __call__(self, conn: object, article_id: int) -> bool:
        held = await self._real(conn, article_id)  # type: ignore[arg-type]
        self.holding.set()
        await self.go.wait()
        return held


async def test_a_story_taken_down_during_a_slice_reaches_nobody_of_that_slice(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = await open_database(postgres_url)
    moderator = await open_database(postgres_url)
    seeder = await asyncpg.connect(postgres_url)
    paused = _Paused()
    try:
        await _readers(seeder, 9)
        first = await _first_slice_of_four(db)
        assert first == 4
        monkeypatch.setattr(outbox, "hold_article", paused)
        next_slice = asyncio.create_task(outbox.continue_fan_out(db, now=1.0, slice_chats=4))
        await paused.holding.wait()
        # The takedown waits for the slice being written, so its cancel sees that slice's rows.
        takedown = asyncio.create_task(
            channels.take_down(moderator, article_id=1, actor=1, actor_name="mod", reason="wrong", now=1.0)
        )
        done, _ = await asyncio.wait({takedown}, timeout=0.5)
        assert not done
        paused.go.set()
        assert (await next_slice) is not None
        assert (await takedown) is not None
        monkeypatch.undo()
        # ... and the slice after it finds the story taken down and queues no more.
        stopped = await outbox.continue_fan_out(db, now=2.0, slice_chats=4)
        assert stopped is not None and stopped.taken_down
        assert await outbox.continue_fan_out(db, now=3.0, slice_chats=4) is None
        states = {r["state"] for r in await seeder.fetch("SELECT state FROM outbox")}
        assert "queued" not in states
        assert (await watch.queue_figures(db, now=3.0)).by_state["queued"] == 0
    finally:
        paused.go.set()  # a failed assertion must not leave the slice waiting for ever
        await seeder.close()
        await moderator.close()
        await db.close()


async def test_an_article_deleted_during_a_slice_neither_deadlocks_nor_leaves_rows(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = await open_database(postgres_url)
    other = await asyncpg.connect(postgres_url)
    paused = _Paused()
    try:
        await _readers(other, 9)
        await _first_slice_of_four(db)
        monkeypatch.setattr(outbox, "hold_article", paused)
        next_slice = asyncio.create_task(outbox.continue_fan_out(db, now=1.0, slice_chats=4))
        await paused.holding.wait()
        delete = asyncio.create_task(other.execute("DELETE FROM articles WHERE id = 1"))
        done, _ = await asyncio.wait({delete}, timeout=0.5)
        assert not done
        paused.go.set()
        await next_slice  # it was the second update of the fanouts row that deadlocked with the delete
        await delete
        assert await other.fetchval("SELECT COUNT(*) FROM outbox") == 0
        assert await other.fetchval("SELECT COUNT(*) FROM fanouts") == 0
    finally:
        paused.go.set()  # a failed assertion must not leave the slice waiting for ever
        await other.close()
        await db.close()
