"""The admin's view of the sources and their health."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.models import Source
from bot.news.models import FeedItem
from bot.render import callbacks
from bot.render.articles import label
from bot.render.html import MESSAGE_LIMIT, escape, utf16_len

ADD_USAGE = "/source_add URL [name]"
REMOVE_USAGE = "/source_remove ID"
PAUSE_USAGE = "/source_pause ID"
RESUME_USAGE = "/source_resume ID"
MAX_ERROR = 200


def _when(epoch: float | None, tz: ZoneInfo) -> str:
    return "never" if epoch is None else datetime.fromtimestamp(epoch, tz=tz).strftime("%Y-%m-%d %H:%M")


def source_line(source: Source, tz: ZoneInfo) -> str:
    """One source as HTML: id, name, state, and what its last polls said."""
    state = "⏸ paused" if source.paused else ("⚠️ failing" if source.consecutive_failures else "✅ ok")
    lines = [
        f"<b>{escape(label(source.name))}</b> (<code>{escape(source.id)}</code>) — {state}",
        f"{escape(source.kind)} · {escape(label(source.url, 300))}",
        f"last success: {_when(source.last_success_at, tz)} · items: {source.items_total}"
        f" · failures in a row: {source.consecutive_failures}",
    ]
    if source.items_merged or source.items_skipped:
        # Never silent: a story folded into another, or an item that could not be read.
        lines.append(
            f"merged into other stories: {source.items_merged} · unreadable, skipped: {source.items_skipped}"
        )
    if source.last_error:
        lines.append(f"last error: {escape(label(source.last_error, MAX_ERROR))}")
    return "\n".join(lines)


def sources_text(all_sources: Sequence[Source], tz: ZoneInfo) -> list[str]:
    """The /sources answer, split into messages that fit Telegram's 4096-character limit."""
    if not all_sources:
        return ["No sources yet. Add one with " + escape(ADD_USAGE)]
    messages: list[str] = []
    current = f"<b>Sources ({len(all_sources)})</b>"
    for source in all_sources:
        block = source_line(source, tz)
        if utf16_len(current) + 2 + utf16_len(block) > MESSAGE_LIMIT:
            messages.append(current)
            current = block
        else:
            current += "\n\n" + block
    messages.append(current)
    return messages


def usage(line: str) -> str:
    return f"Usage: <code>{escape(line)}</code>"


def failing_text(source: Source, error: str) -> str:
    """The admins' alert when a source starts failing; the error is web text, so capped and escaped."""
    name = escape(label(source.name))
    return f"⚠️ Source <b>{name}</b> ({escape(source.id)}) is failing: {escape(label(error, MAX_ERROR * 5))}"


def recovered_text(source: Source) -> str:
    return f"✅ Source <b>{escape(label(source.name))}</b> ({escape(source.id)}) has recovered."


_FOUND = {
    "feed": "This address is a feed.",
    "discovered feed": "The page links to a feed; newsbot will poll the feed.",
    "page": "No feed found: newsbot will read the page itself as a list of news.",
}


def candidate_text(
    *, name: str, kind: str, poll_url: str, found: str, preview: Sequence[FeedItem], tz: ZoneInfo
) -> str:
    """What /source_add found, with the first items it would push, before anything is saved."""
    lines = [
        f"<b>{escape(label(name))}</b>",
        escape(_FOUND.get(found, found)),
        f"{escape(kind)} · {escape(poll_url)}",
        "",
        "The first items it would push:" if preview else "It holds no items yet.",
    ]
    for item in preview:
        when = f" · {item.published.astimezone(tz).strftime('%Y-%m-%d %H:%M')}" if item.published else ""
        tags = f" [{escape(label(', '.join(item.tags)))}]" if item.tags else ""
        lines.append(f"• {escape(label(item.title, 200))}{tags}{when}")
    lines += ["", "Add it?"]
    return "\n".join(lines)


def candidate_buttons(pending_id: int) -> InlineKeyboardMarkup:
    """Confirm and Cancel; they name the stored candidate, so they work after a restart."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    "✅ Confirm", callback_data=callbacks.encode(callbacks.SOURCE_ADD, f"ok:{pending_id}")
                ),
                InlineKeyboardButton(
                    "✖ Cancel", callback_data=callbacks.encode(callbacks.SOURCE_ADD, f"no:{pending_id}")
                ),
            ]
        ]
    )
