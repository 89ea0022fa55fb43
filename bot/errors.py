"""Exceptions newsbot raises itself.

NewsbotError
 ├── ConfigError       start-up cannot go on: a setting is missing, unknown or impossible
 └── StorageError      the database is not in the state this code expects
      └── MigrationError
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
