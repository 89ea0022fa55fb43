"""Texts and buttons of /import, /export and /forget."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import Translate, _
from bot.news.opml_import import ImportReport
from bot.render import callbacks
from bot.render.html import clip, escape

EXPORT_USAGE = "/export | /export sources"
FORGET_USAGE = "/forget"
IMPORT_USAGE = "/import (then send the .opml file)"
IMPORT_HINT = _(
    "Send the OPML file (.opml or .xml, at most 1 MB) as a reply to this message,"
    " or as a document with the caption /import."
)
MAX_FAILURES_SHOWN = 10
MAX_IDS_SHOWN = 20  # with the failures, well inside one message's 4096 characters


def import_report_text(tr: Translate, report: ImportReport) -> str:
    """Added N, already present M, failed K, then the failures with their reasons (escaped)."""
    lines = [
        tr("Imported: added {added}, already present {present}, failed {failed}.").format(
            added=len(report.added), present=len(report.present), failed=len(report.failed)
        )
    ]
    if report.added:
        shown = ", ".join(f"<code>{escape(s.id)}</code>" for s in report.added[:MAX_IDS_SHOWN])
        more = len(report.added) - MAX_IDS_SHOWN
        lines.append(tr("Added: {ids}").format(ids=shown) + (f" (+{more})" if more > 0 else ""))
    for label, reason in report.failed[:MAX_FAILURES_SHOWN]:
        lines.append(f"• {escape(clip(label, 80))}: {escape(clip(reason.translated(tr), 150))}")
    if len(report.failed) > MAX_FAILURES_SHOWN:
        rest = len(report.failed) - MAX_FAILURES_SHOWN
        lines.append(tr.ngettext("…and {n} more failure.", "…and {n} more failures.", rest).format(n=rest))
    return "\n".join(lines)


def forget_text(tr: Translate) -> str:
    return tr(
        "Delete everything the bot keeps about this chat: its subscriptions, its settings (language,"
        " timezone, digest, quiet hours) and the news waiting for it? The bot then sends nothing here"
        " until /start. This cannot be undone."
    )


def forget_buttons(tr: Translate, stamp: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    tr("🗑 Delete"), callback_data=callbacks.encode(callbacks.FORGET, f"ok:{stamp}")
                ),
                InlineKeyboardButton(
                    tr("Cancel"), callback_data=callbacks.encode(callbacks.FORGET, f"no:{stamp}")
                ),
            ]
        ]
    )
