"""Who the staff are, and telling the admins something once."""

from __future__ import annotations

import logging
from typing import Any

from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import ExtBot

from bot.storage import moderation
from bot.storage.connection import Database

logger = logging.getLogger(__name__)


async def admin_ids(db: Database, owners: frozenset[int]) -> list[int]:
    """Owners, then the admins granted in the database."""
    granted = [s.user_id for s in await moderation.list_staff(db) if s.role == "admin"]
    return sorted(owners) + [g for g in granted if g not in owners]


async def notify_admins(bot: ExtBot[Any], db: Database, owners: frozenset[int], text: str) -> int:
    """Send an HTML note to every owner and admin; return how many got it."""
    told = 0
    for user_id in await admin_ids(db, owners):
        try:
            await bot.send_message(user_id, text, parse_mode=ParseMode.HTML)
            told += 1
        except TelegramError as exc:  # an admin who never started the bot, or blocked it
            logger.warning("Could not tell admin %d: %s", user_id, exc)
    return told
