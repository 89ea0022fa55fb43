"""The admin's view of the sources and their health."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import Translate, _, translator
from bot.items import FeedItem
from bot.models import Source
from bot.render import callbacks
from bot.render.articles import label
from bot.render.html import MESSAGE_LIMIT, escape, utf16_len

ADD_USAGE = "/source_add URL [name]"
REMOVE_USAGE = "/source_remove ID"
PAUSE_USAGE = "/source_pause ID"
RESUME_USAGE = "/source_resume ID"
MAX_ERROR = 200


def _tr(translate: Translate | None) -> Translate:
    return translate if translate is not None else translator("en")


def _when(epoch: float | None, tz: ZoneInfo, tr: Translate) -> str:
    if epoch is None:
        return tr("never")
    return tr.when(datetime.fromtimestamp(epoch, tz=tz), tz, style="d MMM y, HH:mm")


def source_line(source: Source, tz: ZoneInfo, translate: Translate | None = None) -> str:
    """One source as HTML: id, name, state, and what its last polls said."""
    tr = _tr(translate)
    if source.retired:
        # Paused too, but by the config file, not an admin: /source_resume is not the way back.
        state = "🗄 " + tr("retired: gone from the config file")
    elif source.paused:
        state = "⏸ " + tr("paused")
    else:
        state = "⚠️ " + tr("failing") if source.consecutive_failures else "✅ " + tr("ok")
    lines = [
        f"<b>{escape(label(source.name))}</b> (<code>{escape(source.id)}</code>) — {escape(state)}",
        f"{escape(source.kind)} · {escape(label(source.url, 300))}",
        escape(
            tr("last success: {when} · items: {items} · failures in a row: {failures}").format(
                when=_when(source.last_success_at, tz, tr),
                items=source.items_total,
                failures=source.consecutive_failures,
            )
        ),
    ]
    if source.items_merged or source.items_skipped:
        # Never silent: a story folded into another, or an item that could not be read.
        lines.append(
            escape(
                tr("merged into other stories: {merged} · unreadable, skipped: {skipped}").format(
                    merged=source.items_merged, skipped=source.items_skipped
                )
            )
        )
    if source.last_error:
        lines.append(escape(tr("last error: {error}").format(error=label(source.last_error, MAX_ERROR))))
    return "\n".join(lines)


def sources_text(
    all_sources: Sequence[Source], tz: ZoneInfo, translate: Translate | None = None
) -> list[str]:
    """The /sources answer, split into messages that fit Telegram's 4096-character limit."""
    tr = _tr(translate)
    if not all_sources:
        return [escape(tr("No sources yet. Add one with {usage}").format(usage=ADD_USAGE))]
    messages: list[str] = []
    count = len(all_sources)
    current = "<b>" + escape(tr.ngettext("{n} source", "{n} sources", count).format(n=count)) + "</b>"
    for source in all_sources:
        block = source_line(source, tz, tr)
        if utf16_len(current) + 2 + utf16_len(block) > MESSAGE_LIMIT:
            messages.append(current)
            current = block
        else:
            current += "\n\n" + block
    messages.append(current)
    return messages


def failing_text(source: Source, error: str, translate: Translate | None = None) -> str:
    """The admins' alert when a source starts failing; the error is web text, so capped and escaped."""
    tr = _tr(translate)
    text = tr("⚠️ Source <b>{name}</b> ({id}) is failing: {error}")
    return text.format(
        name=escape(label(source.name)), id=escape(source.id), error=escape(label(error, MAX_ERROR * 5))
    )


def recovered_text(source: Source, translate: Translate | None = None) -> str:
    tr = _tr(translate)
    text = tr("✅ Source <b>{name}</b> ({id}) has recovered.")
    return text.format(name=escape(label(source.name)), id=escape(source.id))


_FOUND = {
    "feed": _("This address is a feed."),
    "discovered feed": _("The page links to a feed; newsbot will poll the feed."),
    "page": _("No feed found: newsbot will read the page itself as a list of news."),
}


def candidate_text(
    *,
    name: str,
    kind: str,
    poll_url: str,
    found: str,
    preview: Sequence[FeedItem],
    tz: ZoneInfo,
    translate: Translate | None = None,
) -> str:
    """What /source_add found, with the first items it would push, before anything is saved."""
    tr = _tr(translate)
    lines = [
        f"<b>{escape(label(name))}</b>",
        escape(tr(_FOUND[found]) if found in _FOUND else found),
        f"{escape(kind)} · {escape(poll_url)}",
        "",
        escape(tr("The first items it would push:") if preview else tr("It holds no items yet.")),
    ]
    for item in preview:
        when = f" · {escape(tr.when(item.published, tz, style='d MMM y, HH:mm'))}" if item.published else ""
        tags = f" [{escape(label(', '.join(item.tags)))}]" if item.tags else ""
        lines.append(f"• {escape(label(item.title, 200))}{tags}{when}")
    lines += ["", escape(tr("Add it?"))]
    return "\n".join(lines)


def candidate_buttons(pending_id: int, translate: Translate | None = None) -> InlineKeyboardMarkup:
    """Confirm and Cancel; they name the stored candidate, so they work after a restart."""
    tr = _tr(translate)
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    "✅ " + tr("Confirm"),
                    callback_data=callbacks.encode(callbacks.SOURCE_ADD, f"ok:{pending_id}"),
                ),
                InlineKeyboardButton(
                    "✖ " + tr("Cancel"),
                    callback_data=callbacks.encode(callbacks.SOURCE_ADD, f"no:{pending_id}"),
                ),
            ]
        ]
    )
