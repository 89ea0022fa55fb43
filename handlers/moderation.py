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
from bot.storage import articles, broadcasts, moderation
from bot.storage import channels as channel_store
from handlers.common import role_of, staff_message

logger = logging.getLogger(__name__)

DELETE_WINDOW = 48 * 3600  # Telegram lets a bot delete its messages for this long
TITLE_MAX = 300
SUMMARY_MAX = 3000


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
    await message.reply_html(staff_text(sorted(context.settings.bot.admins), staff))


async def promote(update: Update, context: NewsContext) -> None:
    """/promote USER admin|moderator: owners grant admin; admins and owners grant moderator."""
    if (message := await staff_message(update, context, "admin")) is None:
        return
    actor = update.effective_user
    assert actor is not None
    user_id, rest = await _target(message, context)
    if user_id is None or len(rest) != 1 or rest[0] not in ("admin", "moderator"):
        await message.reply_html(
            "Usage: <code>/promote USER admin|moderator</code> (id, @username, or in reply)"
        )
        return
    role = rest[0]
    mine = await role_of(context, actor.id)
    theirs = await role_of(context, user_id)
    if role == "admin" and mine != "owner":
        await message.reply_text("Only owners can make admins.")
        return
    if theirs == "owner" or (theirs == "admin" and mine != "owner"):
        await message.reply_text("You cannot change that person's role.")
        return
    await moderation.set_role(context.db, user_id=user_id, role=role, actor=actor.id, now=time.time())
    await message.reply_html(f"{user_id} is now {escape(role)}.")


async def demote(update: Update, context: NewsContext) -> None:
    """/demote USER: owners demote anyone but owners; admins demote moderators."""
    if (message := await staff_message(update, context, "admin")) is None:
        return
    actor = update.effective_user
    assert actor is not None
    user_id, rest = await _target(message, context)
    if user_id is None or rest:
        await message.reply_html("Usage: <code>/demote USER</code>")
        return
    mine = await role_of(context, actor.id)
    theirs = await role_of(context, user_id)
    if theirs is None:
        await message.reply_text(f"{user_id} has no staff role.")
        return
    if theirs == "owner" or (theirs == "admin" and mine != "owner"):
        await message.reply_text("You cannot change that person's role.")
        return
    await moderation.set_role(context.db, user_id=user_id, role=None, actor=actor.id, now=time.time())
    await message.reply_text(f"{user_id} is no longer {theirs}.")


async def audit(update: Update, context: NewsContext) -> None:
    """/audit [N]: the newest N entries (default 20, at most 100)."""
    if (message := await staff_message(update, context, "admin")) is None:
        return
    args = context.args or []
    if len(args) > 1 or (
        args and not (args[0].isascii() and args[0].isdigit() and 1 <= int(args[0][:4]) <= 100)
    ):
        await message.reply_html("Usage: <code>/audit [1-100]</code>")
        return
    limit = int(args[0]) if args else 20
    entries = await moderation.recent_audit(context.db, limit=limit)
    await message.reply_html(audit_text(entries, context.settings.bot.tz))


async def ban(update: Update, context: NewsContext) -> None:
    """/ban USER [reason]: commands and buttons ignored, deliveries to their chat stopped."""
    if (message := await staff_message(update, context, "moderator")) is None:
        return
    actor = update.effective_user
    assert actor is not None
    user_id, rest = await _target(message, context)
    if user_id is None:
        await message.reply_html(
            "Usage: <code>/ban USER [reason]</code> — a user id, an @username that wrote to me, "
            "or in reply to their (forwarded) message"
        )
        return
    mine, theirs = await role_of(context, actor.id), await role_of(context, user_id)
    if theirs is not None and moderation.RANK[theirs] >= moderation.RANK[mine or "moderator"]:
        await message.reply_text("You cannot ban staff of your rank or above.")
        return
    reason = " ".join(rest)[:300]
    stopped = await moderation.ban(
        context.db, user_id=user_id, reason=reason, actor=actor.id, now=time.time()
    )
    await message.reply_text(f"Banned {user_id}; {stopped} waiting deliveries stopped.")


async def unban(update: Update, context: NewsContext) -> None:
    if (message := await staff_message(update, context, "moderator")) is None:
        return
    actor = update.effective_user
    assert actor is not None
    user_id, rest = await _target(message, context)
    if user_id is None or rest:
        await message.reply_html("Usage: <code>/unban USER</code>")
        return
    if await moderation.unban(context.db, user_id=user_id, actor=actor.id, now=time.time()):
        await message.reply_text(f"Unbanned {user_id}.")
    else:
        await message.reply_text(f"{user_id} was not banned.")


async def banned(update: Update, context: NewsContext) -> None:
    if (message := await staff_message(update, context, "moderator")) is None:
        return
    await message.reply_html(bans_text(await moderation.list_bans(context.db), context.settings.bot.tz))


# --- the review queue ----------------------------------------------------------------------


async def refresh_card(context: NewsContext, review_id: int) -> None:
    """Redraw a review card after a decision or an edit."""
    review = await moderation.get_review(context.db, review_id=review_id)
    if review is None or review.card_chat_id is None or review.card_message_id is None:
        return
    article = await articles.get_article(context.db, article_id=review.article_id)
    if article is None:
        return
    try:
        await context.bot.edit_message_text(
            review_card(review, article, context.settings.bot.tz),
            review.card_chat_id,
            review.card_message_id,
            parse_mode=ParseMode.HTML,
            reply_markup=review_keyboard(review),
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
    if decision is None:
        return f"No review #{review_id}."
    if decision.won and decision.review.post_id is None and approve:
        context.dispatcher.wake()  # a held push was just queued for its readers
    await refresh_card(context, review_id)
    if not decision.won:
        r = decision.review
        return f"Review #{review_id} was already {r.state} by {r.decided_name or r.decided_by}."
    return f"Review #{review_id} {'approved' if approve else 'rejected'}."


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
            await query.answer("This card is already decided.")
            return
        if review.post_id is None:
            await query.answer("A reader's push goes out as published: approve or reject it.")
            return
        prompt = await query.message.reply_html(EDIT_PROMPT.format(id=review_id), reply_markup=ForceReply())
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
    review_id, _ = found
    text = " ".join(message.text.split())
    field, value = "title", text
    if text.lower().startswith("summary:"):
        field, value = "summary", text[len("summary:") :].strip()
    limit = TITLE_MAX if field == "title" else SUMMARY_MAX
    if not value or len(value) > limit:
        await message.reply_text(f"The new {field} must be 1-{limit} characters.")
        return
    if await moderation.edit_review(
        context.db, review_id=review_id, field=field, value=value, actor=user.id, now=time.time()
    ):
        await refresh_card(context, review_id)
        await message.reply_text(f"Review #{review_id}: {field} updated. Approve to post this version.")


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
    await message.reply_html(queue_text(pending, titles))


async def approve(update: Update, context: NewsContext) -> None:
    if (message := await staff_message(update, context, "moderator")) is None:
        return
    if (review_id := _review_id(context)) is None:
        await message.reply_html("Usage: <code>/approve ID</code> (see /queue)")
        return
    await message.reply_text(await _decide(update, context, review_id, True))


async def reject(update: Update, context: NewsContext) -> None:
    if (message := await staff_message(update, context, "moderator")) is None:
        return
    if (review_id := _review_id(context)) is None:
        await message.reply_html("Usage: <code>/reject ID</code> (see /queue)")
        return
    await message.reply_text(await _decide(update, context, review_id, False))


BLOCKLIST_USAGE = (
    "Usage: <code>/blocklist add WORDS</code>, <code>/blocklist remove WORDS</code>, "
    "<code>/blocklist list</code>"
)


async def blocklist(update: Update, context: NewsContext) -> None:
    """/blocklist add|remove|list WORDS: items matching a word are held for review."""
    if (message := await staff_message(update, context, "moderator")) is None:
        return
    user = update.effective_user
    assert user is not None
    args = context.args or []
    if not args or args[0] not in ("add", "remove", "list") or (args[0] != "list") != (len(args) > 1):
        await message.reply_html(BLOCKLIST_USAGE)
        return
    if args[0] == "list":
        listed = await moderation.blocklist(context.db)
        text = "Blocklist: " + (", ".join(escape(label) for _, label in listed) if listed else "empty")
        await message.reply_html(text[:4000])
        return
    words = " ".join(args[1:])
    if len(words) > 100 or not words.isprintable():
        await message.reply_html(BLOCKLIST_USAGE)
        return
    if args[0] == "add":
        done = await moderation.blocklist_add(context.db, words=words, actor=user.id, now=time.time())
        await message.reply_text(f"Added “{words}”." if done else f"“{words}” is already listed.")
    else:
        done = await moderation.blocklist_remove(context.db, words=words, actor=user.id, now=time.time())
        await message.reply_text(f"Removed “{words}”." if done else f"“{words}” was not listed.")


# --- takedown ------------------------------------------------------------------------------


async def takedown(update: Update, context: NewsContext) -> None:
    """/takedown ID [reason]: retract a story from channels, readers' chats and every listing."""
    if (message := await staff_message(update, context, "moderator")) is None:
        return
    user = update.effective_user
    assert user is not None
    args = context.args or []
    if not args or not (args[0].isascii() and args[0].isdigit() and len(args[0]) <= 18):
        await message.reply_html("Usage: <code>/takedown ARTICLE_ID [reason]</code>")
        return
    article_id, reason = int(args[0]), " ".join(args[1:])[:300]
    now = time.time()
    done = await channel_store.take_down(
        context.db, article_id=article_id, actor=user.id, actor_name=_display(update), reason=reason, now=now
    )
    if done is None:
        await message.reply_text(f"No article {article_id}.")
        return
    for review_id in done.withdrawn:  # its cards say so, and lose their buttons
        await refresh_card(context, review_id)
    # Sends already in flight finish and are recorded within a moment; they are deleted too.
    for _ in range(50):
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
    await message.reply_text(f"Article {article_id} taken down: {summary}.")


# --- broadcast -----------------------------------------------------------------------------

BROADCAST_LIMIT = 3500  # room for Telegram's 4096 once the admin's formatting is added


async def broadcast(update: Update, context: NewsContext) -> None:
    """/broadcast TEXT, or in reply to a message: shown back with Send to N chats / Cancel."""
    if (message := await staff_message(update, context, "admin")) is None:
        return
    replied = message.reply_to_message
    if replied is not None and replied.text:
        html = replied.text_html  # Telegram's own entities, so the admin's formatting survives
    else:
        parts = (message.text or "").split(maxsplit=1)
        html = escape(parts[1].strip()) if len(parts) == 2 else ""
    if not html or len(html) > BROADCAST_LIMIT:
        await message.reply_html(
            "Usage: <code>/broadcast TEXT</code>, or in reply to a message "
            f"(at most {BROADCAST_LIMIT} characters)"
        )
        return
    draft_id = await broadcasts.draft(context.db, html=html, now=time.time())
    chats_count = await broadcasts.count_targets(context.db)
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    f"📣 Send to {chats_count} chats",
                    callback_data=callbacks.encode(callbacks.BROADCAST, f"send:{draft_id}"),
                ),
                InlineKeyboardButton(
                    "Cancel", callback_data=callbacks.encode(callbacks.BROADCAST, f"cancel:{draft_id}")
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
    if action == "send":
        queued = await broadcasts.send(context.db, draft_id=draft_id, actor=query.from_user.id, now=now)
        if queued is None:
            await query.answer("This broadcast was already sent or cancelled.")
            return
        context.dispatcher.wake()
        note = f"📣 Queued for {queued} chats by {_display(update)}."
    else:
        if not await broadcasts.cancel(context.db, draft_id=draft_id, actor=query.from_user.id, now=now):
            await query.answer("This broadcast was already sent or cancelled.")
            return
        note = f"Cancelled by {_display(update)}."
    await query.answer(note)
    if isinstance(query.message, Message) and query.message.text_html is not None:
        await query.message.edit_text(
            f"{query.message.text_html}\n\n<i>{escape(note)}</i>", parse_mode=ParseMode.HTML
        )
