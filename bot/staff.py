"""Who the staff are, and telling the admins something once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import ExtBot

from bot.i18n import Translate, supported, translator
from bot.storage import chats, moderation
from bot.storage.interface import Database

logger = logging.getLogger(__name__)


async def admin_ids(db: Database, owners: frozenset[int]) -> list[int]:
    """Owners, then the admins granted in the database."""
    granted = [s.user_id for s in await moderation.list_staff(db) if s.role == "admin"]
    return sorted(owners) + [g for g in granted if g not in owners]


async def notify_admins(
    bot: ExtBot[Any],
    db: Database,
    owners: frozenset[int],
    text: str | Callable[[Translate], str],
    *,
    default_language: str = "en",
) -> int:
    """Send an HTML note to every owner and admin, each in their own language; return how many got it."""
    told = 0
    for user_id in await admin_ids(db, owners):
        if callable(text):
            # An admin's private chat has their id; its language is theirs.
            language = supported(await chats.language_of(db, chat_id=user_id)) or default_language
            note = text(translator(language))
        else:
            note = text
        try:
            await bot.send_message(user_id, note, parse_mode=ParseMode.HTML)
            told += 1
        except TelegramError as exc:  # an admin who never started the bot, or blocked it
            logger.warning("Could not tell admin %d: %s", user_id, exc)
    return told
