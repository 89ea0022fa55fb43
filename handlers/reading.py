"""Reading: /latest, /summary, /related, /search, their buttons, and inline mode."""

from __future__ import annotations

import logging
import time
from zoneinfo import ZoneInfo

from telegram import (
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Message,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.context import NewsContext
from bot.i18n import Translate
from bot.models import Article
from bot.news.fetcher import BlockedAddress, FetchError
from bot.reading import service
from bot.reading.ids import article_tag
from bot.reading.query import EmptyQuery, to_match
from bot.render import callbacks
from bot.render.articles import article_message, minutes_ago
from bot.render.html import escape
from bot.render.reading import (
    article_keyboard,
    numbered_keyboard,
    numbered_list,
    page_summary_message,
    related_keyboard,
    related_message,
    search_keyboard,
    search_message,
    summary_message,
)
from bot.storage import articles, chats, search
from bot.storage.chats import get_chat
from handlers.common import reply_usage, translate_for

logger = logging.getLogger(__name__)

LATEST_USAGE = "/latest [1-20]"
SUMMARY_USAGE = "/summary ID|URL"
RELATED_USAGE = "/related ID|URL"
SEARCH_USAGE = "/search WORDS"
PAGE_SIZE = 5
INLINE_RESULTS = 10
MAX_ID_DIGITS = 18
MAX_URL = 2000


def _is_number(text: str, digits: int = MAX_ID_DIGITS) -> bool:
    # ASCII only: "²".isdigit() is true, yet int("²") raises.
    return text.isascii() and text.isdigit() and len(text) <= digits


async def _tz(context: NewsContext, chat_id: int | None) -> ZoneInfo:
    known = await get_chat(context.db, chat_id=chat_id) if chat_id is not None else None
    return ZoneInfo((known.timezone if known else None) or context.settings.bot.timezone)


async def latest(update: Update, context: NewsContext) -> None:
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    _ = translate_for(update, context)
    args = context.args or []
    count = 5
    if args:
        if len(args) > 1 or not _is_number(args[0], 2) or not 1 <= int(args[0]) <= 20:
            await reply_usage(update, context, LATEST_USAGE)
            return
        count = int(args[0])
    items = await articles.latest(context.db, limit=count)
    if not items:
        await message.reply_text(_("No news yet. Try again in a few minutes."))
        return
    tz = await _tz(context, chat.id)
    await message.reply_html(
        numbered_list(_("Latest news"), items, tz=tz, translate=_), reply_markup=numbered_keyboard(items, _)
    )


# --- /summary and /related ---------------------------------------------------------------------


def _reader(update: Update) -> int:
    user, chat = update.effective_user, update.effective_chat
    return user.id if user else (chat.id if chat else 0)


async def _article_ref(update: Update, context: NewsContext, usage: str) -> tuple[Article | None, str | None]:
    """The article a command names (stored id or stored address), or the URL to fetch, or None."""
    message = update.effective_message
    assert message is not None
    _ = translate_for(update, context)
    args = context.args or []
    if len(args) != 1:
        await reply_usage(update, context, usage)
        return None, None
    ref = args[0].strip().lstrip("#")
    if ref.startswith(("http://", "https://")):
        article_id = await search.find_by_url(context.db, url=ref)
        if article_id is not None:
            found = await search.articles_by_id(context.db, ids=[article_id])
            return found.get(article_id), None
        return None, ref
    if not _is_number(ref):
        await message.reply_html(
            _("That is not an article id. Ids are the numbers shown as “ID 123” under each item.")
            + "\n"
            + _("Usage:")
            + f" <code>{escape(usage)}</code>"
        )
        return None, None
    found = await search.articles_by_id(context.db, ids=[int(ref)])
    article = found.get(int(ref))
    if article is None:
        await message.reply_text(
            _("No article with id {id} is stored (old articles are removed).").format(id=ref)
        )
    return article, None


async def _fetch_allowed(update: Update, context: NewsContext) -> bool:
    if context.reader_limits.allow(_reader(update), "fetch", now=time.monotonic()):
        return True
    message = update.effective_message
    if message is not None:
        _ = translate_for(update, context)
        await message.reply_text(_("You are fetching pages quickly; please wait a minute and try again."))
    return False


async def _fetch_failed(message: Message, _: Translate, exc: FetchError) -> None:
    if isinstance(exc, BlockedAddress):
        await message.reply_text(_("That address is not allowed: it points to a private or local network."))
    else:
        await message.reply_text(_("The page could not be fetched. Check the address and try again."))


async def summary_command(update: Update, context: NewsContext) -> None:
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    article, url = await _article_ref(update, context, SUMMARY_USAGE)
    await _reply_summary(update, context, article, url)


async def url_message(update: Update, context: NewsContext) -> None:
    """A link sent on its own in a private chat: its summary, as /summary URL would give."""
    message = update.effective_message
    text = (message.text or "").strip() if message else ""
    if not text or len(text.split()) != 1 or not service.is_web_address(text) or len(text) > MAX_URL:
        return
    article_id = await search.find_by_url(context.db, url=text)
    if article_id is not None:
        found = await search.articles_by_id(context.db, ids=[article_id])
        await _reply_summary(update, context, found.get(article_id), None)
    else:
        await _reply_summary(update, context, None, text)


async def _reply_summary(
    update: Update, context: NewsContext, article: Article | None, url: str | None
) -> None:
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    _ = translate_for(update, context)
    if url is not None:
        if not await _fetch_allowed(update, context):
            return
        try:
            page = await service.summarize_url(context.fetcher, url)
        except FetchError as exc:
            await _fetch_failed(message, _, exc)
            return
        await message.reply_html(page_summary_message(page.title, page.url, page.sentences, translate=_))
        return
    if article is None:
        return
    if await service.needs_fetch(context.db, article_id=article.id) and not await _fetch_allowed(
        update, context
    ):
        return
    result = await service.article_summary(context.db, context.fetcher, article_id=article.id)
    if result is None:
        return
    tz = await _tz(context, chat.id)
    await message.reply_html(
        summary_message(result.article, result.sentences, tz=tz, translate=_, from_lead=result.from_lead),
        reply_markup=article_keyboard(result.article, _, expanded=True),
    )


async def related_command(update: Update, context: NewsContext) -> None:
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    _ = translate_for(update, context)
    article, url = await _article_ref(update, context, RELATED_USAGE)
    tz = await _tz(context, chat.id)
    if url is not None:
        if not await _fetch_allowed(update, context):
            return
        try:
            title, reads = await service.related_for_url(context.db, context.fetcher, url)
        except FetchError as exc:
            await _fetch_failed(message, _, exc)
            return
    elif article is not None:
        title, reads = article.title, await service.related_reads(context.db, article_id=article.id)
    else:
        return
    if not reads:
        await message.reply_text(_("No related reads found."))
        return
    await message.reply_html(
        related_message(title, reads, tz=tz, translate=_), reply_markup=related_keyboard(reads, _)
    )


# --- buttons -----------------------------------------------------------------------------------


def _button_message(update: Update) -> Message | None:
    query = update.callback_query
    if query is None or not isinstance(query.message, Message):
        return None  # deleted, or too old for Telegram to show us: we reply instead of editing
    return query.message


async def _button_article(update: Update, context: NewsContext, arg: str) -> Article | None:
    """The article a button names, if it still is the one the button was drawn for."""
    parts = arg.split(":")
    if len(parts) < 2 or not _is_number(parts[0]):
        return None
    found = await search.articles_by_id(context.db, ids=[int(parts[0])])
    article = found.get(int(parts[0]))
    if article is None or article_tag(article) != parts[1]:
        return None
    return article


async def on_reading_button(update: Update, context: NewsContext) -> None:
    """Summary, Related and search paging buttons; the query is always answered."""
    query = update.callback_query
    if query is None:
        return
    _ = translate_for(update, context)
    try:
        action = callbacks.decode(query.data)
    except callbacks.CallbackDataError:
        await query.answer(_("This button no longer works."))
        return
    if action.prefix == callbacks.SEARCH_PAGE:
        await _search_page(update, context, action.arg)
        return
    article = await _button_article(update, context, action.arg)
    if article is None:
        await query.answer(_("This article is no longer stored."), show_alert=True)
        return
    if action.prefix == callbacks.RELATED:
        await _related_button(update, context, article)
    else:
        await _summary_button(update, context, article, action.arg.rsplit(":", 1)[-1])


async def _send(update: Update, context: NewsContext, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Reply under the button's message, or send to the chat when that message is gone."""
    query = update.callback_query
    message = _button_message(update)
    if message is not None:
        await message.reply_html(text, reply_markup=markup)
        return
    chat_id = query.message.chat.id if query and query.message else _reader(update)
    await context.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup)


async def _summary_button(update: Update, context: NewsContext, article: Article, mode: str) -> None:
    query = update.callback_query
    assert query is not None
    _ = translate_for(update, context)
    message = _button_message(update)
    chat_id = message.chat.id if message else (query.message.chat.id if query.message else None)
    tz = await _tz(context, chat_id)
    if mode == "c":
        await query.answer()
        # Back to the item as it was pushed: the chat's form, and the age it had when sent.
        known = await get_chat(context.db, chat_id=chat_id) if chat_id is not None else None
        age = minutes_ago(article, message.date.timestamp()) if message is not None else -1
        collapsed = article_message(
            article,
            tz=tz,
            translate=_,
            short=known.options.short if known else False,
            minutes_ago=age,
        )
        try:
            if message is None:
                raise BadRequest("message is inaccessible")
            await message.edit_text(collapsed, reply_markup=article_keyboard(article, _))
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                logger.info("Could not collapse a summary in place: %s", exc)
        return
    answered = False
    if await service.needs_fetch(context.db, article_id=article.id):
        if not context.reader_limits.allow(query.from_user.id, "fetch", now=time.monotonic()):
            await query.answer(_("You are fetching pages quickly; please wait a minute."), show_alert=True)
            return
        # Fetching may take seconds: say so now, so the reader knows the press was heard.
        await query.answer(_("Fetching the article…"))
        answered = True
    result = await service.article_summary(context.db, context.fetcher, article_id=article.id)
    if not answered:
        await query.answer()
    if result is None:
        return
    text = summary_message(result.article, result.sentences, tz=tz, translate=_, from_lead=result.from_lead)
    markup = article_keyboard(result.article, _, expanded=True)
    if mode == "x" and message is not None:
        try:
            await message.edit_text(text, reply_markup=markup)
            return
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                return
            logger.info("Could not expand a summary in place, replying: %s", exc)
    await _send(update, context, text, markup)


async def _related_button(update: Update, context: NewsContext, article: Article) -> None:
    query = update.callback_query
    assert query is not None
    _ = translate_for(update, context)
    reads = await service.related_reads(context.db, article_id=article.id)
    if not reads:
        await query.answer(_("No related reads found."))
        return
    await query.answer()
    message = _button_message(update)
    tz = await _tz(context, message.chat.id if message else None)
    await _send(
        update, context, related_message(article.title, reads, tz=tz, translate=_), related_keyboard(reads, _)
    )


# --- search ------------------------------------------------------------------------------------


async def _results(context: NewsContext, words: str, page: int) -> tuple[list[Article], bool]:
    """One page of results and whether there is another; EmptyQuery when nothing can be searched."""
    hits = await search.search(
        context.db, match=to_match(words), limit=PAGE_SIZE + 1, offset=page * PAGE_SIZE
    )
    found = await search.articles_by_id(context.db, ids=[h.article_id for h in hits[:PAGE_SIZE]])
    return [found[h.article_id] for h in hits[:PAGE_SIZE] if h.article_id in found], len(hits) > PAGE_SIZE


async def search_command(update: Update, context: NewsContext) -> None:
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    _ = translate_for(update, context)
    words = " ".join(context.args or []).strip()
    if not words:
        await reply_usage(update, context, SEARCH_USAGE)
        return
    if not context.reader_limits.allow(_reader(update), "search", now=time.monotonic()):
        await message.reply_text(_("You are searching quickly; please wait a minute and try again."))
        return
    try:
        items, has_next = await _results(context, words, 0)
    except EmptyQuery:
        await reply_usage(update, context, SEARCH_USAGE)
        return
    if not items:
        await message.reply_text(_("Nothing found for “{words}”.").format(words=words[:100]))
        return
    search_id = await search.save_search_query(context.db, query=words, now=time.time())
    tz = await _tz(context, chat.id)
    await message.reply_html(
        search_message(words, items, page=0, tz=tz, translate=_),
        reply_markup=search_keyboard(items, _, search_id=search_id, page=0, has_next=has_next),
    )


async def _search_page(update: Update, context: NewsContext, arg: str) -> None:
    query = update.callback_query
    assert query is not None
    _ = translate_for(update, context)
    search_id, _sep, page_text = arg.partition(":")
    words = await search.search_query(context.db, search_id=int(search_id)) if _is_number(search_id) else None
    if words is None or not _is_number(page_text, 4) or int(page_text) > 1000:
        await query.answer(_("This search has expired; search again."), show_alert=True)
        return
    if not context.reader_limits.allow(query.from_user.id, "search", now=time.monotonic()):
        await query.answer(_("You are searching quickly; please wait a minute."), show_alert=True)
        return
    page = int(page_text)
    items, has_next = await _results(context, words, page)
    await query.answer()
    if not items:
        return
    message = _button_message(update)
    tz = await _tz(context, message.chat.id if message else None)
    text = search_message(words, items, page=page, tz=tz, translate=_)
    markup = search_keyboard(items, _, search_id=int(search_id), page=page, has_next=has_next)
    if message is not None:
        try:
            await message.edit_text(text, reply_markup=markup)
            return
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                return
    await _send(update, context, text, markup)


# --- inline mode -------------------------------------------------------------------------------


async def inline_query(update: Update, context: NewsContext) -> None:
    """``@bot words``: matching articles; an empty query offers the newest."""
    query = update.inline_query
    if query is None:
        return
    # No chat here: the reader's own chat with the bot tells their language, else Telegram does.
    own = await chats.language_of(context.db, chat_id=query.from_user.id)
    _ = context.translate(own or query.from_user.language_code)
    words = query.query.strip()
    offset = int(query.offset) if _is_number(query.offset, 3) else 0
    items: list[Article] = []
    if words:
        if not context.reader_limits.allow(query.from_user.id, "search", now=time.monotonic()):
            await query.answer([], cache_time=0, is_personal=True)
            return
        try:
            hits = await search.search(
                context.db, match=to_match(words), limit=INLINE_RESULTS + 1, offset=offset
            )
        except EmptyQuery:
            hits = []
        found = await search.articles_by_id(context.db, ids=[h.article_id for h in hits])
        items = [found[h.article_id] for h in hits if h.article_id in found]
    else:
        items = await search.newest(context.db, limit=INLINE_RESULTS + 1, offset=offset)
    has_next = len(items) > INLINE_RESULTS
    items = items[:INLINE_RESULTS]
    tz = ZoneInfo(context.settings.bot.timezone)
    results = []
    for article in items:
        facts = await search.reading_facts(context.db, article_id=article.id)
        sentences = facts.summary if facts and facts.summary else ((article.lead,) if article.lead else ())
        results.append(
            InlineQueryResultArticle(
                id=str(article.id),
                title=article.title[:200] or _("(untitled)"),
                description=(sentences[0] if sentences else "")[:200] or None,
                input_message_content=InputTextMessageContent(
                    summary_message(article, sentences, tz=tz, translate=_), parse_mode=ParseMode.HTML
                ),
                reply_markup=InlineKeyboardMarkup(
                    [[b for b in article_keyboard(article, _).inline_keyboard[0] if b.url]]
                )
                if service.is_web_address(article.url)
                else None,
            )
        )
    await query.answer(
        results,
        cache_time=30,
        is_personal=False,
        next_offset=str(offset + INLINE_RESULTS) if has_next else "",
    )
