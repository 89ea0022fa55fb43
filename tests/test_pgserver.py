"""The throw-away PostgreSQL server the storage tests, benchmarks and the chaos test run on."""

from __future__ import annotations

import socket
from pathlib import Path

import asyncpg
import pytest

from tests.pgserver import PostgresServer, PostgresServerError


async def test_a_fresh_database_accepts_connections_and_is_empty(postgres_url: str) -> None:
    connection = await asyncpg.connect(postgres_url)
    try:
        assert await connection.fetchval("SELECT current_database()") == postgres_url.rsplit("/", 1)[1]
        tables = await connection.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
        assert tables == 0
        assert await connection.fetchval("SHOW server_encoding") == "UTF8"
        await connection.execute("CREATE TABLE notes (body text)")
        await connection.execute("INSERT INTO notes VALUES ('ünïcode ✓')")
        assert await connection.fetchval("SELECT body FROM notes") == "ünïcode ✓"
    finally:
        await connection.close()


async def test_the_server_is_its_own_not_the_system_one(postgres_server: PostgresServer) -> None:
    assert postgres_server.port != 5432
    assert postgres_server.url().startswith(f"postgresql://postgres@127.0.0.1:{postgres_server.port}/")
    connection = await asyncpg.connect(postgres_server.url())
    try:
        sockets = await connection.fetchval("SHOW unix_socket_directories")
        assert sockets == str(postgres_server.socket_dir)
        assert await connection.fetchval("SHOW fsync") == "off"
        assert int(await connection.fetchval("SHOW max_connections")) >= 300
    finally:
        await connection.close()


async def test_two_fresh_databases_are_separate(postgres_server: PostgresServer) -> None:
    first = await postgres_server.make_database()
    second = await postgres_server.make_database()
    try:
        assert first != second
        one = await asyncpg.connect(first)
        await one.execute("CREATE TABLE only_here (x int)")
        await one.close()
        two = await asyncpg.connect(second)
        try:
            assert await two.fetchval("SELECT to_regclass('only_here')") is None
        finally:
            await two.close()
    finally:
        for url in (first, second):
            await postgres_server.drop_database(url.rsplit("/", 1)[1])


async def test_a_copy_of_a_template_has_its_schema(postgres_server: PostgresServer) -> None:
    async def build(url: str) -> None:
        connection = await asyncpg.connect(url)
        await connection.execute("CREATE TABLE chats (id bigint PRIMARY KEY); INSERT INTO chats VALUES (7)")
        await connection.close()

    template = await postgres_server.template("pgserver_test", build)
    assert await postgres_server.template("pgserver_test", build) == template  # built once
    url = await postgres_server.make_database(template=template)
    connection = await asyncpg.connect(url)
    try:
        assert await connection.fetchval("SELECT id FROM chats") == 7
        await connection.execute("INSERT INTO chats VALUES (8)")
    finally:
        await connection.close()
    await postgres_server.drop_database(url.rsplit("/", 1)[1])
    # The copy's writes stay in the copy.
    again = await postgres_server.make_database(template=template)
    connection = await asyncpg.connect(again)
    try:
        assert await connection.fetchval("SELECT count(*) FROM chats") == 1
    finally:
        await connection.close()
        await postgres_server.drop_database(again.rsplit("/", 1)[1])


async def test_dropping_a_database_ends_a_connection_the_test_left_open(
    postgres_server: PostgresServer,
) -> None:
    url = await postgres_server.make_database()
    name = url.rsplit("/", 1)[1]
    leftover = await asyncpg.connect(url)
    await postgres_server.drop_database(name)
    admin = await asyncpg.connect(postgres_server.url())
    try:
        assert await admin.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name) == 0
    finally:
        await admin.close()
        await leftover.close()


def test_a_stopped_server_is_gone_with_its_folder() -> None:
    server = PostgresServer()
    with server:
        folder, port = server.folder, server.port
        assert folder is not None
        assert folder.is_dir()
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    assert not folder.exists()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=5):
        pass


async def test_a_restarted_server_keeps_its_port_and_data_and_ends_the_old_sessions() -> None:
    with PostgresServer() as server:
        url = await server.make_database()
        before = await asyncpg.connect(url)
        await before.execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (1)")
        port = server.port
        server.restart()
        assert server.port == port
        with pytest.raises((asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError)):
            await before.fetchval("SELECT 1")
        await before.close()
        after = await asyncpg.connect(url)
        try:
            assert await after.fetchval("SELECT x FROM kept") == 1
        finally:
            await after.close()


def test_a_server_that_cannot_start_says_why_from_its_log() -> None:
    server = PostgresServer(settings={"shared_buffers": "'plenty'"})
    with pytest.raises(PostgresServerError, match='invalid value for parameter "shared_buffers"') as caught:
        server.start()
    assert "server log" in str(caught.value)
    assert server.folder is None  # stopped and cleaned up, not left half-started


def test_missing_server_binaries_are_named(tmp_path: Path) -> None:
    with pytest.raises(PostgresServerError, match="initdb, pg_ctl, postgres"):
        PostgresServer(bindir=tmp_path).start()
