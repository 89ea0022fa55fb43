"""The strings the code marks for translation, read with Babel's extractor (scripts/update_catalogs)."""

from __future__ import annotations

from dataclasses import dataclass

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from bot.i18n import DOMAIN
from bot.paths import LOCALES, ROOT

# The same keywords scripts/update_catalogs gives pybabel: gettext, ngettext and the two markers.
KEYWORDS = {"_": None, "tr": None, "translate": None, "ngettext": (1, 2), "N_": (1, 2)}
METHODS = [("bot/**.py", "python"), ("handlers/**.py", "python"), ("jobs/**.py", "python")]


@dataclass(frozen=True)
class Marked:
    """A string found in the code: its msgid, its plural (for counted texts) and where it is."""

    msgid: str
    plural: str | None
    where: str


def marked_strings() -> dict[str, Marked]:
    """Every msgid the source tree passes to a translation keyword, by msgid."""
    found: dict[str, Marked] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map=METHODS, keywords=KEYWORDS, comment_tags=(), strip_comment_tags=True
    ):
        if isinstance(message, tuple | list):
            msgid, plural = message[0], message[1]
        else:
            msgid, plural = message, None
        if msgid:
            found.setdefault(msgid, Marked(msgid, plural, f"{filename}:{lineno}"))
    return found


def fill_english() -> None:
    """English is the source language: its catalog says each msgid as written."""
    path = LOCALES / "en" / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as f:
        catalog = read_po(f, locale="en")
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, tuple | list):
            if not any(message.string or ()):
                message.string = tuple(message.id)
        elif not message.string:
            message.string = message.id
    with path.open("wb") as f:
        write_po(f, catalog, width=0, omit_header=False, ignore_obsolete=True)


if __name__ == "__main__":
    fill_english()
