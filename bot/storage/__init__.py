"""Storage: SQLite through aiosqlite. All SQL of newsbot lives in this package."""

from pathlib import Path

from bot.storage.connection import Database
from bot.text import keyword_matches

# SQL functions every connection carries; fan-out matches keywords with kw_match().
SQL_FUNCTIONS = (("kw_match", 2, keyword_matches),)


async def open_database(path: Path | str) -> Database:
    """Open the database with newsbot's SQL functions and an up-to-date schema."""
    return await Database.open(path, functions=SQL_FUNCTIONS)


__all__ = ["SQL_FUNCTIONS", "Database", "open_database"]
