"""Turning a claimed outbox row into one Bot API call."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import lru_cache
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import ExtBot

from bot.delivery.aiohttp_request import AiohttpRequest, json_body
from bot.delivery.dispatcher import BatchSendFunc, SendFunc
from bot.delivery.shared_limiter import RESERVED
from bot.i18n import supported, translator
from bot.models import Article
from bot.render.articles import article_message, minutes_ago
from bot.render.html import CAPTION_LIMIT, MESSAGE_LIMIT
from bot.render.lists import item_list
from bot.render.reading import article_keyboard, titled_keyboard
from bot.storage.outbox import ClaimedRow

logger = logging.getLogger(__name__)

SEND_MESSAGE = "sendmessage"
SEND_PHOTO = "sendphoto"
# A 400 on sendPhoto is taken for the picture's fault (Telegram has many ways to say so:
# "wrong file identifier", "failed to get HTTP URL content", IMAGE_PROCESS_FAILED,
# PHOTO_INVALID_DIMENSIONS, WEBPAGE_CURL_FAILED, "photo is too big"...) unless it names the chat,
# the topic or the text, which a text message would meet as well. A refusal this list misses
# costs one text send that fails the same way; a list of photo errors that missed one lost the item.
_NOT_THE_PHOTO = (
    "chat not found",
    "chat_id is empty",
    "user not found",
    "peer_id_invalid",
    "message thread not found",
    "not enough rights",
    "have no rights",
    "can't parse entities",
)


def photo_refused(exc: BadRequest) -> bool:
    """Whether a 400 on sendPhoto may be the picture's fault, so the item should go as text."""
    message = str(exc).lower()
    return not any(s in message for s in _NOT_THE_PHOTO)


def photo_of(article: Article) -> str | None:
    """The lead image Telegram may fetch: an http(s) address, nothing else."""
    url = article.image_url
    return url if url and url.startswith(("http://", "https://")) else None

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
    def render(article: Article, tz: str, language: str, short: bool, age: int, limit: int) -> str:
        return article_message(
            article,
            tz=ZoneInfo(tz),
            translate=translator(language),
            short=short,
            minutes_ago=age,
            limit=limit,
        )

    @lru_cache(maxsize=2048)
    def buttons(article: Article, language: str) -> str:
        # Summary, Related and Open under every item (reading, issue 9); JSON once per article.
        return json.dumps(article_keyboard(article, translator(language)).to_dict(), ensure_ascii=False)

    async def send(row: ClaimedRow, article: Article) -> int:
        if row.kind == "channel" and send_channel is not None:
            return await send_channel(row, article)
        tz, language = row.timezone or default_tz, supported(row.language) or default_language
        # A broadcast's body is the admin's own HTML, produced by Telegram from their message.
        text = (article.body or "") if row.kind == "broadcast" else None
        params: dict[str, Any] = {
            "chat_id": row.chat_id,
            "parse_mode": ParseMode.HTML,
            "reply_markup": buttons(article, language),
        }
        if row.silent:
            params["disable_notification"] = True
        if paid_broadcast:
            # Above 30 messages a second Telegram charges Stars; the operator opted in.
            params["allow_paid_broadcast"] = True
        if row.thread_id:
            params["message_thread_id"] = row.thread_id
        age = minutes_ago(article, time.time())
        photo = photo_of(article) if row.photo and text is None else None
        if photo is not None:
            caption = render(article, tz, language, row.short, age, CAPTION_LIMIT)
            try:
                result = await bot.do_api_request(
                    SEND_PHOTO,
                    api_kwargs={**params, "photo": photo, "caption": caption},
                    rate_limit_args=RESERVED,
                )
                return int(result["message_id"])
            except BadRequest as exc:
                if not photo_refused(exc):
                    raise
                # Nothing went out: the same item follows as text, in the slot reserved for it.
                logger.info("Telegram refused the image of article %d; sending text", article.id)
        params["text"] = text or render(article, tz, language, row.short, age, MESSAGE_LIMIT)
        # Telegram's preview where the chat wants one and the article has a picture to show.
        params["link_preview_options"] = {"is_disabled": not (row.preview and article.image_url)}
        # Building a full Message from the answer cost a fifth of the dispatcher's CPU per
        # message, and only its id is kept, so the raw result is read. Bot API method names
        # are case-insensitive; PTB warns when the typed method's own spelling is used.
        result = await call(SEND_MESSAGE, params)
        return int(result["message_id"])

    return send


class ListSender(Protocol):
    """(chat id, topic, heading, articles, timezone, reserved, language; silent) -> first message's id."""

    async def __call__(
        self,
        chat_id: int,
        thread_id: int,
        heading: str,
        items: Sequence[Article],
        tz: str,
        reserved: bool,
        language: str,
        *,
        silent: bool = False,
    ) -> int: ...


def make_list_sender(bot: ExtBot[Any]) -> ListSender:
    """Send a heading and item lines as few messages as the length limit allows (digests, batches)."""

    async def send_list(
        chat_id: int,
        thread_id: int,
        heading: str,
        items: Sequence[Article],
        tz: str,
        reserved: bool,
        language: str,
        *,
        silent: bool = False,
    ) -> int:
        first = 0
        translate = translator(language)
        parts = item_list(heading, items, tz=tz, translate=translate)
        # Where the list is one short message there is room for each item's reading buttons.
        markup = titled_keyboard(items, translate) if len(parts) == 1 else None
        for n, text in enumerate(parts):
            params: dict[str, Any] = {"chat_id": chat_id, "text": text, "parse_mode": ParseMode.HTML}
            if markup is not None:
                params["reply_markup"] = markup
            if thread_id:
                params["message_thread_id"] = thread_id
            if silent:
                params["disable_notification"] = True
            # Only the first part had its slot reserved by the dispatcher; the rest queue in the limiter.
            limits = RESERVED if reserved and n == 0 else None
            message = await bot.send_message(**params, rate_limit_args=limits)
            first = first or message.message_id
        return first

    return send_list


def make_batch_sender(send_list: ListSender, *, default_tz: str, default_language: str) -> BatchSendFunc:
    """What the dispatcher sends when a chat's quiet hours end: one list of what was held."""

    async def send_batch(row: ClaimedRow, items: list[Article]) -> int:
        language = supported(row.language) or default_language
        tr = translator(language)
        heading = tr("While you were in quiet hours ({n})").format(n=len(items))
        tz = row.timezone or default_tz
        return await send_list(
            row.chat_id, row.thread_id, heading, items, tz, True, language, silent=row.silent
        )

    return send_batch
