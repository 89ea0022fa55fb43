"""Who the staff are, and telling the admins something once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import ExtBot

from bot.i18n import Translate, supported, translator
from bot.storage import DATABASE_ERRORS, chats, moderation
from bot.storage.interface import Database

logger = logging.getLogger(__name__)


async def admin_ids(db: Database, owners: frozenset[int]) -> list[int]:
    """Owners, then the admins granted in the database."""
    granted = [s.user_id for s in await moderation.list_staff(db) if s.role == "admin"]
    return sorted(owners) + [g for g in granted if g not in owners]


LANGUAGE_WAIT = 2.0  # seconds a note waits for its reader's language before it goes in the default
_NO_LANGUAGE: tuple[type[BaseException], ...] = (*DATABASE_ERRORS, TimeoutError)


async def _language(db: Database | None, user_id: int, default: str) -> str:
    """The language of a staff member's private chat (its id is theirs), else the default: also
    when the database cannot say soon, since it may be the very thing the note is about (a pool
    with no free connection waits without end), or is closed already."""
    if db is None:
        return default
    try:
        async with asyncio.timeout(LANGUAGE_WAIT):
            return supported(await chats.language_of(db, chat_id=user_id)) or default
    except _NO_LANGUAGE as exc:
        logger.warning("Could not read the language of %d: %s", user_id, exc)
        return default


async def _send_each(
    bot: ExtBot[Any],
    db: Database | None,
    user_ids: Iterable[int],
    text: str | Callable[[Translate], str],
    default_language: str,
) -> int:
    told = 0
    for user_id in user_ids:
        note = text(translator(await _language(db, user_id, default_language))) if callable(text) else text
        try:
            await bot.send_message(user_id, note, parse_mode=ParseMode.HTML)
            told += 1
        except TelegramError as exc:  # an admin who never started the bot, or blocked it
            logger.warning("Could not tell admin %d: %s", user_id, exc)
    return told


async def notify_admins(
    bot: ExtBot[Any],
    db: Database,
    owners: frozenset[int],
    text: str | Callable[[Translate], str],
    *,
    default_language: str = "en",
) -> int:
    """Send an HTML note to every owner and admin, each in their own language; return how many got it.

    When the database cannot list the admins it granted, the owners are still told.
    """
    try:
        user_ids = await admin_ids(db, owners)
    except DATABASE_ERRORS as exc:
        logger.warning("Could not read the admins; telling the owners only: %s", exc)
        user_ids = sorted(owners)
    return await _send_each(bot, db, user_ids, text, default_language)


async def tell_owners(
    bot: ExtBot[Any],
    db: Database | None,
    owners: Iterable[int],
    text: str | Callable[[Translate], str],
    *,
    default_language: str = "en",
) -> int:
    """Send an HTML note about the bot's own health (a failing task or source, a fault's trace) to
    the owners named in the settings, each in their own language; return how many got it."""
    return await _send_each(bot, db, owners, text, default_language)
