"""The channel job: resolve channels, take in new stories, release posts at each channel's pace,
send review cards, and edit posts whose story changed at the source."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError

from bot import channels as channel_rules
from bot.context import NewsContext
from bot.i18n import Translate
from bot.render.html import escape
from bot.render.moderation import review_card, review_keyboard
from bot.staff import notify_admins
from bot.storage import articles, chats, moderation
from bot.storage import channels as channel_store
from bot.storage.channels import Channel

logger = logging.getLogger(__name__)

TICK = 1.0  # seconds between runs; edits reach the channel well within a minute


def _refused_note(ref: str) -> Callable[[Translate], str]:
    """The admins' note when Telegram refuses a post, in each admin's language."""

    def note(tr: Translate) -> str:
        text = tr(
            "⏸ Telegram refused my post in {channel}: I may not post there."
            " Posting stopped; the story waits until I may post again."
        )
        return text.format(channel=escape(ref))

    return note


async def tick(context: NewsContext) -> None:
    """One pass over every channel; each step survives the others failing."""
    db = context.db
    now = time.time()
    for ref in await channel_store.settle(db):
        await notify_admins(
            context.bot,
            context.db,
            context.settings.bot.admins,
            _refused_note(ref),
            default_language=context.settings.bot.language,
        )
    words = [w for w, _ in await moderation.blocklist(db)]
    released = False
    for channel in await channel_store.list_channels(db):
        try:
            if channel.chat_id is None:
                # A channel that cannot be seen yet is asked about every half minute, not every tick.
                if context.bot_data.channel_retry_at.get(channel.id, 0.0) > now:
                    continue
                context.bot_data.channel_retry_at[channel.id] = now + 30
                channel = await _resolve(context, channel)
                if channel.chat_id is None:
                    continue
            settings = channel_rules.settings_of(channel)
            fresh = await channel_store.new_articles(db, after=channel.last_article)
            if fresh:
                chosen = channel_rules.candidates(
                    settings, fresh, lambda text: moderation.blocked_by(words, text)
                )
                await channel_store.enqueue(
                    db, channel_id=channel.id, candidates=chosen, cursor=fresh[-1].id, now=now
                )
            if channel_rules.is_due(channel, settings, now):
                stale_after = context.settings.delivery.stale_after
                if dropped := await channel_store.drop_stale(
                    db, channel_id=channel.id, older_than=now - stale_after
                ):
                    logger.warning(
                        "Channel %s: %d stories waited over %.0f s and were dropped as stale",
                        channel.ref,
                        dropped,
                        stale_after,
                    )
                silent = channel_rules.in_silent_hours(settings, now, context.settings.bot.timezone)
                if await channel_store.release_next(db, channel=channel, silent=silent, now=now) is not None:
                    released = True
        except Exception:  # one broken channel must not stop the others
            logger.exception("Channel %s: this pass failed", channel.ref)
    if released:
        context.dispatcher.wake()
    # Cards and edits wait on Telegram's group limits (a review desk is a group): they run beside
    # the tick, one batch at a time, so posts are released on time whatever the desk's backlog.
    side = context.bot_data.channel_side_task
    if side is None or side.done():
        context.bot_data.channel_side_task = asyncio.create_task(_cards_and_edits(context, now))


async def _cards_and_edits(context: NewsContext, now: float) -> None:
    try:
        await _send_cards(context)
        await _apply_edits(context, now)
    except Exception:  # logged here: nothing awaits this task; the next tick tries again
        logger.exception("Sending review cards or editing channel posts failed")


async def _resolve(context: NewsContext, channel: Channel) -> Channel:
    """Learn a configured channel's id and check the bot may post there (admins told once)."""
    try:
        chat = await context.bot.get_chat(channel.ref)
        member = await context.bot.get_chat_member(chat.id, context.bot.id)
    except (BadRequest, Forbidden) as exc:
        logger.warning("Channel %s is not reachable yet: %s", channel.ref, exc)
        error = str(exc)
        if channel.id not in context.bot_data.channel_unreachable_told:
            context.bot_data.channel_unreachable_told.add(channel.id)
            await notify_admins(
                context.bot,
                context.db,
                context.settings.bot.admins,
                lambda tr: tr(
                    "⏸ I cannot reach the channel {channel} ({error})."
                    " Add me to it as an administrator with the right to post; I will keep trying."
                ).format(channel=escape(channel.ref), error=escape(error)),
                default_language=context.settings.bot.language,
            )
        return channel
    await chats.remember_chat(
        context.db,
        chat_id=chat.id,
        chat_type=chat.type,  # type: ignore[arg-type]
        title=chat.title,
        username=chat.username,
        language=None,
        now=time.time(),
        reactivate=True,
    )
    await channel_store.set_chat(context.db, channel_id=channel.id, chat_id=chat.id, title=chat.title)
    if not channel_rules.can_post(member, chat.type):
        await channel_store.set_state(context.db, chat_id=chat.id, state="paused", reason="no right to post")
        await notify_admins(
            context.bot,
            context.db,
            context.settings.bot.admins,
            lambda tr: tr(
                "⏸ I cannot post in {channel}: make me an administrator with the right to post."
            ).format(channel=escape(chat.title or channel.ref)),
            default_language=context.settings.bot.language,
        )
    refreshed = [c for c in await channel_store.list_channels(context.db) if c.id == channel.id]
    return refreshed[0] if refreshed else channel


async def _send_cards(context: NewsContext) -> None:
    """Put each new review card in front of the moderators."""
    owners = context.settings.bot.admins
    target = context.settings.bot.review_chat or (min(owners) if owners else None)
    if target is None:
        return
    tr = context.translate(await chats.language_of(context.db, chat_id=target))
    for review in await moderation.cardless(context.db):
        article = await articles.get_article(context.db, article_id=review.article_id)
        if article is None:
            continue
        try:
            card = await context.bot.send_message(
                target,
                review_card(review, article, context.settings.bot.tz, tr),
                parse_mode=ParseMode.HTML,
                reply_markup=review_keyboard(review, tr),
            )
        except TelegramError as exc:
            logger.warning("Could not send review card %d: %s", review.id, exc)
            return  # the chat is unreachable; next pass tries again
        await moderation.set_card(context.db, review_id=review.id, chat_id=target, message_id=card.message_id)


async def _apply_edits(context: NewsContext, now: float) -> None:
    for edit in await channel_store.edits_due(context.db, now=now):
        article = await articles.get_article(context.db, article_id=edit.article_id)
        if article is not None:
            try:
                await channel_rules.edit_post(context.bot, edit, article)
            except TelegramError as exc:  # e.g. deleted by the channel's owner: nothing to edit
                logger.info("Could not edit post %d in %d: %s", edit.message_id, edit.chat_id, exc)
        await channel_store.mark_edited(context.db, post_id=edit.post_id, now=now)
