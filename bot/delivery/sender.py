"""Turning a claimed outbox row into one Bot API call."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from telegram.constants import ParseMode
from telegram.ext import ExtBot

from bot.delivery.aiohttp_request import AiohttpRequest, json_body
from bot.delivery.dispatcher import BatchSendFunc, SendFunc
from bot.delivery.shared_limiter import RESERVED
from bot.i18n import translator
from bot.models import Article
from bot.render.articles import article_message
from bot.render.lists import item_list
from bot.render.reading import article_keyboard, titled_keyboard
from bot.storage.outbox import ClaimedRow

SEND_MESSAGE = "sendmessage"

# (Bot API method, parameters) -> the answer's result; raises PTB's exceptions.
ApiCall = Callable[[str, dict[str, Any]], Awaitable[Any]]


def make_api_call(bot: ExtBot[Any]) -> ApiCall:
    """The dispatcher's way to call the Bot API: one JSON body straight to the bot's aiohttp pool.

    PTB's generic call spent more CPU per message building request objects than the exchange
    cost. The dispatcher has already reserved the send's slots, and PTB's request still maps
    every answer to its exceptions. Any other network layer (tests' offline requests) gets PTB's
    generic call.
    """
    request = bot.request
    if not isinstance(request, AiohttpRequest):

        async def generic(method: str, params: dict[str, Any]) -> Any:
            return await bot.do_api_request(method, api_kwargs=params, rate_limit_args=RESERVED)

        return generic
    base = f"{bot.base_url}/"

    async def direct(method: str, params: dict[str, Any]) -> Any:
        return await request.post(base + method, request_data=json_body(params))

    return direct


def make_sender(
    bot: ExtBot[Any],
    *,
    default_tz: str,
    default_language: str,
    paid_broadcast: bool = False,
    send_channel: SendFunc | None = None,
) -> SendFunc:
    """A send function for the dispatcher: renders once per (article, timezone, language).

    Channel posts (``row.kind == 'channel'``) go to ``send_channel``, which renders the
    publisher's format; everything else about them (limits, retries, outcomes) is the same.
    """
    call = make_api_call(bot)

    @lru_cache(maxsize=2048)
    def render(article: Article, tz: str, language: str) -> str:
        return article_message(article, tz=ZoneInfo(tz), translate=translator(language))

    @lru_cache(maxsize=2048)
    def buttons(article: Article, language: str) -> str:
        # Summary, Related and Open under every item (reading, issue 9); JSON once per article.
        return json.dumps(article_keyboard(article, translator(language)).to_dict(), ensure_ascii=False)

    async def send(row: ClaimedRow, article: Article) -> int:
        if row.kind == "channel" and send_channel is not None:
            return await send_channel(row, article)
        # A broadcast's body is the admin's own HTML, produced by Telegram from their message.
        text = (article.body or "") if row.kind == "broadcast" else None
        params: dict[str, Any] = {
            "chat_id": row.chat_id,
            "text": text or render(article, row.timezone or default_tz, row.language or default_language),
            "parse_mode": ParseMode.HTML,
            "link_preview_options": {"is_disabled": not article.image_url},
            "reply_markup": buttons(article, row.language or default_language),
        }
        if paid_broadcast:
            # Above 30 messages a second Telegram charges Stars; the operator opted in.
            params["allow_paid_broadcast"] = True
        if row.thread_id:
            params["message_thread_id"] = row.thread_id
        # Building a full Message from the answer cost a fifth of the dispatcher's CPU per
        # message, and only its id is kept, so the raw result is read. Bot API method names
        # are case-insensitive; PTB warns when the typed method's own spelling is used.
        result = await call(SEND_MESSAGE, params)
        return int(result["message_id"])

    return send


# (chat id, topic, heading, articles, timezone, reserved) -> id of the first message sent.
ListSender = Callable[[int, int, str, Sequence[Article], str, bool], Awaitable[int]]


def make_list_sender(bot: ExtBot[Any]) -> ListSender:
    """Send a heading and item lines as few messages as the length limit allows (digests, batches)."""

    async def send_list(
        chat_id: int, thread_id: int, heading: str, items: Sequence[Article], tz: str, reserved: bool
    ) -> int:
        first = 0
        parts = item_list(heading, items, tz=tz)
        # Where the list is one short message there is room for each item's reading buttons.
        markup = titled_keyboard(items, translator(None)) if len(parts) == 1 else None
        for n, text in enumerate(parts):
            params: dict[str, Any] = {"chat_id": chat_id, "text": text, "parse_mode": ParseMode.HTML}
            if markup is not None:
                params["reply_markup"] = markup
            if thread_id:
                params["message_thread_id"] = thread_id
            # Only the first part had its slot reserved by the dispatcher; the rest queue in the limiter.
            limits = RESERVED if reserved and n == 0 else None
            message = await bot.send_message(**params, rate_limit_args=limits)
            first = first or message.message_id
        return first

    return send_list


def make_batch_sender(send_list: ListSender, *, default_tz: str, default_language: str) -> BatchSendFunc:
    """What the dispatcher sends when a chat's quiet hours end: one list of what was held."""

    async def send_batch(row: ClaimedRow, items: list[Article]) -> int:
        _ = translator(row.language or default_language)
        heading = _("While you were in quiet hours ({n})").format(n=len(items))
        return await send_list(row.chat_id, row.thread_id, heading, items, row.timezone or default_tz, True)

    return send_batch
