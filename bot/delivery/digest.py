"""Daily digests: at each chat's chosen time, one list of what waited for it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from itertools import groupby
from zoneinfo import ZoneInfo

from telegram.error import Forbidden, TelegramError

from bot.delivery.schedule import digest_due
from bot.delivery.sender import ListSender
from bot.i18n import supported, translator
from bot.models import Article
from bot.storage import articles, chats, outbox
from bot.storage.interface import Database

logger = logging.getLogger(__name__)


async def send_due_digests(
    db: Database, *, send_list: ListSender, now: float, default_tz: str, default_language: str
) -> int:
    """Send every digest whose time has come; return how many chats got one."""
    moment = datetime.fromtimestamp(now, UTC)
    delivered = 0
    for chat in await outbox.digest_chats(db):
        tz = chat.timezone or default_tz
        if not digest_due(moment, chat.digest_time, ZoneInfo(tz), chat.last_digest_at):
            continue
        try:
            language = supported(chat.language) or default_language
            sent = await _send_one(
                db, chat.chat_id, send_list=send_list, tz=tz, now=now, language=language, silent=chat.silent
            )
        except Forbidden as exc:
            await chats.set_status(db, chat_id=chat.chat_id, status="blocked", now=now, reason=str(exc))
            continue
        except TelegramError:
            # Rows stay in 'digest' and last_digest_at unchanged: the next minute tries again.
            logger.warning("Digest for chat %d failed; retrying next minute", chat.chat_id, exc_info=True)
            continue
        await chats.set_last_digest(db, chat_id=chat.chat_id, at=now)
        delivered += sent
    return delivered


async def _send_one(
    db: Database,
    chat_id: int,
    *,
    send_list: ListSender,
    tz: str,
    now: float,
    language: str,
    silent: bool = False,
) -> int:
    tr = translator(language)
    rows = await outbox.digest_rows(db, chat_id=chat_id)
    sent = 0
    for thread_id, group in groupby(rows, key=lambda r: r.thread_id):
        members = list(group)
        items: list[Article] = []
        for row in members:
            article = await articles.get_article(db, article_id=row.article_id)
            if article is not None:
                items.append(article)
        message_id = 0
        if items:
            heading = tr.ngettext("Your digest: {n} new item", "Your digest: {n} new items", len(items))
            message_id = await send_list(
                chat_id, thread_id, heading.format(n=len(items)), items, tz, False, language, silent=silent
            )
            sent = 1
        await outbox.mark_digested(db, rows=[(message_id, now, r.id) for r in members])
    return sent
