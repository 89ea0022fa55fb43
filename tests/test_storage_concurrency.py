"""Workers writing the outbox at once on PostgreSQL: the counters never make them wait for, or
deadlock on, each other (migration 0014's counter slots), and a chat deleted beside a fan-out
takes the fan-out's rows with it (migration 0015's triggers)."""

from __future__ import annotations

import asyncio

import asyncpg

from bot.storage import open_database, outbox, watch

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
            "INSERT INTO subscriptions (chat_id, kind, value, created_at)"
            " SELECT id, 'all', '', 0 FROM chats"
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
