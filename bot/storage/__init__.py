"""Storage: SQLite through aiosqlite, or PostgreSQL through asyncpg. All SQL of newsbot lives here."""

import sqlite3
from pathlib import Path

from bot.storage import postgres
from bot.storage.connection import SqliteDatabase
from bot.storage.interface import Database
from bot.storage.postgres import PostgresDatabase, is_postgres_url

# What a database in trouble raises (locked, gone, refused, timed out), on either back end.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error, *postgres.ERRORS)


async def open_database(target: Path | str) -> Database:
    """Open the database (a SQLite file, or a postgresql:// URL) with an up-to-date schema."""
    if is_postgres_url(target):
        return await PostgresDatabase.open(str(target))
    return await SqliteDatabase.open(target)


__all__ = ["DATABASE_ERRORS", "Database", "open_database"]
