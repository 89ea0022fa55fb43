"""Admin commands for the channels the bot posts to, and noticing its rights there change."""

from __future__ import annotations

import logging
import time

from telegram import Chat, ChatMember, Update
from telegram.error import BadRequest, Forbidden

from bot.channels import can_post, options_of, parse_add_command
from bot.context import NewsContext
from bot.errors import ConfigError
from bot.i18n import _
from bot.render.html import code, escape
from bot.render.moderation import channels_text
from bot.staff import notify_admins
from bot.storage import channels as channel_store
from bot.storage import chats
from handlers.common import reply_usage, staff_message

logger = logging.getLogger(__name__)

REMOVED = _("removed from the channel")
NO_RIGHT = _("no right to post")

ADD_USAGE = (
    "/channel_add @name [review=yes] [min_interval=SECONDS] [categories=a,b] [sources=a,b] "
    "[keywords=a,b] [exclude_keywords=a,b] [silent_hours=23:00-07:00] [timezone=Area/City] "
    '[hashtags=yes] [footer="HTML"]'
)
REMOVE_USAGE = "/channel_remove @name"


async def channel_add(update: Update, context: NewsContext) -> None:
    if (message := await staff_message(update, context, "admin")) is None:
        return
    tr = context.translate()
    user = update.effective_user
    assert user is not None
    text = (message.text or "").split(maxsplit=1)
    if len(text) < 2 or len(text[1]) > 1500:
        await reply_usage(update, context, ADD_USAGE)
        return
    try:
        settings = parse_add_command(text[1])
    except ConfigError as exc:
        key = exc.key.removeprefix("channel.")
        # The problem first: the usage line is long, and the reader looks for what was wrong.
        usage = tr("Usage:") + " " + code(ADD_USAGE)
        await message.reply_html(f"{escape(key)}: {escape(exc.problem)}\n{usage}")
        return
    ref = settings.chat
    try:
        chat = await context.bot.get_chat(ref)
        member = await context.bot.get_chat_member(chat.id, context.bot.id)
    except (BadRequest, Forbidden) as exc:
        refusal = tr("I cannot see {channel}: {error}. Add me as an administrator first.")
        await message.reply_html(refusal.format(channel=escape(ref), error=escape(str(exc))))
        return
    if chat.type == Chat.PRIVATE:
        await message.reply_text(tr("That is a private chat, not a channel."))
        return
    if not can_post(member, chat.type):
        refusal = tr("I need the right to post messages in {channel}. Make me an administrator with it.")
        await message.reply_html(refusal.format(channel=escape(ref)))
        return
    now = time.time()
    await chats.remember_chat(
        context.db,
        chat_id=chat.id,
        chat_type=chat.type,  # type: ignore[arg-type]
        title=chat.title,
        username=chat.username,
        language=None,
        now=now,
        reactivate=True,
    )
    await channel_store.add(
        context.db,
        ref=ref,
        chat_id=chat.id,
        title=chat.title,
        options=options_of(settings),
        actor=user.id,
        now=now,
    )
    done = tr("Posting to {title} ({channel}) from now on.")
    await message.reply_html(done.format(title=escape(chat.title or ref), channel=escape(ref)))


async def channel_remove(update: Update, context: NewsContext) -> None:
    if (message := await staff_message(update, context, "admin")) is None:
        return
    tr = context.translate()
    user = update.effective_user
    assert user is not None
    args = context.args or []
    if len(args) != 1:
        await reply_usage(update, context, REMOVE_USAGE)
        return
    wanted = args[0].lower()
    for channel in await channel_store.list_channels(context.db):
        if wanted in (channel.ref.lower(), str(channel.chat_id)):
            if channel.origin == "config":
                text = tr("{channel} comes from the config file; remove it there.")
                await message.reply_text(text.format(channel=channel.ref))
                return
            await channel_store.remove(context.db, channel=channel, actor=user.id, now=time.time())
            await message.reply_html(
                tr("No longer posting to {channel}.").format(channel=escape(channel.ref))
            )
            return
    await message.reply_html(tr("No channel {channel}. See /channels").format(channel=escape(args[0][:64])))


async def list_channels(update: Update, context: NewsContext) -> None:
    if (message := await staff_message(update, context, "admin")) is None:
        return
    await message.reply_html(
        channels_text(
            await channel_store.list_channels(context.db), context.settings.bot.tz, context.translate()
        )
    )


async def channel_membership(update: Update, context: NewsContext) -> None:
    """The bot joined, left or lost its rights in a channel: pause or resume, telling admins once."""
    change = update.my_chat_member
    if change is None or change.chat.type == Chat.PRIVATE:
        return
    chat = change.chat
    known = [
        c
        for c in await channel_store.list_channels(context.db)
        if c.chat_id == chat.id or (chat.username and c.ref.lower() == f"@{chat.username.lower()}")
    ]
    name = escape(chat.title or str(chat.id))
    if not known:
        if chat.type == Chat.CHANNEL and can_post(change.new_chat_member, chat.type):
            hint = f"@{chat.username}" if chat.username else str(chat.id)
            await notify_admins(
                context.bot,
                context.db,
                context.settings.bot.admins,
                lambda tr: tr(
                    "📣 I was made an administrator of the channel {name}. To post there: {command}"
                ).format(name=name, command=code(f"/channel_add {hint}")),
                default_language=context.settings.bot.language,
            )
        return
    for channel in known:
        if channel.chat_id is None:
            await channel_store.set_chat(context.db, channel_id=channel.id, chat_id=chat.id, title=chat.title)
    if can_post(change.new_chat_member, chat.type):
        if await channel_store.set_state(context.db, chat_id=chat.id, state="active", reason=None):
            await notify_admins(
                context.bot,
                context.db,
                context.settings.bot.admins,
                lambda tr: tr("✅ I can post in {name} again; posting resumes.").format(name=name),
                default_language=context.settings.bot.language,
            )
        return
    status = change.new_chat_member.status
    # Stored in English; the notes and the channel list show it through the same msgids.
    reason = REMOVED if status in (ChatMember.LEFT, ChatMember.BANNED) else NO_RIGHT
    if await channel_store.set_state(context.db, chat_id=chat.id, state="paused", reason=reason):
        await notify_admins(
            context.bot,
            context.db,
            context.settings.bot.admins,
            lambda tr: tr(
                "⏸ Posting to {name} stopped: {reason}. Its stories wait until I may post again."
            ).format(name=name, reason=escape(tr(reason))),
            default_language=context.settings.bot.language,
        )
