"""The /forget buttons' codec and the /import report, which quotes an untrusted file."""

from __future__ import annotations

import pytest

from bot.emulator.entities import parse_html
from bot.i18n import _, translator
from bot.news.adding import Refused
from bot.news.opml_import import ImportReport
from bot.render import callbacks
from bot.render.dataio import forget_buttons, import_report_text


def test_forget_buttons_round_trip_and_forged_data_is_refused() -> None:
    markup = forget_buttons(translator("en"), 1_733_000_000_123)
    delete, cancel = (b.callback_data for b in markup.inline_keyboard[0])
    assert callbacks.forget_choice(callbacks.decode(delete)) == (True, 1_733_000_000_123)
    assert callbacks.forget_choice(callbacks.decode(cancel)) == (False, 1_733_000_000_123)
    for forged in ("fg:ok:", "fg:yes:1", "fg:ok:-1", "fg:ok:²", "fg:ok:" + "9" * 20, "fg:ok:1:2"):
        with pytest.raises(callbacks.CallbackDataError):
            callbacks.forget_choice(callbacks.decode(forged))
    with pytest.raises(callbacks.CallbackDataError):
        callbacks.forget_choice(callbacks.decode("unsub:1"))


def test_import_report_escapes_what_the_file_said_and_fits_one_message() -> None:
    failed = tuple(
        (
            f"<b>feed {n}</b> & co" * 20,
            Refused(_("not a web address: {address}"), (("address", "<script>" * 20),)),
        )
        for n in range(40)
    )
    report = ImportReport(added=(), present=("x",) * 3, failed=failed)
    text = import_report_text(translator("en"), report)
    plain, _entities = parse_html(text)  # valid Telegram HTML: every tag from the file is escaped
    assert plain.startswith("Imported: added 0, already present 3, failed 40.")
    assert "<b>feed 0</b> & co" in plain
    assert plain.endswith("…and 30 more failures.")
    assert len(plain) <= 4096


def test_import_report_reasons_are_in_the_admins_language() -> None:
    report = ImportReport(
        added=(),
        present=(),
        failed=(("Bad", Refused(_("not a web address: {address}"), (("address", "ftp://x.example/"),))),),
    )
    assert "• Bad: не веб-адрес: ftp://x.example/" in import_report_text(translator("ru"), report)
    assert "• Bad: bir web adresi değil: ftp://x.example/" in import_report_text(translator("tr"), report)
