"""Small helpers shared by the handlers: where a command came from, who may change things, usage."""

from __future__ import annotations

import logging
import time

from telegram import Chat, Message, Update
from telegram.constants import ChatMemberStatus
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.context import NewsContext
from bot.i18n import Translate, _, supported
from bot.menus import set_staff_menu
from bot.render.html import code, escape
from bot.storage import chats, moderation

# Role names as staff read them; the role itself stays English in the database and commands.
ROLE_NAMES: dict[str, str] = {"owner": _("owner"), "admin": _("admin"), "moderator": _("moderator")}
logger = logging.getLogger(__name__)

# Staff learn why a command did nothing: one whole sentence per case, so each language can say it.
_REFUSALS = {
    ("admin", "moderator"): _("Only admins and above can do that; you are a moderator."),
    ("owner", "admin"): _("Only owners can do that; you are an admin."),
    ("owner", "moderator"): _("Only owners can do that; you are a moderator."),
}
MAX_ARGS_CHARS = 512  # no command of ours needs more; longer arguments get the usage line
_ADMINS = {ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR}


def thread_of(message: Message | None) -> int:
    """The forum topic a message was written in, 0 outside topics."""
    if message is not None and message.is_topic_message and message.message_thread_id:
        return message.message_thread_id
    return 0


def translate_for(update: Update, context: NewsContext) -> Translate:
    """The chat's language (chosen with /language or taken at /start), else the bot's."""
    return context.translate()


def args_ok(context: NewsContext, *, most: int) -> bool:
    """Whether the command has at most ``most`` arguments, short enough to parse at all."""
    args = context.args or []
    return len(args) <= most and sum(len(a) for a in args) <= MAX_ARGS_CHARS


async def reply_usage(update: Update, context: NewsContext, usage: str, problem: str = "") -> None:
    """Answer a wrong argument with the command's usage line (and what was wrong, if known)."""
    message = update.effective_message
    if message is None:
        return
    _ = translate_for(update, context)
    extra = f"\n{escape(problem)}" if problem else ""
    await message.reply_html(_("Usage:") + " " + code(usage) + extra)


async def _is_admin(context: NewsContext, chat_id: int, user_id: int) -> bool:
    try:
        member = await context.bot.get_chat_member(chat_id, user_id)
    except (BadRequest, Forbidden):
        return False  # not a member Telegram knows of, or we may not ask: not an administrator
    return member.status in _ADMINS


async def may_configure(update: Update, context: NewsContext) -> bool:
    """In private chats anyone; in groups and channels only their administrators, as Telegram says.

    A channel post has no sender unless the channel shows its authors: then the author's rights
    are checked; otherwise the post was made as the channel itself, which only its
    administrators can do. The same holds for an anonymous group administrator.
    """
    chat = update.effective_chat
    if chat is None:
        return False
    if chat.type == Chat.PRIVATE:
        return True
    post = update.channel_post or update.message
    if post is not None:
        author = post.from_user
        known_author = author is not None and not author.is_bot
        if not known_author:
            return post.sender_chat is not None and post.sender_chat.id == chat.id
        assert author is not None
        return await _is_admin(context, chat.id, author.id)
    user = update.effective_user
    if user is None:
        return False
    return await _is_admin(context, chat.id, user.id)


async def remember(update: Update, context: NewsContext, *, reactivate: bool = False) -> None:
    """Record the chat an update came from; ``reactivate`` marks it active again (a /start)."""
    chat = update.effective_chat
    if chat is None:
        return
    user = update.effective_user
    await chats.remember_chat(
        context.db,
        chat_id=chat.id,
        chat_type=chat.type,  # type: ignore[arg-type]
        title=chat.title or chat.full_name,
        username=chat.username,
        # A group's language is not its member's: only a private chat takes the user's, and only
        # one we speak (else the chat follows the bot's default).
        language=supported(user.language_code) if user and chat.type == Chat.PRIVATE else None,
        now=time.time(),
        reactivate=reactivate,
    )


async def role_of(context: NewsContext, user_id: int | None) -> moderation.Role | None:
    """The sender's staff role, read from the database on every call."""
    if user_id is None:
        return None
    return await moderation.role_of(context.db, user_id=user_id, owners=context.settings.bot.admins)


async def refresh_staff_menu(context: NewsContext, user_id: int) -> None:
    """Redraw one staff member's command menu (a new role, or their language became known)."""
    try:
        await set_staff_menu(
            context.bot,
            context.db,
            user_id=user_id,
            owners=context.settings.bot.admins,
            default_language=context.settings.bot.language,
        )
    except TelegramError as exc:  # only their menu is behind; everything else works
        logger.warning("Could not update the command menu of %d: %s", user_id, exc)


async def staff_message(update: Update, context: NewsContext, need: moderation.Role) -> Message | None:
    """The message to answer when its sender holds ``need`` or higher; None (and silence) otherwise."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return None
    role = await role_of(context, user.id)
    if role is None:
        return None  # not staff: the command does not exist for them
    if moderation.RANK[role] < moderation.RANK[need]:
        # Staff learn why nothing happened; only people outside the staff get silence.
        await message.reply_text(context.translate()(_REFUSALS[need, role]))
        return None
    return message
