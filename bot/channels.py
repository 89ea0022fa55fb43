"""Channel auto-posting: which stories a channel takes, when it may post, and how a post is sent.

Decisions are plain functions the tests call directly; ``make_channel_sender`` is what the
dispatcher calls for an outbox row of kind 'channel'.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from telegram import Chat, ChatMember, ChatMemberAdministrator, LinkPreviewOptions, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import ExtBot

from bot.config import ChannelSettings, parse_channel_options
from bot.delivery.dispatcher import SendFunc
from bot.delivery.schedule import quiet_until
from bot.delivery.sender import photo_refused
from bot.delivery.shared_limiter import RESERVED
from bot.errors import ConfigError
from bot.models import Article
from bot.render.channels import PostStyle, channel_post
from bot.storage import channels as channel_store
from bot.storage.channels import Candidate, Channel
from bot.storage.interface import Database
from bot.storage.outbox import ClaimedRow
from bot.text import fold, keyword_matches

logger = logging.getLogger(__name__)

_LIST_KEYS = ("categories", "sources", "keywords", "exclude_keywords")
_BOOL_KEYS = ("review", "hashtags")
_YES = {"yes", "true", "on", "1"}
_NO = {"no", "false", "off", "0"}


def options_of(settings: ChannelSettings) -> dict[str, Any]:
    """The JSON-able options kept in the database for one channel."""
    options: dict[str, Any] = {
        "review": settings.review,
        "categories": list(settings.categories),
        "sources": list(settings.sources),
        "keywords": list(settings.keywords),
        "exclude_keywords": list(settings.exclude_keywords),
        "min_interval": settings.min_interval,
        "footer": settings.footer,
        "hashtags": settings.hashtags,
    }
    if settings.silent_hours:
        options["silent_hours"] = "-".join(settings.silent_hours)
    if settings.timezone:
        options["timezone"] = settings.timezone
    return options


def settings_of(channel: Channel) -> ChannelSettings:
    """A stored channel's options, checked again (they were checked when stored)."""
    return parse_channel_options("channel", {**channel.options, "chat": channel.ref})


def parse_add_command(text: str) -> ChannelSettings:
    """'/channel_add @name review=yes min_interval=600 categories=sport,politics footer="<a ...>"'.

    Raises ConfigError naming the option that is wrong.
    """
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise ConfigError("arguments", f"cannot be read: {exc}") from None
    if not words:
        raise ConfigError("chat", "is required")
    table: dict[str, Any] = {"chat": words[0]}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep:
            raise ConfigError(word, "options are written key=value")
        if key in _LIST_KEYS:
            table[key] = [v.strip() for v in value.split(",") if v.strip()]
        elif key in _BOOL_KEYS:
            if value.lower() not in _YES | _NO:
                raise ConfigError(key, "must be yes or no")
            table[key] = value.lower() in _YES
        elif key == "min_interval":
            try:
                table[key] = float(value)
            except ValueError:
                raise ConfigError(key, "must be a number of seconds") from None
        else:
            table[key] = value
    return parse_channel_options("channel", table)


def matches(settings: ChannelSettings, article: Article) -> bool:
    """Whether a story belongs in the channel: its categories, sources and keywords, minus exclusions."""
    text = fold(f"{article.title}\n{article.lead}")
    if any(keyword_matches(fold(k), text) for k in settings.exclude_keywords):
        return False
    if not (settings.categories or settings.sources or settings.keywords):
        return True
    category = fold(article.category or "")
    return (
        any(fold(c) == category for c in settings.categories)
        or article.source_id in settings.sources
        or any(keyword_matches(fold(k), text) for k in settings.keywords)
    )


def candidates(
    settings: ChannelSettings, articles: list[Article], blocked_by: Callable[[str], str | None]
) -> list[Candidate]:
    """The channel's new posts; each held for review when the channel asks or the blocklist matches."""
    out = []
    for article in articles:
        if not matches(settings, article):
            continue
        word = blocked_by(f"{article.title}\n{article.lead}")
        reason = f"blocklist: {word}" if word else ("review" if settings.review else None)
        out.append(Candidate(article.id, 1 if article.breaking else 0, reason))
    return out


def is_due(channel: Channel, settings: ChannelSettings, now: float) -> bool:
    """Whether the channel may post now: active, known, and its interval has passed."""
    if channel.state != "active" or channel.chat_id is None:
        return False
    return channel.last_post_at is None or now >= channel.last_post_at + settings.min_interval


def in_silent_hours(settings: ChannelSettings, now: float, default_tz: str) -> bool:
    """Whether posts go out without a notification sound right now."""
    if settings.silent_hours is None:
        return False
    zone = ZoneInfo(settings.timezone or default_tz)
    start, end = settings.silent_hours
    return quiet_until(datetime.fromtimestamp(now, UTC), start, end, zone) is not None


def style_of(options: dict[str, Any]) -> PostStyle:
    return PostStyle(footer=str(options.get("footer") or ""), hashtags=bool(options.get("hashtags")))


def can_post(member: ChatMember, chat_type: str) -> bool:
    """Whether the bot may post: an administrator with the posting right in a channel."""
    if member.status == ChatMember.OWNER:
        return True
    if chat_type == Chat.CHANNEL:
        return isinstance(member, ChatMemberAdministrator) and bool(member.can_post_messages)
    return member.status in (ChatMember.ADMINISTRATOR, ChatMember.MEMBER)


def make_channel_sender(bot: ExtBot[Any], db: Database) -> SendFunc:
    """Send one channel post for the dispatcher: a photo with caption, or text; plus any follow-up."""

    async def send(row: ClaimedRow, article: Article) -> int:
        found = await channel_store.post_for_row(db, outbox_id=row.id)
        title, summary, options = found or (None, None, {})
        post = channel_post(article, style=style_of(options), title=title, summary=summary)
        base: dict[str, Any] = {"chat_id": row.chat_id, "parse_mode": ParseMode.HTML}
        if row.silent:
            base["disable_notification"] = True
        kind = "text"
        result: dict[str, Any] = {}
        if post.photo:
            try:
                result = await bot.do_api_request(
                    "sendphoto",
                    api_kwargs={**base, "photo": post.photo, "caption": post.text},
                    rate_limit_args=RESERVED,
                )
                kind = "photo"
            except BadRequest as exc:
                if not photo_refused(exc):
                    raise
                logger.info("Telegram refused the image of article %d; posting text", article.id)
                post = channel_post(
                    article, style=style_of(options), title=title, summary=summary, with_photo=False
                )
        if kind == "text":
            result = await bot.do_api_request(
                "sendmessage",
                api_kwargs={**base, "text": post.text, "link_preview_options": {"is_disabled": True}},
                rate_limit_args=RESERVED if not post.photo else None,
            )
        message_id = int(result["message_id"])
        extra: int | None = None
        if kind == "photo" and post.follow_up:
            follow = await bot.send_message(
                row.chat_id,
                post.follow_up,
                reply_parameters=ReplyParameters(message_id),
                disable_notification=row.silent or None,
            )
            extra = follow.message_id
        await channel_store.record_parts(db, outbox_id=row.id, kind=kind, extra_message_id=extra)
        return message_id

    return send


async def edit_post(bot: ExtBot[Any], edit: channel_store.Edit, article: Article) -> None:
    """Bring a posted story in line with the source's new title or lead."""
    post = channel_post(
        article,
        style=style_of(edit.options),
        title=edit.title,
        summary=edit.summary,
        with_photo=edit.kind == "photo",
    )
    try:
        if edit.kind == "photo":
            await bot.edit_message_caption(
                edit.chat_id, edit.message_id, caption=post.text, parse_mode=ParseMode.HTML
            )
        else:
            await bot.edit_message_text(
                post.text,
                edit.chat_id,
                edit.message_id,
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise
