"""The /settings message: how a chat's pushed items arrive, one toggle button per option."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import Translate, _
from bot.models import PUSH_OPTIONS, PushOptions
from bot.render import callbacks

# Whole phrases per state, so that each language words them its own way.
_LABELS = {
    ("silent", False): _("🔔 Notifications: with sound"),
    ("silent", True): _("🔕 Notifications: silent"),
    ("preview", True): _("🌐 Link preview: on"),
    ("preview", False): _("🌐 Link preview: off"),
    ("photo", True): _("🖼 With photo: on"),
    ("photo", False): _("🖼 With photo: off"),
    ("short", False): _("📰 Form: long (with the lead)"),
    ("short", True): _("📰 Form: short (title, source, time)"),
}
HEADING = _("How news arrives in this chat. Press a button to change it.")


def settings_text(translate: Translate) -> str:
    """The line above the buttons."""
    return translate(HEADING)


def settings_keyboard(options: PushOptions, translate: Translate) -> InlineKeyboardMarkup:
    """One button per option showing its state; a press sets the other state."""
    rows = []
    for name in PUSH_OPTIONS:
        value = bool(getattr(options, name))
        data = callbacks.encode(callbacks.OPTION, f"{name}:{int(not value)}")
        rows.append([InlineKeyboardButton(translate(_LABELS[name, value]), callback_data=data)])
    return InlineKeyboardMarkup(rows)
