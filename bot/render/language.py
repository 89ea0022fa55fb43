"""The /language reply: each language we speak as a button, named in itself."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import NATIVE_NAMES, Translate, available_languages
from bot.render import callbacks


def offered_languages() -> list[str]:
    """The languages with a catalog, in the order the buttons show them."""
    known = available_languages()
    order = [code for code in NATIVE_NAMES if code in known]
    return order + sorted(known - set(order))


def language_text(translate: Translate) -> str:
    return translate("Choose the language I speak in this chat. Now: {language}.").format(
        language=NATIVE_NAMES.get(translate.language, translate.language)
    )


def language_keyboard(current: str) -> InlineKeyboardMarkup:
    """One button per language; the chat's current one is ticked."""
    buttons = [
        InlineKeyboardButton(
            ("✓ " if code == current else "") + NATIVE_NAMES.get(code, code),
            callback_data=callbacks.encode(callbacks.LANGUAGE, code),
        )
        for code in offered_languages()
    ]
    return InlineKeyboardMarkup([buttons[i : i + 2] for i in range(0, len(buttons), 2)])
