"""Admin commands over the news sources. A non-admin gets no effect and no reply at all."""

from __future__ import annotations

import difflib
import time

from telegram import Message, Update

from bot.context import NewsContext
from bot.i18n import _
from bot.news.adding import Added, Candidate, Refused, confirm_source, find_source
from bot.render import callbacks
from bot.render.html import clip, code, escape
from bot.render.sources import (
    ADD_USAGE,
    PAUSE_USAGE,
    REMOVE_USAGE,
    RESUME_USAGE,
    candidate_buttons,
    candidate_text,
    source_line,
    sources_text,
)
from bot.storage import moderation, pending, sources
from handlers.common import reply_usage, role_of, staff_message


async def _admin_message(update: Update, context: NewsContext) -> Message | None:
    """The message to answer, or None when the sender is not an admin (who hears nothing)."""
    return await staff_message(update, context, "admin")


async def _audit(update: Update, context: NewsContext, action: str, target: str, details: str = "") -> None:
    """Every admin action lands in the audit log."""
    user = update.effective_user
    if user is not None:
        await moderation.record(
            context.db, actor=user.id, action=action, target=target, details=details, now=time.time()
        )


MAX_ID = 64
GONE = _("This button no longer works.")
NOT_ADDED = _("Not added: {reason}")
MAX_ADD_CHARS = 2048


def _one_id(context: NewsContext) -> str | None:
    args = context.args or []
    if len(args) != 1 or len(args[0]) > MAX_ID or not args[0].isprintable():
        return None
    return args[0]


async def _no_such_source(message: Message, context: NewsContext, source_id: str) -> None:
    """Say the id is unknown, suggest the closest one, and list the ids there are."""
    tr = context.translate()
    ids = [s.id for s in await sources.list_sources(context.db)]
    text = tr("No source {id}.").format(id=code(source_id))
    if found := difflib.get_close_matches(source_id.lower(), ids, n=1, cutoff=0.6):
        text += " " + tr("Did you mean {suggestion}?").format(suggestion=code(found[0]))
    known = escape(", ".join(ids[:50])) if ids else escape(tr("none"))
    text += "\n" + tr("Sources: {ids}. See /sources").format(ids=known)
    await message.reply_html(text)


async def list_sources(update: Update, context: NewsContext) -> None:
    if (message := await _admin_message(update, context)) is None:
        return
    tr = context.translate()
    for text in sources_text(await sources.list_sources(context.db), context.settings.bot.tz, tr):
        await message.reply_html(text)


async def add_source(update: Update, context: NewsContext) -> None:
    """Find what to poll at the URL and show it with its first items; nothing is saved until Confirm."""
    if (message := await _admin_message(update, context)) is None:
        return
    args = context.args or []
    if not args or sum(len(a) for a in args) > MAX_ADD_CHARS or not all(a.isprintable() for a in args):
        await reply_usage(update, context, ADD_USAGE)
        return
    await message.reply_chat_action("typing")
    found = await find_source(
        context.db, context.fetcher, url=args[0], name=" ".join(args[1:]) or None, tz=context.settings.bot.tz
    )
    if isinstance(found, Refused):
        tr = context.translate()
        await message.reply_html(tr(NOT_ADDED).format(reason=escape(clip(found.translated(tr), 1000))))
        return
    pending_id = await pending.save_pending(
        context.db,
        url=found.url,
        kind=found.kind,
        poll_url=found.poll_url,
        name=found.name,
        found=found.found,
        now=time.time(),
    )
    text = candidate_text(
        name=found.name,
        kind=found.kind,
        poll_url=found.poll_url,
        found=found.found,
        preview=found.preview,
        tz=context.settings.bot.tz,
        translate=context.translate(),
    )
    await message.reply_html(text, reply_markup=candidate_buttons(pending_id, context.translate()))


async def on_add_button(update: Update, context: NewsContext) -> None:
    """Confirm or cancel a source /source_add found; always answer the query."""
    query = update.callback_query
    if query is None:
        return
    role = await role_of(context, query.from_user.id)
    if role is None or moderation.RANK[role] < moderation.RANK["admin"]:
        await query.answer()  # not an admin: no effect, and nothing said
        return
    tr = context.translate()
    try:
        confirm, pending_id = callbacks.pending_source_choice(callbacks.decode(query.data))
    except callbacks.CallbackDataError:
        await query.answer(tr(GONE))
        return
    taken = await pending.take_pending(context.db, pending_id=pending_id, now=time.time())
    if taken is None:
        await query.answer(tr(GONE))
        return
    if not confirm:
        await query.answer(tr("Cancelled."))
        await query.edit_message_text(tr("Not added: cancelled."), reply_markup=None)
        return
    candidate = Candidate(
        url=taken.url, kind=taken.kind, poll_url=taken.poll_url, name=taken.name, found=taken.found
    )
    outcome = await confirm_source(context.db, candidate, now=time.time())
    if not isinstance(outcome, Added):
        await query.answer(tr("Not added."))
        reason = escape(clip(outcome.translated(tr), 1000))
        await query.edit_message_text(tr(NOT_ADDED).format(reason=reason), parse_mode="HTML")
        return
    if context.bot_data.schedule_source is not None:
        context.bot_data.schedule_source(outcome.source)
    await _audit(update, context, "source add", outcome.source.id, outcome.source.url)
    await query.answer(tr("Added."))
    await query.edit_message_text(
        tr("Added:") + "\n" + source_line(outcome.source, context.settings.bot.tz, tr), parse_mode="HTML"
    )


async def remove_source(update: Update, context: NewsContext) -> None:
    if (message := await _admin_message(update, context)) is None:
        return
    if (source_id := _one_id(context)) is None:
        await reply_usage(update, context, REMOVE_USAGE)
        return
    tr = context.translate()
    known = await sources.get_source(context.db, source_id=source_id)
    if known is not None and known.origin == "config":
        # The config file would bring it back at the next start; say where it really lives.
        text = tr("{id} comes from the config file: remove it there and restart, or stop it now with {pause}")
        await message.reply_html(text.format(id=code(source_id), pause=escape(f"/source_pause {source_id}")))
        return
    if context.bot_data.unschedule_source is not None:
        context.bot_data.unschedule_source(source_id)
    if await sources.remove_source(context.db, source_id=source_id):
        await _audit(update, context, "source remove", source_id)
        await message.reply_html(tr("Removed {id} and its articles.").format(id=code(source_id)))
    else:
        await _no_such_source(message, context, source_id)


async def _set_paused(update: Update, context: NewsContext, *, paused: bool) -> None:
    if (message := await _admin_message(update, context)) is None:
        return
    if (source_id := _one_id(context)) is None:
        await reply_usage(update, context, PAUSE_USAGE if paused else RESUME_USAGE)
        return
    if not await sources.set_paused(context.db, source_id=source_id, paused=paused):
        await _no_such_source(message, context, source_id)
        return
    await _audit(update, context, "source pause" if paused else "source resume", source_id)
    tr = context.translate()
    text = tr("Paused {id}.") if paused else tr("Resumed {id}.")
    await message.reply_html(text.format(id=code(source_id)))


async def pause_source(update: Update, context: NewsContext) -> None:
    await _set_paused(update, context, paused=True)


async def resume_source(update: Update, context: NewsContext) -> None:
    await _set_paused(update, context, paused=False)
