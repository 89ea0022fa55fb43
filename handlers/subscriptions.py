"""/subscribe, /unsubscribe, /mysubs and their buttons."""

from __future__ import annotations

import contextlib
import difflib
import logging
import time
from collections.abc import Awaitable, Callable

from telegram import Chat, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest

from bot.context import NewsContext
from bot.i18n import N_, Translate, _
from bot.models import Subscription
from bot.render import callbacks, keyboards
from bot.render.html import ANSWER_LIMIT, clip, code, escape
from bot.storage import sources, subscriptions
from bot.subscribing import (
    SHOWN_CHOICES,
    USAGE,
    NothingLeft,
    UnknownChoice,
    UsageError,
    Wanted,
    parse_wanted,
    resolve,
)
from bot.text import fold
from handlers.common import may_configure, thread_of, translate_for

logger = logging.getLogger(__name__)

CATEGORY_WINDOW = 14 * 86400  # categories offered on the menu: those seen in two weeks
NOT_ADMIN = _("Only the group's administrators can change its subscriptions.")
NOT_CHANNEL_ADMIN = _("Only the channel's administrators can change its subscriptions.")


def _not_admin(update: Update) -> str:
    channel = update.effective_chat is not None and update.effective_chat.type == Chat.CHANNEL
    return NOT_CHANNEL_ADMIN if channel else NOT_ADMIN


UNSUBSCRIBE_USAGE = USAGE.replace("/subscribe", "/unsubscribe")
GONE = _("This button no longer works.")

_Answer = Callable[..., Awaitable[None]]


KIND_NAMES = {"category": _("category"), "source": _("source"), "keyword": _("keyword")}


def _label(sub: Subscription, _: Translate) -> str:
    """A subscription as /mysubs lists it ("category: Sport", "not keyword: war"), in the chat's language."""
    if sub.kind == "all":
        text = _("everything")
    else:
        kind = _(KIND_NAMES.get(sub.kind, sub.kind))
        text = _("{kind}: {name}").format(kind=kind, name=sub.label or sub.value)
    return _("not {what}").format(what=text) if sub.exclude else text


def _describe(wanted: Wanted, _: Translate) -> str:
    if wanted.kind == "all":
        text = _("all news")
    else:
        text = _("{kind} «{name}»").format(
            kind=_(KIND_NAMES.get(wanted.kind, wanted.kind)), name=wanted.label
        )
    return _("everything except {what}").format(what=text) if wanted.exclude else text


TOO_MANY = N_(
    "This chat already has {limit} subscription, the most a chat may have. Remove it with /mysubs first.",
    "This chat already has {limit} subscriptions, the most a chat may have. Remove some with /mysubs first.",
)


def _choices_line(names: tuple[str, ...] | list[str]) -> str:
    shown = ", ".join(names[:SHOWN_CHOICES])
    more = len(names) - SHOWN_CHOICES
    return shown + (f" … (+{more})" if more > 0 else "")


def _unknown_text(exc: UnknownChoice, _: Translate, command: str) -> str:
    """What a reader sees for a category or source that does not exist: the closest, then all."""
    kind = _(KIND_NAMES.get(exc.kind, exc.kind))
    lines = [_("There is no {kind} «{name}».").format(kind=kind, name=escape(exc.typed))]
    if exc.closest:
        lines.append(
            _("Did you mean {suggestion}?").format(suggestion=code(f"{command} {exc.kind} {exc.closest}"))
        )
    if exc.choices:
        heading = _("Categories:") if exc.kind == "category" else _("Sources:")
        lines.append(heading + " " + escape(_choices_line(list(exc.choices))))
    elif exc.kind == "category":
        lines.append(_("No categories are known yet; try a keyword: /subscribe keyword WORDS"))
    else:
        lines.append(_("No sources yet."))
    return "\n".join(lines)


def _parse_error_text(exc: UsageError, _: Translate, usage: str, command: str) -> str:
    if isinstance(exc, UnknownChoice):
        return _unknown_text(exc, _, command)
    if isinstance(exc, NothingLeft):
        return _(
            "“Everything except everything” would leave nothing to receive. To stop all news here,"
            " send /unsubscribe and press “Stop all news here”. To leave out one topic, send for"
            " example /subscribe not category Sport."
        )
    return _("Usage:") + " " + code(usage) + "\n" + escape(exc.explain(_))


async def _resolve(context: NewsContext, wanted: Wanted) -> Wanted:
    """Check a category or source name against those that exist (UnknownChoice if none)."""
    if wanted.kind not in ("category", "source"):
        return wanted
    if wanted.kind == "category":
        return resolve(wanted, categories=await subscriptions.known_categories(context.db), sources=[])
    known = [(s.id, s.name) for s in await sources.list_sources(context.db)]
    return resolve(wanted, categories=[], sources=known)


async def _add(context: NewsContext, chat_id: int, thread_id: int, wanted: Wanted) -> bool:
    """Subscribe; raises ``TooManySubscriptions`` at the configured cap."""
    return await subscriptions.subscribe(
        context.db,
        chat_id=chat_id,
        thread_id=thread_id,
        kind=wanted.kind,
        value=wanted.value,
        label=wanted.label,
        exclude=wanted.exclude,
        now=time.time(),
        limit=context.settings.delivery.max_subscriptions,
    )


async def subscribe(update: Update, context: NewsContext) -> None:
    """With arguments subscribe at once; without, offer the choices as buttons."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    _ = translate_for(update, context)
    if not await may_configure(update, context):
        await message.reply_text(_(_not_admin(update)))
        return
    if not context.args:
        categories = await subscriptions.recent_categories(context.db, since=time.time() - CATEGORY_WINDOW)
        known = [(s.id, s.name) for s in await sources.list_sources(context.db) if not s.paused]
        menu = keyboards.subscribe_menu(categories, known, everything=_("Everything"))
        await message.reply_text(_("What would you like to receive?"), reply_markup=menu)
        return
    try:
        wanted = await _resolve(context, parse_wanted(context.args))
    except UsageError as exc:
        await message.reply_html(_parse_error_text(exc, _, USAGE, "/subscribe"))
        return
    try:
        added = await _add(context, chat.id, thread_of(message), wanted)
    except subscriptions.TooManySubscriptions as exc:
        await message.reply_text(_.ngettext(*TOO_MANY, exc.limit).format(limit=exc.limit))
        return
    what = escape(_describe(wanted, _))
    if added:
        await message.reply_html(_("Subscribed: {what}. New items will arrive here.").format(what=what))
    else:
        await message.reply_html(_("You already have this subscription: {what}.").format(what=what))


def _closest_subscription(wanted: Wanted, subs: list[Subscription]) -> Subscription | None:
    """The chat's subscription a mistyped /unsubscribe most likely meant."""
    same_kind = {fold(s.label or s.value): s for s in subs if s.kind == wanted.kind}
    found = difflib.get_close_matches(fold(wanted.label), list(same_kind), n=1, cutoff=0.6)
    return same_kind[found[0]] if found else None


async def unsubscribe(update: Update, context: NewsContext) -> None:
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    _ = translate_for(update, context)
    if not await may_configure(update, context):
        await message.reply_text(_(_not_admin(update)))
        return
    args = context.args or []
    thread_id = thread_of(message)
    if not args:
        # Like /subscribe, no argument offers the choices: each subscription, or all of them.
        text, markup = await _reply_list(context, chat.id, thread_id, _)
        await message.reply_html(text, reply_markup=markup)
        return
    try:
        wanted = parse_wanted(args)
    except UsageError as exc:
        await message.reply_html(_parse_error_text(exc, _, UNSUBSCRIBE_USAGE, "/unsubscribe"))
        return
    if wanted.kind == "source":
        # A source may be named by its name too; one that no longer exists is matched as typed.
        with contextlib.suppress(UnknownChoice):
            wanted = await _resolve(context, wanted)
    removed = await subscriptions.unsubscribe(
        context.db,
        chat_id=chat.id,
        thread_id=thread_id,
        kind=wanted.kind,
        value=wanted.value,
        exclude=wanted.exclude,
    )
    if removed:
        await message.reply_html(_("Unsubscribed: {what}.").format(what=escape(_describe(wanted, _))))
        return
    subs = await subscriptions.list_for_chat(context.db, chat_id=chat.id, thread_id=thread_id)
    lines = [_("There was no such subscription: {what}.").format(what=escape(_describe(wanted, _)))]
    if (closest := _closest_subscription(wanted, subs)) is not None:
        typed = ("not " if closest.exclude else "") + f"{closest.kind} {closest.label or closest.value}"
        lines.append(_("Did you mean {suggestion}?").format(suggestion=code(f"/unsubscribe {typed}")))
    if subs:
        lines.append(_("Subscriptions here:") + " " + escape(_choices_line([_label(s, _) for s in subs])))
    else:
        lines.append(_("No subscriptions here. /subscribe to choose some."))
    await message.reply_html("\n".join(lines))


async def _reply_list(
    context: NewsContext, chat_id: int, thread_id: int, _: Translate
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The /mysubs HTML and its remove buttons."""
    subs = await subscriptions.list_for_chat(context.db, chat_id=chat_id, thread_id=thread_id)
    if not subs:
        return escape(_("No subscriptions here. /subscribe to choose some.")), None
    lines = [escape(_("Subscriptions here:"))] + [f"• {escape(_label(s, _))}" for s in subs]
    return "\n".join(lines), keyboards.remove_buttons(
        subs, stop_all=_("✖ Stop all news here"), describe=lambda s: _label(s, _)
    )


async def mysubs(update: Update, context: NewsContext) -> None:
    """List this chat's (topic's) subscriptions, each with a button that removes it."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    text, markup = await _reply_list(context, chat.id, thread_of(message), translate_for(update, context))
    await message.reply_html(text, reply_markup=markup)


async def _edit(message: Message, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Redraw a list after a button; an unchanged text is not a fault (a double press)."""
    try:
        await message.edit_text(text, reply_markup=markup)
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise


async def on_button(update: Update, context: NewsContext) -> None:
    """Subscribe or remove from a button; always answer the query so the client stops spinning."""
    query = update.callback_query
    if query is None:
        return
    _ = context.translate()
    answered = False

    async def answer(text: str, *, alert: bool = False) -> None:
        nonlocal answered
        answered = True
        await query.answer(clip(text, ANSWER_LIMIT), show_alert=alert)

    try:
        await _on_button(update, context, _, answer)
    finally:
        if not answered:
            # A fault is reported by the error handler; the reader's button still stops spinning.
            await query.answer(_("Something went wrong. Please try again later."))


async def _on_button(update: Update, context: NewsContext, _: Translate, answer: _Answer) -> None:
    query, chat = update.callback_query, update.effective_chat
    assert query is not None
    message = query.message if isinstance(query.message, Message) else None
    try:
        action = callbacks.decode(query.data)
    except callbacks.CallbackDataError:
        await answer(_(GONE))
        return
    if chat is None or message is None:
        await answer(_(GONE))  # too old for Telegram to show us; nothing to edit
        return
    if not await may_configure(update, context):
        await answer(_(_not_admin(update)), alert=True)
        return
    thread_id = thread_of(message)
    if action.prefix == callbacks.SUBSCRIBE:
        try:
            kind, value = callbacks.subscription_choice(action)
            wanted = await _resolve(context, parse_wanted([kind, value] if value else [kind]))
        except (callbacks.CallbackDataError, UsageError):
            await answer(_(GONE))
            return
        try:
            added = await _add(context, chat.id, thread_id, wanted)
        except subscriptions.TooManySubscriptions as exc:
            await answer(_.ngettext(*TOO_MANY, exc.limit).format(limit=exc.limit), alert=True)
            return
        what = _describe(wanted, _)
        text = _("Subscribed: {what}.") if added else _("You already have this subscription: {what}.")
        await answer(text.format(what=what))
        if added:
            await message.reply_html(
                _("Subscribed: {what}. New items will arrive here.").format(what=escape(what))
            )
        return
    try:
        target = callbacks.removal_target(action)
    except callbacks.CallbackDataError:
        await answer(_(GONE))
        return
    if target is None:
        await subscriptions.unsubscribe(context.db, chat_id=chat.id, thread_id=thread_id)
        await answer(_("Unsubscribed from everything."))
    else:
        sub = await subscriptions.get_by_id(context.db, chat_id=chat.id, subscription_id=target)
        removed = await subscriptions.remove_by_id(context.db, chat_id=chat.id, subscription_id=target)
        if not (removed and sub):
            await answer(_("Already removed."))
            return
        await answer(_("Removed: {what}.").format(what=_label(sub, _)))
    text, markup = await _reply_list(context, chat.id, thread_id, _)
    await _edit(message, text, markup)


async def on_stale_button(update: Update, context: NewsContext) -> None:
    """Any button data no handler claims (forged, or from an older version): answer it anyway."""
    query = update.callback_query
    if query is not None:
        await query.answer(context.translate()(GONE))
