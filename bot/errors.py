"""Exceptions newsbot raises itself.

NewsbotError
 ├── ConfigError       start-up cannot go on: a setting is missing, unknown or impossible
 ├── StorageError      the database is not in the state this code expects
 │    ├── MigrationError
 │    ├── DatabaseUnavailable   the file cannot be opened, read or written
 │    └── AlreadyRunning        another newsbot process holds the database
 └── TelegramUnavailable        Telegram rejected the token or the webhook, or polling stopped for good
"""

from __future__ import annotations


class NewsbotError(Exception):
    """Base of every error newsbot raises on purpose."""


class ConfigError(NewsbotError):
    """A setting is missing, unknown, of the wrong type or out of range."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"config: {key}: {problem}")
        self.key = key
        self.problem = problem


class StorageError(NewsbotError):
    """The database is not in the state this code expects."""


class MigrationError(StorageError):
    """A schema migration could not be applied."""


class DatabaseUnavailable(StorageError):
    """The database file cannot be opened, read or written (its message is one line)."""


class AlreadyRunning(StorageError):
    """Another newsbot process holds the database's instance lock."""


class TelegramUnavailable(NewsbotError):
    """Telegram rejected the token or the webhook URL, or polling stopped for good; never holds the token."""
