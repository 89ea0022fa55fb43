"""The translation catalogs against the code: every marked string translated, nothing stale or broken."""

from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from bot.catalogs import Marked, marked_strings
from bot.i18n import available_languages, uncompiled_catalogs, warn_uncompiled
from bot.paths import LOCALES

# gettext practice: Russian has one, few and many; Azerbaijani and Turkish say "1 xəbər" / "5 haber"
# with the noun unchanged, but gettext catalogs give them two forms.
PLURALS = {
    "en": (2, "(n != 1)"),
    "ru": (3, "(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2)"),
    "az": (2, "(n != 1)"),
    "tr": (2, "(n != 1)"),
}
# The HTML Telegram understands; any of them must survive translation unchanged.
_TAG = re.compile(
    r"</?(?:b|strong|i|em|u|ins|s|strike|del|span|tg-spoiler|a|code|pre|blockquote|tg-emoji)\b[^>]*>"
)
_BRACES = re.compile(r"\{[^{}]*\}")
_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[sdifr%]")


def _catalog(language: str) -> Catalog:
    with (LOCALES / language / "LC_MESSAGES" / "newsbot.po").open("rb") as f:
        return read_po(f, locale=language)


def _shape(text: str) -> tuple[Counter[str], Counter[str], Counter[str]]:
    return Counter(_TAG.findall(text)), Counter(_BRACES.findall(text)), Counter(_PERCENT.findall(text))


@pytest.fixture(scope="module")
def marked() -> dict[str, Marked]:
    return marked_strings()


def test_the_code_marks_strings_and_we_speak_four_languages(marked: dict[str, Marked]) -> None:
    assert {"en", "ru", "az", "tr"} <= available_languages()
    assert "Usage:" in marked and "This button no longer works." in marked
    assert marked["Your digest: {n} new item"].plural == "Your digest: {n} new items"


@pytest.mark.parametrize("language", sorted(PLURALS))
def test_catalog_has_every_string_of_the_code_and_nothing_else(
    language: str, marked: dict[str, Marked]
) -> None:
    catalog = _catalog(language)
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}
    missing = [f"{m.msgid!r} ({m.where})" for m in marked.values() if m.msgid not in ids]
    assert not missing, f"{language}: not in the catalog (run scripts/update_catalogs): " + "; ".join(missing)
    stale = sorted(ids - set(marked))
    obsolete = sorted(str(key) for key in catalog.obsolete)
    assert not stale and not obsolete, f"{language}: no longer in the code: {stale + obsolete}"


@pytest.mark.parametrize("language", sorted(PLURALS))
def test_every_translation_is_done_and_keeps_tags_and_placeholders(
    language: str, marked: dict[str, Marked]
) -> None:
    catalog = _catalog(language)
    assert not catalog.fuzzy, f"{language}: the header is marked fuzzy"
    problems = []
    for message in catalog:
        if not message.id:
            continue
        singular = message.id if isinstance(message.id, str) else message.id[0]
        if message.fuzzy:
            problems.append(f"fuzzy: {singular!r}")
        sources = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        if not all(strings):
            problems.append(f"untranslated: {singular!r}")
            continue
        if isinstance(message.id, str) and marked.get(singular) and marked[singular].plural:
            problems.append(f"counted in the code but not in the catalog: {singular!r}")
        expected = _shape(sources[-1])
        for translated in strings:
            if _shape(translated) != expected or (
                len(sources) == 1 and _shape(sources[0]) != _shape(translated)
            ):
                problems.append(f"tags or placeholders differ: {singular!r} -> {translated!r}")
    assert not problems, f"{language}:\n" + "\n".join(problems)


@pytest.mark.parametrize("language", sorted(PLURALS))
def test_plural_forms_fit_the_language(language: str) -> None:
    catalog = _catalog(language)
    count, expression = PLURALS[language]
    assert catalog.plural_forms == f"nplurals={count}; plural={expression};"
    wrong = [
        m.id[0]
        for m in catalog
        if m.id and not isinstance(m.id, str) and len([s for s in m.string if s]) != count
    ]
    assert not wrong, f"{language}: these need exactly {count} forms: {wrong}"


def test_russian_counts_take_one_few_and_many() -> None:
    from bot.i18n import translator

    ru = translator("ru")
    forms = [ru.ngettext("{n} source", "{n} sources", n).format(n=n) for n in (1, 2, 5, 11, 21, 22, 25)]
    assert forms == [
        "1 источник",
        "2 источника",
        "5 источников",
        "11 источников",
        "21 источник",
        "22 источника",
        "25 источников",
    ]


def test_a_catalog_without_its_compiled_file_is_reported_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "xx" / "LC_MESSAGES").mkdir(parents=True)
    (tmp_path / "xx" / "LC_MESSAGES" / "newsbot.po").write_text('msgid ""\nmsgstr ""\n', encoding="utf-8")
    assert uncompiled_catalogs(tmp_path) == [tmp_path / "xx" / "LC_MESSAGES" / "newsbot.po"]
    with caplog.at_level(logging.WARNING, logger="bot.i18n"):
        warn_uncompiled(tmp_path)
    assert "not compiled" in caplog.text and "xx" in caplog.text
    # The installed catalogs were compiled at install (scripts/_venv.sh), so nothing is reported for them.
    assert uncompiled_catalogs() == []
