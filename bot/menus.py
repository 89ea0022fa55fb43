"""Telegram's command menus: the reader commands per language, and each staff member's own menu."""

from __future__ import annotations

import logging
from typing import Any

from telegram import BotCommand, BotCommandScopeChat
from telegram.error import TelegramError
from telegram.ext import ExtBot

from bot.i18n import Translate, supported, translator
from bot.render.help import ADMIN_COMMANDS, MODERATOR_COMMANDS, READER_COMMANDS
from bot.render.language import offered_languages
from bot.storage import chats, moderation
from bot.storage.interface import Database

logger = logging.getLogger(__name__)


def _commands(tr: Translate, *groups: tuple[tuple[str, str], ...]) -> list[BotCommand]:
    return [BotCommand(name, tr(description)) for group in groups for name, description in group]


async def set_reader_menus(bot: ExtBot[Any], *, default_language: str) -> None:
    """The menu everyone sees: one per language we speak, and the default for all others."""
    # Admin commands stay out of the menu everyone sees; staff get their own (set_staff_menu).
    await bot.set_my_commands(_commands(translator(default_language), READER_COMMANDS))
    for code in offered_languages():
        await bot.set_my_commands(_commands(translator(code), READER_COMMANDS), language_code=code)


async def set_staff_menu(
    bot: ExtBot[Any], db: Database, *, user_id: int, owners: frozenset[int], default_language: str
) -> None:
    """The menu in one staff member's private chat, in their language; removed when they have no role."""
    scope = BotCommandScopeChat(user_id)
    role = await moderation.role_of(db, user_id=user_id, owners=owners)
    if role is None:
        await bot.delete_my_commands(scope=scope)
        return
    # A private chat's id is its user's id: their chat's language is their language.
    tr = translator(supported(await chats.language_of(db, chat_id=user_id)) or default_language)
    groups = [READER_COMMANDS, MODERATOR_COMMANDS]
    if role in ("owner", "admin"):
        groups.append(ADMIN_COMMANDS)
    await bot.set_my_commands(_commands(tr, *groups), scope=scope)


async def set_all_menus(
    bot: ExtBot[Any], db: Database, *, owners: frozenset[int], default_language: str
) -> None:
    """Every menu at start-up; a failure leaves only the menu missing, so it is logged and skipped."""
    try:
        await set_reader_menus(bot, default_language=default_language)
    except TelegramError as exc:
        logger.warning("Could not set the command menu: %s", exc)
    staff = set(owners) | {member.user_id for member in await moderation.list_staff(db)}
    for user_id in sorted(staff):
        try:
            await set_staff_menu(bot, db, user_id=user_id, owners=owners, default_language=default_language)
        except TelegramError as exc:  # e.g. an owner who never opened a chat with the bot
            logger.warning("Could not set the staff menu of %d: %s", user_id, exc)
