"""Inline keyboards: the /subscribe menu and the /mysubs list."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.models import Subscription
from bot.render import callbacks
from bot.render.articles import label

MAX_CHOICES = 40  # well inside Telegram's 100 buttons


def subscribe_menu(
    categories: Sequence[str], sources: Sequence[tuple[str, str]], *, everything: str
) -> InlineKeyboardMarkup:
    """Everything first, then each category, then each source (id, name); two a row."""
    rows = [[InlineKeyboardButton(everything, callback_data=callbacks.encode(callbacks.SUBSCRIBE, "all"))]]
    choices: list[InlineKeyboardButton] = []
    for name in categories:
        arg = f"category:{name}"
        if callbacks.fits(callbacks.SUBSCRIBE, arg):  # a name too long for a button stays typed-only
            choices.append(InlineKeyboardButton(f"🏷 {label(name, 30)}", callback_data=f"sub:{arg}"))
    for source_id, source_name in sources:
        arg = f"source:{source_id}"
        if callbacks.fits(callbacks.SUBSCRIBE, arg):
            choices.append(InlineKeyboardButton(f"📰 {label(source_name, 30)}", callback_data=f"sub:{arg}"))
    choices = choices[:MAX_CHOICES]
    rows += [choices[i : i + 2] for i in range(0, len(choices), 2)]
    return InlineKeyboardMarkup(rows)


def remove_buttons(
    subs: Sequence[Subscription],
    *,
    stop_all: str | None = None,
    describe: Callable[[Subscription], str] = Subscription.describe,
) -> InlineKeyboardMarkup | None:
    """One ✖ button per subscription, and a last one that removes them all when ``stop_all``
    labels it; None when there is nothing to remove."""
    if not subs:
        return None
    rows = [
        [
            InlineKeyboardButton(
                f"✖ {label(describe(s), 40)}",
                callback_data=callbacks.encode(callbacks.REMOVE, str(s.id)),
            )
        ]
        for s in subs[:MAX_CHOICES]
    ]
    if stop_all and len(subs) > 1:
        rows.append(
            [InlineKeyboardButton(stop_all, callback_data=callbacks.encode(callbacks.REMOVE, callbacks.ALL))]
        )
    return InlineKeyboardMarkup(rows)
