"""One translation function for every user-facing string (gettext catalogs under data/locales)."""

from __future__ import annotations

import gettext
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime, format_timedelta

from bot.paths import LOCALES

logger = logging.getLogger(__name__)

DOMAIN = "newsbot"
# Each language's name in itself, for the /language buttons; the order they are offered in.
NATIVE_NAMES = {"en": "English", "ru": "Русский", "az": "Azərbaycanca", "tr": "Türkçe"}


@dataclass(frozen=True)
class Translate:
    """A chat's language: call it like gettext, ``ngettext`` for counts, ``when``/``ago`` for times."""

    language: str
    catalog: gettext.NullTranslations

    def __call__(self, message: str) -> str:
        return self.catalog.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """The form of a counted text this language uses for ``n``."""
        return self.catalog.ngettext(singular, plural, n)

    @property
    def locale(self) -> Locale:
        return _locale(self.language)

    def when(self, moment: datetime, tz: ZoneInfo, *, style: str = "d MMM, HH:mm") -> str:
        """A date and time in the reader's zone, with month names in their language."""
        return format_datetime(moment.astimezone(tz), style, locale=self.locale)

    def ago(self, seconds: float) -> str:
        """A duration such as "5 minutes" / "5 минут", rounded the way people say it."""
        return format_timedelta(timedelta(seconds=seconds), threshold=1.0, locale=self.locale)


@lru_cache(maxsize=16)
def _locale(language: str) -> Locale:
    try:
        return Locale.parse(language.replace("-", "_"))
    except (ValueError, LookupError):
        return Locale.parse("en")


@lru_cache(maxsize=32)
def translator(language: str | None) -> Translate:
    """The gettext function for a language code such as 'en' or 'az-Latn'; English when unknown."""
    languages = [language.replace("-", "_"), language.split("-")[0]] if language else ["en"]
    catalog = gettext.translation(DOMAIN, localedir=LOCALES, languages=languages, fallback=True)
    return Translate(supported(language) or "en", catalog)


@lru_cache(maxsize=1)
def available_languages() -> frozenset[str]:
    """The language codes newsbot can speak: English and every installed catalog."""
    found = {"en"}
    if LOCALES.is_dir():
        found.update(p.name.replace("_", "-") for p in LOCALES.iterdir() if (p / "LC_MESSAGES").is_dir())
    return frozenset(found)


def is_available(language: str) -> bool:
    """True when ``language`` (like 'en' or 'az-Latn') or its base language has a catalog."""
    return supported(language) is not None


@lru_cache(maxsize=256)  # the dispatcher asks once per message; catalogs do not change while running
def supported(language: str | None) -> str | None:
    """Our code for a Telegram ``language_code`` ('ru', 'az-Latn', 'pt-br'), None when we lack it."""
    if not language:
        return None
    known = {code.lower(): code for code in available_languages()}
    return known.get(language.lower()) or known.get(language.split("-")[0].lower())


def uncompiled_catalogs(root: Path = LOCALES) -> list[Path]:
    """Catalogs (.po) that have no compiled .mo beside them, or an older one."""
    stale = []
    for po in sorted(root.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            stale.append(po)
    return stale


def warn_uncompiled(root: Path = LOCALES) -> None:
    """Log each catalog the install did not compile: that language would silently be English."""
    for po in uncompiled_catalogs(root):
        logger.warning(
            "Translations in %s are not compiled (run scripts/compile_catalogs or reinstall);"
            " chats in %s get English until then",
            po,
            po.parent.parent.name,
        )


class ExplainedError(ValueError):
    """A refusal whose text is marked for translation: ``str()`` is English, ``explain(tr)`` is not."""

    def __init__(self, message: str, **values: object) -> None:
        super().__init__(message.format(**values))
        self.message = message
        self.values = values

    def explain(self, translate: Callable[[str], str]) -> str:
        return translate(self.message).format(**self.values)


def _(message: str) -> str:
    """Mark a string for extraction; it is translated where the chat's language is known."""
    return message


def N_(singular: str, plural: str) -> tuple[str, str]:
    """Mark a counted text for extraction; ``Translate.ngettext`` picks its form later."""
    return singular, plural
