"""Both back ends' schemas match at the newest version: names, keys, and every counter."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot.storage import open_database

# The runner's own ledger exists on both back ends but is not part of the schema file.
LEDGER = "schema_migrations"
# Full-text search is SQLite's FTS5 here; PostgreSQL gets its own design later.
SQLITE_ONLY_TRIGGERS = {"articles_search_delete"}
# SQLite has no TRUNCATE, so only PostgreSQL needs a guard against it.
# PostgreSQL keeps the outbox's references with triggers (KEPT_BY_TRIGGERS).
POSTGRES_ONLY_TRIGGERS = {
    "audit_no_truncate",
    "outbox_articles_delete",
    "outbox_chats_delete",
    "outbox_chats_update",
}
# PostgreSQL keeps these references with triggers instead (its migration 0015: the foreign keys'
# per-row checks were a third of a large fan-out). What they do is tested below.
KEPT_BY_TRIGGERS = {
    ("outbox", ("article_id",), "articles", ("id",), "NO ACTION", "CASCADE"),
    ("outbox", ("chat_id",), "chats", ("id",), "CASCADE", "CASCADE"),
}

# A day of a bot's life in SQL both dialects accept: chats of every type and status, each kind of
# subscription (keywords and exclusions too), fan-out and its counter update, every outbox state
# change, compaction into delivery_totals, a chat's migration, status changes, and deletions.
SEQUENCE: tuple[str, ...] = (
    "INSERT INTO sources (id, name, url, kind, interval, created_at) VALUES"
    " ('wire', 'Wire', 'https://wire.example/feed', 'feed', 60, 1000),"
    " ('local', 'Local', 'https://local.example/', 'html', 300, 1000)",
    "INSERT INTO chats (id, type, status, created_at, updated_at) VALUES"
    " (101, 'private', 'active', 1000, 1000), (102, 'private', 'active', 1000, 1000),"
    " (103, 'private', 'blocked', 1000, 1000), (5000000000, 'private', 'active', 1000, 1000),"
    " (-201, 'group', 'active', 1000, 1000), (-202, 'group', 'left', 1000, 1000),"
    " (-100301, 'supergroup', 'active', 1000, 1000), (-100401, 'channel', 'active', 1000, 1000)",
    "INSERT INTO subscriptions (chat_id, thread_id, kind, value, label, exclude, created_at) VALUES"
    " (101, 0, 'all', '', '', 0, 1000), (101, 0, 'category', 'world', 'World', 0, 1000),"
    " (101, 0, 'keyword', 'cat', 'Cat', 0, 1000), (101, 0, 'keyword', 'dog', 'Dog', 1, 1000),"
    " (102, 0, 'source', 'wire', 'Wire', 0, 1000), (102, 0, 'keyword', 'cat', 'cat', 0, 1000),"
    " (103, 0, 'all', '', '', 0, 1000), (103, 0, 'keyword', 'cat', 'cat', 0, 1000),"
    " (5000000000, 0, 'keyword', 'snow', 'Snow', 0, 1000),"
    " (-201, 0, 'keyword', 'cat', 'cat', 0, 1000), (-201, 0, 'category', 'sport', 'Sport', 0, 1000),"
    " (-202, 0, 'source', 'wire', 'wire', 1, 1000),"
    " (-100301, 7, 'keyword', 'cat', 'cat', 0, 1000), (-100301, 0, 'keyword', 'rain', 'rain', 1, 1000)",
    # A repeated subscription is refused quietly, as the code's ON CONFLICT DO NOTHING does.
    "INSERT INTO subscriptions (chat_id, thread_id, kind, value, label, exclude, created_at)"
    " VALUES (101, 0, 'keyword', 'cat', 'CAT', 0, 1001) ON CONFLICT DO NOTHING",
    "INSERT INTO articles (id, source_id, guid, url, title, published_at, fetched_at) VALUES"
    " (1, 'wire', 'g1', 'https://wire.example/1', 'One', 1000, 1000),"
    " (2, 'wire', 'g2', 'https://wire.example/2', 'Two', 1000, 1000),"
    " (3, 'wire', 'g3', 'https://wire.example/3', 'Three', 1000, 1000),"
    " (4, 'local', 'g4', 'https://local.example/4', 'Four', 1000, 1000)",
    # Fan-out adds rows without a trigger and counts what it queued itself.
    "INSERT INTO outbox (article_id, chat_id, thread_id, state, next_attempt_at, created_at)"
    " SELECT 1, s.chat_id, s.thread_id, 'queued', 1000, 1000 FROM subscriptions AS s"
    " JOIN chats AS c ON c.id = s.chat_id WHERE c.status = 'active' AND s.exclude = 0"
    " ON CONFLICT DO NOTHING",
    "UPDATE outbox_counts SET n = n + (SELECT COUNT(*) FROM outbox WHERE article_id = 1)"
    " WHERE state = 'queued' AND slot = 0",
    "INSERT INTO outbox (article_id, chat_id, thread_id, state, next_attempt_at, created_at) VALUES"
    " (2, 101, 0, 'digest', 1000, 1000), (2, 102, 0, 'digest', 1000, 1000),"
    " (2, -201, 0, 'digest', 1000, 1000)",
    "UPDATE outbox_counts SET n = n + 3 WHERE state = 'digest' AND slot = 0",
    "INSERT INTO outbox (article_id, chat_id, thread_id, state, next_attempt_at, created_at, kind) VALUES"
    " (3, 5000000000, 0, 'queued', 1000, 1000, 'push'), (3, -100401, -1, 'queued', 1000, 1000, 'channel'),"
    " (3, -201, 0, 'queued', 1000, 1000, 'push'), (4, 102, 0, 'queued', 1000, 1000, 'push')",
    "UPDATE outbox_counts SET n = n + 4 WHERE state = 'queued' AND slot = 0",
    # The dispatcher claims, sends, fails, finds blocked chats, releases and drops stale rows.
    "UPDATE outbox SET state = 'sending' WHERE article_id = 1",
    "UPDATE outbox SET state = 'sent', sent_at = 1010, message_id = 9 WHERE article_id = 1 AND chat_id = 101",
    "UPDATE outbox SET state = 'failed', last_error = 'x' WHERE article_id = 1 AND chat_id = 102",
    "UPDATE outbox SET state = 'blocked' WHERE article_id = 1 AND chat_id = -100301",
    "UPDATE outbox SET state = 'queued', attempts = attempts + 1 WHERE state = 'sending'",
    "UPDATE outbox SET state = 'stale' WHERE article_id = 1 AND state = 'queued'",
    "UPDATE outbox SET state = state WHERE article_id = 2",
    "UPDATE outbox SET attempts = 3 WHERE article_id = 3",
    "UPDATE outbox SET state = 'digested', sent_at = 1020 WHERE article_id = 2 AND chat_id = 101",
    "UPDATE outbox SET state = 'sending' WHERE article_id = 3 AND chat_id = -100401",
    "UPDATE outbox SET state = 'sent', sent_at = 1030 WHERE article_id = 3 AND chat_id = -100401",
    # Compaction folds article 1's finished rows into its totals and removes them.
    "INSERT INTO delivery_totals (article_id, sent, digested, failed, blocked, stale)"
    " SELECT article_id, SUM(CASE WHEN state = 'sent' THEN 1 ELSE 0 END),"
    " SUM(CASE WHEN state = 'digested' THEN 1 ELSE 0 END), SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END),"
    " SUM(CASE WHEN state = 'blocked' THEN 1 ELSE 0 END), SUM(CASE WHEN state = 'stale' THEN 1 ELSE 0 END)"
    " FROM outbox WHERE article_id = 1 GROUP BY article_id",
    "DELETE FROM outbox WHERE article_id = 1",
    "INSERT INTO delivery_totals (article_id, sent, stale) VALUES (1, 2, 1)"
    " ON CONFLICT (article_id) DO UPDATE SET sent = delivery_totals.sent + excluded.sent,"
    " stale = delivery_totals.stale + excluded.stale",
    "UPDATE delivery_totals SET failed = failed + 1 WHERE article_id = 1",
    "INSERT INTO delivery_totals (article_id, sent, digested) VALUES (2, 4, 1), (4, 1, 0)",
    "DELETE FROM delivery_totals WHERE article_id = 4",
    # Telegram migrates group -201 to a supergroup: the same readers under a new id.
    "INSERT INTO chats (id, type, title, username, status, language, created_at, updated_at)"
    " SELECT -100201, 'supergroup', title, username, 'active', language, created_at, 1100"
    " FROM chats WHERE id = -201 ON CONFLICT (id) DO UPDATE SET status = 'active'",
    "UPDATE subscriptions SET chat_id = -100201 WHERE chat_id = -201",
    "UPDATE outbox SET chat_id = -100201 WHERE chat_id = -201 AND state IN ('queued', 'sending', 'digest')",
    "UPDATE chats SET status = 'migrated', migrated_to = -100201, updated_at = 1100 WHERE id = -201",
    # Status and type changes, and one that changes nothing.
    "UPDATE chats SET status = 'blocked' WHERE id = 102",
    "UPDATE chats SET status = 'active' WHERE id = 103",
    "UPDATE chats SET status = 'migrated' WHERE id = -202",
    "UPDATE chats SET type = 'supergroup' WHERE id = -100301",
    "UPDATE chats SET status = status, title = 'Me' WHERE id = 101",
    # Subscriptions change what they want, or whether they exclude it.
    "UPDATE subscriptions SET exclude = 1 WHERE chat_id = 101 AND kind = 'category'",
    "UPDATE subscriptions SET value = 'kitten', label = 'Kitten' WHERE chat_id = 102 AND kind = 'keyword'",
    "UPDATE subscriptions SET kind = 'category', value = 'cats' WHERE chat_id = 103 AND kind = 'keyword'",
    "UPDATE subscriptions SET kind = 'keyword', value = 'goal' WHERE chat_id = -100201 AND kind = 'category'",
    "DELETE FROM subscriptions WHERE kind = 'keyword' AND value = 'snow'",
    "DELETE FROM subscriptions WHERE chat_id = -202",
    # /forget of an active and of a blocked chat; pruning an article and removing a source.
    "DELETE FROM chats WHERE id = 101",
    "DELETE FROM chats WHERE id = 102",
    "DELETE FROM articles WHERE id = 2",
    "DELETE FROM sources WHERE id = 'local'",
)

COUNTERS = {
    # Summed over slots: on PostgreSQL each connection counts in its own row (migration 0014).
    "outbox_counts": "SELECT state, CAST(SUM(n) AS BIGINT) FROM outbox_counts GROUP BY state",
    "chat_counts": "SELECT status, n FROM chat_counts",
    "chat_type_counts": "SELECT type, n FROM chat_type_counts",
    "keywords": "SELECT value, exclude, n FROM keywords",
    "subscription_kind_counts": "SELECT kind, exclude, n FROM subscription_kind_counts",
    "subscription_count": "SELECT id, n FROM subscription_count",
    # The hour is the clock's: compared on its own below.
    "outcome_hours": "SELECT SUM(sent), SUM(failed), SUM(blocked), SUM(stale) FROM outcome_hours",
    "delivery_totals": "SELECT article_id, sent, digested, failed, blocked, stale FROM delivery_totals",
}

# What each counter would be if counted from scratch (outbox_counts includes compacted rows).
RECOUNTS = {
    "outbox_counts": "SELECT k.state, (SELECT COUNT(*) FROM outbox AS o WHERE o.state = k.state)"
    " + (SELECT COALESCE(SUM(CASE k.state WHEN 'sent' THEN sent WHEN 'digested' THEN digested"
    " WHEN 'failed' THEN failed WHEN 'blocked' THEN blocked WHEN 'stale' THEN stale ELSE 0 END), 0)"
    " FROM delivery_totals) FROM (SELECT DISTINCT state FROM outbox_counts) AS k",
    "chat_counts": "SELECT k.status, (SELECT COUNT(*) FROM chats AS c WHERE c.status = k.status)"
    " FROM chat_counts AS k",
    "chat_type_counts": "SELECT k.type, (SELECT COUNT(*) FROM chats AS c"
    " WHERE c.type = k.type AND c.status = 'active') FROM chat_type_counts AS k",
    "keywords": "SELECT value, exclude, COUNT(*) FROM subscriptions WHERE kind = 'keyword'"
    " GROUP BY value, exclude",
    "subscription_kind_counts": "SELECT k.kind, k.exclude, (SELECT COUNT(*) FROM subscriptions AS s"
    " WHERE s.kind = k.kind AND s.exclude = k.exclude) FROM subscription_kind_counts AS k",
    "subscription_count": "SELECT 1, COUNT(*) FROM subscriptions AS s JOIN chats AS c ON c.id = s.chat_id"
    " WHERE c.status = 'active' AND s.exclude = 0",
}


def _rows(rows: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Rows as sorted plain tuples, so neither driver's row type nor either collation matters."""
    return sorted(tuple(row) for row in rows)


@pytest.fixture
async def lite(tmp_path: Path) -> AsyncIterator[sqlite3.Connection]:
    """A SQLite database at the newest version, opened plainly with the bot's foreign keys on."""
    path = tmp_path / "news.db"
    await (await open_database(path)).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture
async def pg(postgres_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A fresh PostgreSQL database at the newest version, through the bot's migration runner."""
    await (await open_database(postgres_url)).close()
    conn = await asyncpg.connect(postgres_url)
    try:
        # Each back end's full-text index is its own design (FTS5 tables, a tsvector table); both
        # are judged by what search finds in tests/test_storage_search.py.
        await conn.execute("DROP TABLE article_search")
        yield conn
    finally:
        await conn.close()


def _is_fts(name: str) -> bool:
    return name == "article_search" or name.startswith("article_search_")


def _sqlite_tables(conn: sqlite3.Connection) -> Iterator[str]:
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        if not (_is_fts(name) or name.startswith("sqlite_") or name == LEDGER):
            yield name


def _sqlite_columns(conn: sqlite3.Connection) -> dict[str, list[str]]:
    return {t: [row[1] for row in conn.execute(f"PRAGMA table_info({t})")] for t in _sqlite_tables(conn)}


async def _pg_columns(conn: asyncpg.Connection) -> dict[str, list[str]]:
    columns: dict[str, list[str]] = {}
    for row in await conn.fetch(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
    ):
        if row["table_name"] != LEDGER:
            columns.setdefault(row["table_name"], []).append(row["column_name"])
    return columns


async def test_same_tables_and_columns_in_the_same_order(
    lite: sqlite3.Connection, pg: asyncpg.Connection
) -> None:
    assert await _pg_columns(pg) == _sqlite_columns(lite)


async def test_same_named_indexes(lite: sqlite3.Connection, pg: asyncpg.Connection) -> None:
    # SQLite names its constraint indexes sqlite_autoindex_* and leaves their sql NULL;
    # PostgreSQL's are the ones a constraint owns. Both kinds are compared as keys below.
    sqlite_names = {
        name
        for (name,) in lite.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
    }
    pg_names = {
        row[0]
        for row in await pg.fetch(
            "SELECT i.relname FROM pg_index AS x JOIN pg_class AS i ON i.oid = x.indexrelid"
            " JOIN pg_class AS t ON t.oid = x.indrelid"
            " WHERE t.relnamespace = current_schema()::regnamespace"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = x.indexrelid)"
        )
    }
    assert pg_names == sqlite_names


async def test_same_keys_and_foreign_keys(lite: sqlite3.Connection, pg: asyncpg.Connection) -> None:
    sqlite_keys: set[tuple[str, str, tuple[str, ...]]] = set()
    sqlite_refs: set[tuple[Any, ...]] = set()
    for table in _sqlite_tables(lite):
        info = lite.execute(f"PRAGMA table_info({table})").fetchall()
        sqlite_keys.add((table, "pk", tuple(r[1] for r in sorted(info, key=lambda r: r[5]) if r[5])))
        for _, index, _, origin, _ in lite.execute(f"PRAGMA index_list({table})"):
            if origin == "u":
                cols = tuple(r[2] for r in lite.execute(f"PRAGMA index_info({index})"))
                sqlite_keys.add((table, "unique", cols))
        refs: dict[int, list[Any]] = {}
        for fk_id, _, parent, col, parent_col, on_update, on_delete, _ in lite.execute(
            f"PRAGMA foreign_key_list({table})"
        ):
            refs.setdefault(fk_id, [table, (), parent, (), on_update, on_delete])
            refs[fk_id][1] += (col,)
            refs[fk_id][3] += (parent_col,)
        sqlite_refs |= {tuple(ref) for ref in refs.values()}

    actions = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
    pg_keys: set[tuple[str, str, tuple[str, ...]]] = set()
    pg_refs: set[tuple[Any, ...]] = set()
    for row in await pg.fetch(
        "SELECT c.contype::text AS contype, c.conrelid::regclass::text AS tbl,"
        " c.confrelid::regclass::text AS parent,"
        " c.confupdtype::text AS confupdtype, c.confdeltype::text AS confdeltype,"
        " ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY AS k (n, i)"
        "       JOIN pg_attribute AS a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i) AS cols,"
        " ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY AS k (n, i)"
        "       JOIN pg_attribute AS a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i)"
        " AS parent_cols"
        " FROM pg_constraint AS c WHERE c.connamespace = current_schema()::regnamespace"
        " AND c.contype IN ('p', 'u', 'f')"
    ):
        if row["contype"] == "f":
            pg_refs.add(
                (
                    row["tbl"],
                    tuple(row["cols"]),
                    row["parent"],
                    tuple(row["parent_cols"]),
                    actions[row["confupdtype"]],
                    actions[row["confdeltype"]],
                )
            )
        elif row["tbl"] != LEDGER:
            pg_keys.add((row["tbl"], "pk" if row["contype"] == "p" else "unique", tuple(row["cols"])))
    assert pg_keys == sqlite_keys
    assert pg_refs == sqlite_refs - KEPT_BY_TRIGGERS
    assert sqlite_refs >= KEPT_BY_TRIGGERS


async def test_same_triggers(lite: sqlite3.Connection, pg: asyncpg.Connection) -> None:
    sqlite_names = {name for (name,) in lite.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    pg_names = {
        row[0]
        for row in await pg.fetch(
            "SELECT t.tgname FROM pg_trigger AS t JOIN pg_class AS c ON c.oid = t.tgrelid"
            " WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace"
        )
    }
    assert pg_names - POSTGRES_ONLY_TRIGGERS == sqlite_names - SQLITE_ONLY_TRIGGERS


async def test_seeded_rows_match(lite: sqlite3.Connection, pg: asyncpg.Connection) -> None:
    seeded = {**COUNTERS, "sources": "SELECT id, name, url, kind, origin, paused FROM sources"}
    for name, query in seeded.items():
        assert _rows(await pg.fetch(query)) == _rows(lite.execute(query).fetchall()), name


async def test_counters_end_where_sqlites_do(lite: sqlite3.Connection, pg: asyncpg.Connection) -> None:
    hour_before = int(time.time()) // 3600
    for statement in SEQUENCE:
        lite.execute(statement)
        await pg.execute(statement)
    hour_after = int(time.time()) // 3600

    for name, query in COUNTERS.items():
        assert _rows(await pg.fetch(query)) == _rows(lite.execute(query).fetchall()), name
    for name, query in RECOUNTS.items():
        assert _rows(await pg.fetch(COUNTERS[name])) == _rows(await pg.fetch(query)), name
    hours = {row[0] for row in await pg.fetch("SELECT hour FROM outcome_hours")}
    assert hours and hours <= {hour_before, hour_after}
    # Enough happened that a counter left at its seed would have been noticed.
    assert (await pg.fetchval("SELECT n FROM subscription_count")) > 0
    assert (await pg.fetchval("SELECT SUM(n) FROM outbox_counts WHERE state = 'sent'")) > 0


async def test_a_chat_id_changed_through_the_cascade_counts_alike(
    lite: sqlite3.Connection, pg: asyncpg.Connection
) -> None:
    # The code never changes a chat's id (a migrated group is copied to a new row), but the foreign
    # keys cascade one. On both back ends subscription_count then counts the chat's subscriptions
    # again (the moved row's old chat no longer exists to subtract); what matters here is that the
    # back ends agree.
    for statement in (*SEQUENCE[:3], "UPDATE chats SET id = 104 WHERE id = 5000000000"):
        lite.execute(statement)
        await pg.execute(statement)
    for name, query in COUNTERS.items():
        assert _rows(await pg.fetch(query)) == _rows(lite.execute(query).fetchall()), name
    moved = "SELECT chat_id FROM subscriptions WHERE value = 'snow'"
    assert await pg.fetchval(moved) == lite.execute(moved).fetchone()[0] == 104


async def test_deleted_articles_and_chats_take_their_outbox_rows_alike(
    lite: sqlite3.Connection, pg: asyncpg.Connection
) -> None:
    # SQLite's foreign keys and PostgreSQL's triggers: /forget, a prune and a source's removal
    # leave the same outbox, and a changed chat id moves the chat's rows on both.
    for statement in (*SEQUENCE, "UPDATE chats SET id = 105 WHERE id = 5000000000"):
        lite.execute(statement)
        await pg.execute(statement)
    left = "SELECT article_id, chat_id, thread_id, state FROM outbox"
    assert _rows(await pg.fetch(left)) == _rows(lite.execute(left).fetchall())
    chats = {row[1] for row in lite.execute(left)}
    assert 105 in chats and not chats & {101, 102, 5000000000}
    assert not {row[0] for row in lite.execute(left)} & {2, 4}


@pytest.mark.parametrize(
    ("column", "value", "accepted"),
    [
        ("digest_time", "09:30", True),
        ("digest_time", "29:59", True),
        ("digest_time", "9:30", False),
        ("digest_time", "09:30 ", False),
        ("digest_time", "x09:30", False),
        ("digest_time", "09:60", False),
        ("tags", '["a", "b"]', True),
        ("tags", "{}", True),
        ("tags", "[", False),
        ("tags", "not json", False),
    ],
)
async def test_checks_refuse_what_sqlite_refuses(
    lite: sqlite3.Connection, pg: asyncpg.Connection, column: str, value: str, accepted: bool
) -> None:
    literal = "'" + value.replace("'", "''") + "'"
    if column == "digest_time":
        statement = (
            "INSERT INTO chats (id, type, digest_time, created_at, updated_at)"
            " VALUES (1, 'private', {}, 0, 0)"
        )
    else:
        article = (
            "INSERT INTO articles (id, source_id, guid, url, title, published_at, fetched_at)"
            " VALUES (1, 'wire', 'g', 'u', 't', 0, 0)"
        )
        for setup in (SEQUENCE[0], article):
            lite.execute(setup)
            await pg.execute(setup)
        statement = "INSERT INTO article_pages (article_id, tags, fetched_at) VALUES (1, {}, 0)"
    statement = statement.format(literal)
    if accepted:
        lite.execute(statement)
        await pg.execute(statement)
    else:
        with pytest.raises(sqlite3.IntegrityError):
            lite.execute(statement)
        with pytest.raises(asyncpg.CheckViolationError):
            await pg.execute(statement)


async def test_audit_is_append_only_on_both(lite: sqlite3.Connection, pg: asyncpg.Connection) -> None:
    insert = "INSERT INTO audit (at, actor, action) VALUES (1, 7, 'ban')"
    lite.execute(insert)
    await pg.execute(insert)
    for statement in ("UPDATE audit SET actor = 8", "DELETE FROM audit"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            lite.execute(statement)
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await pg.execute(statement)
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await pg.execute("TRUNCATE audit")
    assert await pg.fetchval("SELECT COUNT(*) FROM audit") == 1
