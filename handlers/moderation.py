"""Staff commands: roles, bans, the audit log, the review queue, the blocklist and takedowns.

Every command checks the sender's role in the database on every call. Anyone without the role
gets no effect and no reply, exactly as if the command did not exist.
"""

from __future__ import annotations

import asyncio
import logging
import time

from telegram import (
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageOriginUser,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.context import NewsContext
from bot.i18n import _
from bot.render import callbacks
from bot.render.html import escape
from bot.render.moderation import (
    EDIT_PROMPT,
    audit_text,
    bans_text,
    queue_text,
    review_card,
    review_keyboard,
    staff_text,
)
from bot.storage import articles, broadcasts, chats, moderation
from bot.storage import channels as channel_store
from handlers.common import ROLE_NAMES, refresh_staff_menu, reply_usage, role_of, staff_message

logger = logging.getLogger(__name__)

DELETE_WINDOW = 48 * 3600  # Telegram lets a bot delete its messages for this long
TITLE_MAX = 300
SUMMARY_MAX = 3000
DECIDED = _("This card is already decided.")
NO_EDIT = _("A reader's push goes out as published: approve or reject it.")
NO_ARTICLE = _("No article {id}.")
BROADCAST_GONE = _("This broadcast was already sent or cancelled.")


def _display(update: Update) -> str:
    user = update.effective_user
    if user is None:
        return "?"
    return f"@{user.username}" if user.username else user.full_name


async def _target(message: Message, context: NewsContext) -> tuple[int | None, list[str]]:
    """The user a command names (id, @username seen before, or the replied-to/forwarded message's
    sender) and the remaining arguments."""
    args = list(context.args or [])
    replied = message.reply_to_message
    if replied is not None and not (args and (args[0].lstrip("-").isdigit() or args[0].startswith("@"))):
        origin = replied.forward_origin
        if isinstance(origin, MessageOriginUser):
            return origin.sender_user.id, args
        if replied.from_user is not None and not replied.from_user.is_bot:
            return replied.from_user.id, args
        return None, args
    if not args:
        return None, args
    first, rest = args[0], args[1:]
    if first.isascii() and first.isdigit() and len(first) <= 19:
        return int(first), rest
    if first.startswith("@") and 2 <= len(first) <= 33:
        return await moderation.user_by_username(context.db, username=first), rest
    return None, args


async def admins(update: Update, context: NewsContext) -> None:
    if (message := await staff_message(update, context, "admin")) is None:
        return
    staff = await moderation.list_staff(context.db)
    await message.reply_html(staff_text(sorted(context.settings.bot.admins), staff, context.translate()))


async def promote(update: Update, context: NewsContext) -> None:
    """/promote USER admin|moderator: owners grant admin; admins and owners grant moderator."""
    if (message := await staff_message(update, context, "admin")) is None:
        return
    tr = context.translate()
    actor = update.effective_user
    assert actor is not None
    user_id, rest = await _target(message, context)
    if user_id is None or len(rest) != 1 or rest[0] not in ("admin", "moderator"):
        await reply_usage(update, context, "/promote USER admin|moderator")
        return
    role = rest[0]
    mine = await role_of(context, actor.id)
    theirs = await role_of(context, user_id)
    if role == "admin" and mine != "owner":
        await message.reply_text(tr("Only owners can make admins."))
        return
    if theirs == "owner" or (theirs == "admin" and mine != "owner"):
        await message.reply_text(tr("You cannot change that person's role."))
        return
    await moderation.set_role(context.db, user_id=user_id, role=role, actor=actor.id, now=time.time())
    await refresh_staff_menu(context, user_id)
    await message.reply_html(
        tr("{user} is now {role}.").format(user=user_id, role=escape(tr(ROLE_NAMES[role])))
    )


async def demote(update: Update, context: NewsContext) -> None:
    """/demote USER: owners demote anyone but owners; admins demote moderators."""
    if (message := await staff_message(update, context, "admin")) is None:
        return
    tr = context.translate()
    actor = update.effective_user
    assert actor is not None
    user_id, rest = await _target(message, context)
    if user_id is None or rest:
        await reply_usage(update, context, "/demote USER")
        return
    mine = await role_of(context, actor.id)
    theirs = await role_of(context, user_id)
    if theirs is None:
        await message.reply_text(tr("{user} has no staff role.").format(user=user_id))
        return
    if theirs == "owner" or (theirs == "admin" and mine != "owner"):
        await message.reply_text(tr("You cannot change that person's role."))
        return
    await moderation.set_role(context.db, user_id=user_id, role=None, actor=actor.id, now=time.time())
    await refresh_staff_menu(context, user_id)
    await message.reply_text(
        tr("{user} is no longer {role}.").format(user=user_id, role=tr(ROLE_NAMES[theirs]))
    )


async def audit(update: Update, context: NewsContext) -> None:
    """/audit [N]: the newest N entries (default 20, at most 100)."""
    if (message := await staff_message(update, context, "admin")) is None:
        return
    args = context.args or []
    if len(args) > 1 or (
        args and not (args[0].isascii() and args[0].isdigit() and 1 <= int(args[0][:4]) <= 100)
    ):
        await reply_usage(update, context, "/audit [1-100]")
        return
    limit = int(args[0]) if args else 20
    entries = await moderation.recent_audit(context.db, limit=limit)
    await message.reply_html(audit_text(entries, context.settings.bot.tz, context.translate()))


async def ban(update: Update, context: NewsContext) -> None:
    """/ban USER [reason]: commands and buttons ignored, deliveries to their chat stopped."""
    if (message := await staff_message(update, context, "moderator")) is None:
        return
    tr = context.translate()
    actor = update.effective_user
    assert actor is not None
    user_id, rest = await _target(message, context)
    if user_id is None:
        await reply_usage(
            update,
            context,
            "/ban USER [reason]",
            tr("USER: a user id, an @username that wrote to me, or a reply to their (forwarded) message"),
        )
        return
    mine, theirs = await role_of(context, actor.id), await role_of(context, user_id)
    if theirs is not None and moderation.RANK[theirs] >= moderation.RANK[mine or "moderator"]:
        await message.reply_text(tr("You cannot ban staff of your rank or above."))
        return
    reason = " ".join(rest)[:300]
    stopped = await moderation.ban(
        context.db, user_id=user_id, reason=reason, actor=actor.id, now=time.time()
    )
    await message.reply_text(
        tr.ngettext(
            "Banned {user}; {n} waiting delivery stopped.",
            "Banned {user}; {n} waiting deliveries stopped.",
            stopped,
        ).format(user=user_id, n=stopped)
    )


async def unban(update: Update, context: NewsContext) -> None:
    if (message := await staff_message(update, context, "moderator")) is None:
        return
    tr = context.translate()
    actor = update.effective_user
    assert actor is not None
    user_id, rest = await _target(message, context)
    if user_id is None or rest:
        await reply_usage(update, context, "/unban USER")
        return
    if await moderation.unban(context.db, user_id=user_id, actor=actor.id, now=time.time()):
        await message.reply_text(tr("Unbanned {user}.").format(user=user_id))
    else:
        await message.reply_text(tr("{user} was not banned.").format(user=user_id))


async def banned(update: Update, context: NewsContext) -> None:
    if (message := await staff_message(update, context, "moderator")) is None:
        return
    await message.reply_html(
        bans_text(await moderation.list_bans(context.db), context.settings.bot.tz, context.translate())
    )


# --- the review queue ----------------------------------------------------------------------


async def refresh_card(context: NewsContext, review_id: int) -> None:
    """Redraw a review card after a decision or an edit."""
    review = await moderation.get_review(context.db, review_id=review_id)
    if review is None or review.card_chat_id is None or review.card_message_id is None:
        return
    article = await articles.get_article(context.db, article_id=review.article_id)
    if article is None:
        return
    # The card speaks the language of the chat it sits in, whoever pressed its button.
    tr = context.translate(await chats.language_of(context.db, chat_id=review.card_chat_id))
    try:
        await context.bot.edit_message_text(
            review_card(review, article, context.settings.bot.tz, tr),
            review.card_chat_id,
            review.card_message_id,
            parse_mode=ParseMode.HTML,
            reply_markup=review_keyboard(review, tr),
        )
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise


async def _decide(update: Update, context: NewsContext, review_id: int, approve: bool) -> str:
    user = update.effective_user
    assert user is not None
    decision = await moderation.decide(
        context.db,
        review_id=review_id,
        approve=approve,
        actor=user.id,
        actor_name=_display(update),
        now=time.time(),
    )
    tr = context.translate()
    if decision is None:
        return tr("No review #{id}.").format(id=review_id)
    if decision.won and decision.review.post_id is None and approve:
        context.dispatcher.wake()  # a held push was just queued for its readers
    await refresh_card(context, review_id)
    if not decision.won:
        r = decision.review
        text = (
            tr("Review #{id} was already approved by {who}.")
            if r.state == "approved"
            else (tr("Review #{id} was already rejected by {who}."))
        )
        return text.format(id=review_id, who=r.decided_name or r.decided_by)
    return (tr("Review #{id} approved.") if approve else tr("Review #{id} rejected.")).format(id=review_id)


async def on_review_button(update: Update, context: NewsContext) -> None:
    """Approve / Reject / Edit on a review card; non-staff presses do nothing at all."""
    query = update.callback_query
    if query is None:
        return
    if await role_of(context, query.from_user.id) is None:
        await query.answer()  # a client spins until answered; the press changes nothing
        return
    try:
        action, review_id = callbacks.review_action(callbacks.decode(query.data))
    except callbacks.CallbackDataError:
        await query.answer()
        return
    if action == "edit":
        review = await moderation.get_review(context.db, review_id=review_id)
        if review is None or review.state != "pending" or not isinstance(query.message, Message):
            await query.answer(context.translate()(DECIDED))
            return
        if review.post_id is None:
            await query.answer(context.translate()(NO_EDIT))
            return
        prompt = await query.message.reply_html(
            context.translate()(EDIT_PROMPT).format(id=review_id), reply_markup=ForceReply()
        )
        await moderation.set_prompt(
            context.db, review_id=review_id, message_id=prompt.message_id, field="title"
        )
        await query.answer()
        return
    await query.answer(await _decide(update, context, review_id, action == "approve"))


async def on_edit_reply(update: Update, context: NewsContext) -> None:
    """A moderator's reply to an edit prompt: the new headline, or 'summary: ...'."""
    message = update.effective_message
    if message is None or message.reply_to_message is None or not message.text:
        return
    found = await moderation.review_for_prompt(context.db, message_id=message.reply_to_message.message_id)
    if found is None:
        return  # a reply to something else
    if (await staff_message(update, context, "moderator")) is None:
        return
    user = update.effective_user
    assert user is not None
    review_id, _prompt = found
    tr = context.translate()
    text = " ".join(message.text.split())
    field, value = "title", text
    if text.lower().startswith("summary:"):
        field, value = "summary", text[len("summary:") :].strip()
    limit = TITLE_MAX if field == "title" else SUMMARY_MAX
    if not value or len(value) > limit:
        await message.reply_text(
            (
                tr("The new headline must be 1-{limit} characters.")
                if field == "title"
                else (tr("The new summary must be 1-{limit} characters."))
            ).format(limit=limit)
        )
        return
    if await moderation.edit_review(
        context.db, review_id=review_id, field=field, value=value, actor=user.id, now=time.time()
    ):
        await refresh_card(context, review_id)
        await message.reply_text(
            (
                tr("Review #{id}: headline updated. Approve to post this version.")
                if field == "title"
                else (tr("Review #{id}: summary updated. Approve to post this version."))
            ).format(id=review_id)
        )


def _review_id(context: NewsContext) -> int | None:
    args = context.args or []
    if len(args) != 1:
        return None
    arg = args[0].lstrip("#")
    return int(arg) if arg.isascii() and arg.isdigit() and len(arg) <= 18 else None


async def queue(update: Update, context: NewsContext) -> None:
    if (message := await staff_message(update, context, "moderator")) is None:
        return
    pending = await moderation.pending(context.db, limit=50)
    titles = {}
    for r in pending:
        article = await articles.get_article(context.db, article_id=r.article_id)
        titles[r.article_id] = r.title or (article.title if article else "")
    await message.reply_html(queue_text(pending, titles, context.translate()))


async def approve(update: Update, context: NewsContext) -> None:
    if (message := await staff_message(update, context, "moderator")) is None:
        return
    if (review_id := _review_id(context)) is None:
        await reply_usage(update, context, "/approve ID")
        return
    await message.reply_text(await _decide(update, context, review_id, True))


async def reject(update: Update, context: NewsContext) -> None:
    if (message := await staff_message(update, context, "moderator")) is None:
        return
    if (review_id := _review_id(context)) is None:
        await reply_usage(update, context, "/reject ID")
        return
    await message.reply_text(await _decide(update, context, review_id, False))


BLOCKLIST_USAGE = "/blocklist add|remove WORDS | /blocklist list"


async def blocklist(update: Update, context: NewsContext) -> None:
    """/blocklist add|remove|list WORDS: items matching a word are held for review."""
    if (message := await staff_message(update, context, "moderator")) is None:
        return
    tr = context.translate()
    user = update.effective_user
    assert user is not None
    args = context.args or []
    if not args or args[0] not in ("add", "remove", "list") or (args[0] != "list") != (len(args) > 1):
        await reply_usage(update, context, BLOCKLIST_USAGE)
        return
    if args[0] == "list":
        listed = await moderation.blocklist(context.db)
        shown = ", ".join(escape(label) for _, label in listed) if listed else escape(tr("empty"))
        text = tr("Blocklist:") + " " + shown
        await message.reply_html(text[:4000])
        return
    words = " ".join(args[1:])
    if len(words) > 100 or not words.isprintable():
        await reply_usage(update, context, BLOCKLIST_USAGE)
        return
    if args[0] == "add":
        done = await moderation.blocklist_add(context.db, words=words, actor=user.id, now=time.time())
        await message.reply_text(
            (tr("Added “{words}”.") if done else tr("“{words}” is already listed.")).format(words=words)
        )
    else:
        done = await moderation.blocklist_remove(context.db, words=words, actor=user.id, now=time.time())
        await message.reply_text(
            (tr("Removed “{words}”.") if done else tr("“{words}” was not listed.")).format(words=words)
        )


# --- takedown ------------------------------------------------------------------------------


async def takedown(update: Update, context: NewsContext) -> None:
    """/takedown ID [reason]: retract a story from channels, readers' chats and every listing."""
    if (message := await staff_message(update, context, "moderator")) is None:
        return
    user = update.effective_user
    assert user is not None
    args = context.args or []
    if not args or not (args[0].isascii() and args[0].isdigit() and len(args[0]) <= 18):
        await reply_usage(update, context, "/takedown ARTICLE_ID [reason]")
        return
    article_id, reason = int(args[0]), " ".join(args[1:])[:300]
    now = time.time()
    done = await channel_store.take_down(
        context.db, article_id=article_id, actor=user.id, actor_name=_display(update), reason=reason, now=now
    )
    if done is None:
        await message.reply_text(context.translate()(NO_ARTICLE).format(id=article_id))
        return
    for review_id in done.withdrawn:  # its cards say so, and lose their buttons
        await refresh_card(context, review_id)
    # Sends already in flight finish and are recorded within a moment; they are deleted too.
    for _attempt in range(50):
        if not await channel_store.sending_left(context.db, article_id=article_id):
            break
        await asyncio.sleep(0.1)
    # A post whose row was cancelled settles as failed; one that went out, as posted (deleted below).
    await channel_store.settle(context.db)
    deleted = too_old = failed = 0
    for sent in await channel_store.sent_messages(context.db, article_id=article_id):
        if sent.sent_at is not None and time.time() - sent.sent_at > DELETE_WINDOW:
            too_old += 1
            continue
        try:
            await context.bot.delete_message(sent.chat_id, sent.message_id)
            deleted += 1
        except BadRequest as exc:
            if "can't be deleted" in str(exc).lower():
                too_old += 1
            else:
                failed += 1
        except (Forbidden, TelegramError) as exc:
            logger.info("Could not delete message %d in %d: %s", sent.message_id, sent.chat_id, exc)
            failed += 1
    await channel_store.mark_taken_down(context.db, article_id=article_id)
    summary = f"deleted {deleted}, too old {too_old}, failed {failed}, cancelled {done.cancelled}"
    await moderation.record(
        context.db,
        actor=user.id,
        action="takedown result",
        target=f"article {article_id}",
        details=summary,
        now=time.time(),
    )
    tr = context.translate()
    await message.reply_text(tr("Article {id} taken down: {summary}.").format(id=article_id, summary=summary))


# --- broadcast -----------------------------------------------------------------------------

BROADCAST_LIMIT = 3500  # room for Telegram's 4096 once the admin's formatting is added


async def broadcast(update: Update, context: NewsContext) -> None:
    """/broadcast TEXT, or in reply to a message: shown back with Send to N chats / Cancel."""
    if (message := await staff_message(update, context, "admin")) is None:
        return
    tr = context.translate()
    replied = message.reply_to_message
    if replied is not None and replied.text:
        html = replied.text_html  # Telegram's own entities, so the admin's formatting survives
    else:
        parts = (message.text or "").split(maxsplit=1)
        html = escape(parts[1].strip()) if len(parts) == 2 else ""
    if not html or len(html) > BROADCAST_LIMIT:
        problem = tr("Or reply to a message with /broadcast. At most {limit} characters.")
        await reply_usage(update, context, "/broadcast TEXT", problem.format(limit=BROADCAST_LIMIT))
        return
    draft_id = await broadcasts.draft(context.db, html=html, now=time.time())
    chats_count = await broadcasts.count_targets(context.db)
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    "📣 "
                    + tr.ngettext("Send to {n} chat", "Send to {n} chats", chats_count).format(n=chats_count),
                    callback_data=callbacks.encode(callbacks.BROADCAST, f"send:{draft_id}"),
                ),
                InlineKeyboardButton(
                    tr("Cancel"), callback_data=callbacks.encode(callbacks.BROADCAST, f"cancel:{draft_id}")
                ),
            ]
        ]
    )
    await message.reply_html(html, reply_markup=keyboard)


async def on_broadcast_button(update: Update, context: NewsContext) -> None:
    """Send or cancel a broadcast draft, once; only admins' presses count."""
    query = update.callback_query
    if query is None:
        return
    role = await role_of(context, query.from_user.id)
    if role is None or moderation.RANK[role] < moderation.RANK["admin"]:
        await query.answer()
        return
    try:
        action, draft_id = callbacks.broadcast_action(callbacks.decode(query.data))
    except callbacks.CallbackDataError:
        await query.answer()
        return
    now = time.time()
    tr = context.translate()
    if action == "send":
        queued = await broadcasts.send(context.db, draft_id=draft_id, actor=query.from_user.id, now=now)
        if queued is None:
            await query.answer(tr(BROADCAST_GONE))
            return
        context.dispatcher.wake()
        note = "📣 " + tr.ngettext(
            "Queued for {n} chat by {who}.", "Queued for {n} chats by {who}.", queued
        ).format(n=queued, who=_display(update))
    else:
        if not await broadcasts.cancel(context.db, draft_id=draft_id, actor=query.from_user.id, now=now):
            await query.answer(tr(BROADCAST_GONE))
            return
        note = tr("Cancelled by {who}.").format(who=_display(update))
    await query.answer(note)
    if isinstance(query.message, Message) and query.message.text_html is not None:
        await query.message.edit_text(
            f"{query.message.text_html}\n\n<i>{escape(note)}</i>", parse_mode=ParseMode.HTML
        )
