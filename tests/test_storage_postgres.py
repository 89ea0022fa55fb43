"""The PostgreSQL back end's own pieces: SQL translation, URLs fit for a log line, dead connections."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from bot.storage.postgres import ERRORS, PostgresDatabase, redacted, translate, url_secrets


def test_placeholders_in_comments_and_literals_are_left_alone() -> None:
    statement = translate(
        "SELECT /* is ? due */ ? AS a, 'it''s ?' AS b, E'it\\'s ?' AS c, \"q?\" -- what ?\n"
        "FROM t WHERE x = ?::text /* :name ? */"
    )
    assert statement.count == 2
    assert statement.text == (
        "SELECT /* is ? due */ $1 AS a, 'it''s ?' AS b, E'it\\'s ?' AS c, \"q?\" -- what ?\n"
        "FROM t WHERE x = $2::text /* :name ? */"
    )


def test_a_backslash_ends_nothing_in_a_plain_literal() -> None:
    # standard_conforming_strings: in '...' a backslash is itself, so the literal ends at the quote.
    assert translate("SELECT 'a\\' , ?").count == 1


def test_named_placeholders_are_numbered_once_each() -> None:
    statement = translate("UPDATE t SET a = :x WHERE b = :y AND c = :x")
    assert statement.text == "UPDATE t SET a = $1 WHERE b = $2 AND c = $1"
    assert statement.bind({"x": 1, "y": 2}) == [1, 2]


@pytest.mark.parametrize(
    ("sql", "rows"),
    [
        ("WITH d AS (SELECT id FROM outbox FOR UPDATE SKIP LOCKED) SELECT id FROM d", True),
        ("WITH d (id) AS (SELECT 1), e AS MATERIALIZED (SELECT 2) SELECT * FROM d, e", True),
        ("WITH d AS (SELECT id FROM t) UPDATE t SET a = 1 WHERE id IN (SELECT id FROM d)", False),
        ("WITH d AS (DELETE FROM t RETURNING id) INSERT INTO u SELECT id FROM d", False),
        ("WITH d AS (DELETE FROM t RETURNING id) INSERT INTO u SELECT id FROM d RETURNING id", True),
        ("UPDATE t SET a = 1 WHERE id = ? RETURNING id", True),
        ("UPDATE t SET note = 'RETURNING' WHERE id = ?", False),
        ("INSERT INTO t (a) VALUES (?) /* RETURNING a */", False),
        ("INSERT INTO t (a) WITH v AS (SELECT 1) SELECT * FROM v", False),
        ("(SELECT 1) UNION (SELECT 2)", True),
        ("DELETE FROM t WHERE id IN (SELECT id FROM u)", False),
    ],
)
def test_whether_a_statement_gives_rows_is_read_from_its_top_level(sql: str, rows: bool) -> None:
    assert translate(sql).returns_rows is rows


def test_an_unterminated_literal_is_translated_in_linear_time() -> None:
    # Each alternative of the tokenizer is linear: a pathological text must not hang the process.
    text = "SELECT ? " + "E'\\\\" * 20_000 + " '" + "/* *" * 20_000
    assert translate(text).count == 1


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u@h/db?password=s3cret", "postgresql://u@h/db?password=***"),
        (
            "postgresql://u:pw@h:5432/db?sslmode=require&sslpassword=k3y",
            "postgresql://u:***@h:5432/db?sslmode=require&sslpassword=***",
        ),
        (
            "postgres://u@h/db?PassWord=s3cret&application_name=x",
            "postgres://u@h/db?PassWord=***&application_name=x",
        ),
        ("postgresql://u@h/db?sslmode=disable", "postgresql://u@h/db?sslmode=disable"),
    ],
)
def test_passwords_are_masked_wherever_the_url_carries_them(url: str, shown: str) -> None:
    assert redacted(url) == shown


def test_the_url_passwords_are_given_to_the_log_formatter_both_encoded_and_decoded() -> None:
    secrets = url_secrets("postgresql://u:p%40ss@h/db?sslpassword=k%20y&password=s3cret")
    assert set(secrets) == {"p%40ss", "p@ss", "k%20y", "k y", "s3cret"}
    assert url_secrets("postgresql://u@h/db") == []


# -- connections the server ended while they sat idle in the pool ---------------------------------

POOLED = 4


def end_other_sessions(url: str) -> int:
    """End every other session of the database, from another thread, and wait until they are gone.

    This thread's event loop is blocked meanwhile, as a busy bot's loop is: asyncpg has not read the
    server's goodbye yet, so the pool still takes its idle connections for alive.
    """

    async def terminate() -> int:
        admin = await asyncpg.connect(url)
        try:
            pids = [
                row["pid"]
                for row in await admin.fetch(
                    "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ]
            while await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)", pids):
                await asyncio.sleep(0.01)
            return len(pids)
        finally:
            await admin.close()

    ended: list[int] = []
    thread = threading.Thread(target=lambda: ended.append(asyncio.run(terminate())))
    thread.start()
    thread.join()
    assert ended, "the other thread failed to end the sessions"
    return ended[0]


@pytest.fixture
async def pooled(postgres_url: str) -> AsyncIterator[PostgresDatabase]:
    """The database with POOLED idle connections in its pool."""
    db = await PostgresDatabase.open(postgres_url, pool_size=POOLED)
    try:
        await db.write("CREATE TABLE notes (body text)")
        # Reads at once, each holding its connection a moment: the pool opens all of them.
        await asyncio.gather(*(db.read("SELECT pg_sleep(0.05)") for _ in range(POOLED)))
        yield db
    finally:
        await db.close()


# How much of the server's goodbye asyncpg has read when the next statement comes: nothing (the
# statement is sent, then meets the close), or the FATAL message but not yet the end of the stream
# (a loop turn later: the protocol is wedged and refuses the statement). Ended in the test itself,
# not in a fixture: pytest turns the loop between the two.
GOODBYE_READ = {"nothing read": 0, "FATAL read": 2}
goodbye = pytest.mark.parametrize("turns", GOODBYE_READ.values(), ids=GOODBYE_READ.keys())


async def end_pooled(db: PostgresDatabase, turns: int) -> None:
    """Have the server end every pooled connection, then let the loop turn ``turns`` times."""
    assert end_other_sessions(db.url) == POOLED
    for _ in range(turns):
        await asyncio.sleep(0)


READS: dict[str, Callable[[PostgresDatabase], Awaitable[Any]]] = {
    "read": lambda db: db.read("SELECT 1 AS one"),
    "fetchone": lambda db: db.fetchone("SELECT 1 AS one"),
    "scalar": lambda db: db.scalar("SELECT 1"),
    "maintain": lambda db: db.maintain("ANALYZE notes"),
    "check_writable": lambda db: db.check_writable(lock_wait=10.0),
}


@goodbye
@pytest.mark.parametrize("call", READS.values(), ids=READS.keys())
async def test_a_read_on_an_ended_connection_runs_again_on_a_fresh_one(
    pooled: PostgresDatabase, call: Callable[[PostgresDatabase], Awaitable[Any]], turns: int
) -> None:
    await end_pooled(pooled, turns)
    await call(pooled)
    # Every pooled connection was ended, not only the one the first read met: reads at once, each
    # on a connection of its own, find none of the dead ones.
    together = [pooled.scalar("SELECT 1 FROM pg_sleep(0.05)") for _ in range(POOLED)]
    assert await asyncio.gather(*together) == [1] * POOLED


@goodbye
async def test_a_transaction_whose_begin_meets_an_ended_connection_begins_on_a_fresh_one(
    pooled: PostgresDatabase, turns: int
) -> None:
    await end_pooled(pooled, turns)
    async with pooled.transaction() as conn:
        await conn.execute("INSERT INTO notes (body) VALUES (?)", ("kept",))
    assert await pooled.write("INSERT INTO notes (body) VALUES (?)", ("also kept",)) == 1
    rows = await pooled.read("SELECT body FROM notes ORDER BY body")
    assert [row["body"] for row in rows] == ["also kept", "kept"]


async def test_a_transaction_ended_after_its_begin_is_not_run_again(postgres_url: str) -> None:
    # Once the body has started a write may have happened: the error is the caller's to handle.
    db = await PostgresDatabase.open(postgres_url, pool_size=2)
    runs = 0
    try:
        await db.write("CREATE TABLE notes (body text)")
        with pytest.raises(ERRORS):  # as before: what the supervisor backs off on
            async with db.transaction() as conn:
                runs += 1
                await conn.execute("INSERT INTO notes (body) VALUES ('lost')")
                end_other_sessions(postgres_url)
                await conn.execute("INSERT INTO notes (body) VALUES ('never')")
        assert runs == 1
        assert await db.scalar("SELECT count(*) FROM notes") == 0
    finally:
        await db.close()
