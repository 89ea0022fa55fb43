"""Turning a claimed outbox row into one Bot API call."""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from telegram import LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.ext import ExtBot

from bot.delivery.dispatcher import SendFunc
from bot.delivery.shared_limiter import RESERVED
from bot.i18n import translator
from bot.models import Article
from bot.render.articles import article_message
from bot.storage.outbox import ClaimedRow


def make_sender(
    bot: ExtBot[Any], *, default_tz: str, default_language: str, paid_broadcast: bool = False
) -> SendFunc:
    """A send function for the dispatcher: renders once per (article, timezone, language)."""

    @lru_cache(maxsize=2048)
    def render(article: Article, tz: str, language: str) -> str:
        return article_message(article, tz=ZoneInfo(tz), translate=translator(language))

    async def send(row: ClaimedRow, article: Article) -> int:
        params: dict[str, Any] = {
            "chat_id": row.chat_id,
            "text": render(article, row.timezone or default_tz, row.language or default_language),
            "parse_mode": ParseMode.HTML,
            "link_preview_options": LinkPreviewOptions(is_disabled=not article.image_url),
        }
        if paid_broadcast:
            # Above 30 messages a second Telegram charges Stars; the operator opted in.
            params["allow_paid_broadcast"] = True
        if row.thread_id:
            params["message_thread_id"] = row.thread_id
        # The dispatcher already reserved this send's slots in the shared limiter.
        message = await bot.send_message(**params, rate_limit_args=RESERVED)
        return message.message_id

    return send
