"""Storage: SQLite through aiosqlite, or PostgreSQL through asyncpg. All SQL of newsbot lives here."""

from pathlib import Path

from bot.storage.connection import SqliteDatabase
from bot.storage.interface import Database
from bot.storage.postgres import PostgresDatabase, is_postgres_url


async def open_database(target: Path | str) -> Database:
    """Open the database (a SQLite file, or a postgresql:// URL) with an up-to-date schema."""
    if is_postgres_url(target):
        return await PostgresDatabase.open(str(target))
    return await SqliteDatabase.open(target)


__all__ = ["Database", "open_database"]
