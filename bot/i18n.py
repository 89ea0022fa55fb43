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


def available_languages() -> frozenset[str]:
    """The language codes newsbot can speak: English and every installed catalog."""
    found = {"en"}
    if LOCALES.is_dir():
        found.update(p.name.replace("_", "-") for p in LOCALES.iterdir() if (p / "LC_MESSAGES").is_dir())
    return frozenset(found)


def is_available(language: str) -> bool:
    """True when ``language`` (like 'en' or 'az-Latn') or its base language has a catalog."""
    known = {code.lower() for code in available_languages()}
    return language.lower() in known or language.split("-")[0].lower() in known


def _(message: str) -> str:
    """Mark a string for extraction; it is translated where the chat's language is known."""
    return message
