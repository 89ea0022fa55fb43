"""One translation function for every user-facing string (gettext catalogs under data/locales)."""

from __future__ import annotations

import gettext
from collections.abc import Callable
from functools import lru_cache

from bot.paths import LOCALES

DOMAIN = "newsbot"
Translate = Callable[[str], str]


@lru_cache(maxsize=32)
def translator(language: str | None) -> Translate:
    """The gettext function for a language code such as 'en' or 'az-Latn'; English when unknown."""
    languages = [language.replace("-", "_"), language.split("-")[0]] if language else ["en"]
    catalog = gettext.translation(DOMAIN, localedir=LOCALES, languages=languages, fallback=True)
    return catalog.gettext


def _(message: str) -> str:
    """Mark a string for extraction; it is translated where the chat's language is known."""
    return message
