"""Reading messages: an item with its summary, related reads, search results, inline results.

Plain text is cut before markup is added and everything from the web is escaped, so no message
can exceed Telegram's limit or break its HTML.
"""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import Translate
from bot.models import Article
from bot.reading.ids import article_tag
from bot.reading.related import RelatedRead
from bot.render import callbacks
from bot.render.articles import TITLE_LIMIT, format_time
from bot.render.html import MESSAGE_LIMIT, escape, italic, link, utf16_len
from bot.text import shorten

SENTENCE_LIMIT = 700
LIST_TITLE_LIMIT = 200
_SUMMARY_MARGIN = 64  # room for the keyboard's absence of effect and for rounding; text only counts


def _web(url: str) -> bool:
    return url.startswith(("http://", "https://"))


def _meta(article: Article, tz: ZoneInfo, translate: Translate | None = None) -> str:
    parts = [italic(article.kicker)] if article.kicker else []
    if article.source_name:
        parts.append(escape(article.source_name))
    if article.category:
        parts.append(escape(article.category))
    parts.append(escape(format_time(article.published_at, tz, translate)))
    parts.append(f"ID {article.id}")
    return " · ".join(parts)


def summary_message(
    article: Article, sentences: Sequence[str], *, tz: ZoneInfo, translate: Translate, from_lead: bool = False
) -> str:
    """Headline, source line, the summary in an expandable quote, then the link; within 4,096."""
    title = shorten(article.title, TITLE_LIMIT) or translate("(untitled)")
    head = f"<b>{link(title, article.url)}</b>\n{_meta(article, tz, translate)}"
    tail = ""
    if _web(article.url):
        tail = "\n" + link("🔗 " + translate("Read the article"), article.url)
    note = (
        ("\n" + italic(translate("Summary of the lead; the page could not be fetched."))) if from_lead else ""
    )
    if not sentences:
        return head + "\n\n" + italic(translate("No summary: the article has no text yet.")) + tail
    budget = MESSAGE_LIMIT - utf16_len(head + tail + note) - _SUMMARY_MARGIN
    lines: list[str] = []
    used = 0
    for sentence in sentences:
        line = escape(shorten(sentence, SENTENCE_LIMIT))
        size = utf16_len(line) + 1
        if used + size > budget:
            break
        lines.append(line)
        used += size
    if not lines:
        lines = [escape(shorten(sentences[0], max(budget // 2, 40)))]
    quote = "<blockquote expandable>" + "\n".join(lines) + "</blockquote>"
    return f"{head}\n\n{quote}{note}{tail}"


def article_buttons(
    article: Article, translate: Translate, *, expanded: bool = False, in_place: bool = True
) -> list[InlineKeyboardButton]:
    """Summary, Related and Open for one article; Summary collapses when ``expanded``."""
    tag = article_tag(article)
    mode = ("c" if expanded else "x") if in_place else "r"
    label = ("▴ " if expanded else "📝 ") + translate("Summary")
    buttons = [
        InlineKeyboardButton(
            label, callback_data=callbacks.encode(callbacks.SUMMARY, f"{article.id}:{tag}:{mode}")
        ),
        InlineKeyboardButton(
            "🧭 " + translate("Related"),
            callback_data=callbacks.encode(callbacks.RELATED, f"{article.id}:{tag}"),
        ),
    ]
    if _web(article.url):
        buttons.append(InlineKeyboardButton("↗ " + translate("Open"), url=article.url))
    return buttons


def article_keyboard(
    article: Article, translate: Translate, *, expanded: bool = False
) -> InlineKeyboardMarkup:
    """The keyboard under a pushed item (and under a summary)."""
    return InlineKeyboardMarkup([article_buttons(article, translate, expanded=expanded)])


def _numbered_row(number: int, article: Article, translate: Translate) -> list[InlineKeyboardButton]:
    tag = article_tag(article)
    row = [
        InlineKeyboardButton(
            f"📝 {translate('Summary')} {number}",
            callback_data=callbacks.encode(callbacks.SUMMARY, f"{article.id}:{tag}:r"),
        ),
        InlineKeyboardButton(
            f"🧭 {translate('Related')} {number}",
            callback_data=callbacks.encode(callbacks.RELATED, f"{article.id}:{tag}"),
        ),
    ]
    if _web(article.url):
        row.append(InlineKeyboardButton(f"↗ {number}", url=article.url))
    return row


def numbered_keyboard(
    items: Sequence[Article], translate: Translate, *, extra: Sequence[InlineKeyboardButton] = ()
) -> InlineKeyboardMarkup | None:
    """One row per numbered item of a list: Summary n, Related n, Open n (they reply, not edit)."""
    rows = [_numbered_row(number, article, translate) for number, article in enumerate(items, 1)]
    if extra:
        rows.append(list(extra))
    return InlineKeyboardMarkup(rows) if rows else None


LIST_BUTTONS_MAX = 10  # items of a digest or batch that get buttons; more would bury the list


def titled_keyboard(items: Sequence[Article], translate: Translate) -> InlineKeyboardMarkup | None:
    """Summary and Related for each item of an unnumbered list (digests), labelled by its title."""
    if not items or len(items) > LIST_BUTTONS_MAX:
        return None
    rows = []
    for article in items:
        tag = article_tag(article)
        rows.append(
            [
                InlineKeyboardButton(
                    f"📝 {translate('Summary')}: {shorten(article.title, 28)}",
                    callback_data=callbacks.encode(callbacks.SUMMARY, f"{article.id}:{tag}:r"),
                ),
                InlineKeyboardButton(
                    f"🧭 {translate('Related')}",
                    callback_data=callbacks.encode(callbacks.RELATED, f"{article.id}:{tag}"),
                ),
            ]
        )
    return InlineKeyboardMarkup(rows)


def _item(number: int, title: str, url: str, meta: str) -> str:
    return f"{number}. {link(shorten(title, LIST_TITLE_LIMIT) or url, url)}\n    <i>{meta}</i>"


def numbered_list(
    heading: str, items: Sequence[Article], *, tz: ZoneInfo, translate: Translate | None = None
) -> str:
    """A heading and numbered items, each with source, category, date and id (at most 20 items)."""
    lines = [f"<b>{escape(heading)}</b>"]
    for number, article in enumerate(items, 1):
        lines.append(_item(number, article.title, article.url, _meta(article, tz, translate)))
    return "\n\n".join(lines)


def related_message(title: str, reads: Sequence[RelatedRead], *, tz: ZoneInfo, translate: Translate) -> str:
    """The related reads of an article: "Read also" links first, then similar stored articles."""
    lines = [f"<b>{escape(translate('Related to'))}:</b> {escape(shorten(title, LIST_TITLE_LIMIT))}"]
    for number, read in enumerate(reads, 1):
        meta = _meta(read.article, tz, translate) if read.article is not None else escape(_host(read.url))
        if read.from_page:
            meta = escape(translate("Read also")) + " · " + meta
        lines.append(_item(number, read.title, read.url, meta))
    return "\n\n".join(lines)


def related_keyboard(reads: Sequence[RelatedRead], translate: Translate) -> InlineKeyboardMarkup | None:
    """Each read's own buttons, numbered as the list numbers them; a page link gets Open only."""
    rows: list[list[InlineKeyboardButton]] = []
    for number, read in enumerate(reads, 1):
        if read.article is not None:
            rows.append(_numbered_row(number, read.article, translate))
        elif _web(read.url):
            rows.append([InlineKeyboardButton(f"↗ {number}", url=read.url)])
    return InlineKeyboardMarkup(rows) if rows else None


def _host(url: str) -> str:
    from bot.urls import host_of

    return host_of(url) or url


def search_message(
    words: str, items: Sequence[Article], *, page: int, tz: ZoneInfo, translate: Translate
) -> str:
    heading = translate("Search: {words} (page {page})").format(words=shorten(words, 100), page=page + 1)
    return numbered_list(heading, items, tz=tz, translate=translate)


def search_keyboard(
    items: Sequence[Article], translate: Translate, *, search_id: int, page: int, has_next: bool
) -> InlineKeyboardMarkup | None:
    paging: list[InlineKeyboardButton] = []
    if page > 0:
        paging.append(
            InlineKeyboardButton(
                "◀ " + translate("Previous"),
                callback_data=callbacks.encode(callbacks.SEARCH_PAGE, f"{search_id}:{page - 1}"),
            )
        )
    if has_next:
        paging.append(
            InlineKeyboardButton(
                translate("Next") + " ▶",
                callback_data=callbacks.encode(callbacks.SEARCH_PAGE, f"{search_id}:{page + 1}"),
            )
        )
    return numbered_keyboard(items, translate, extra=paging)


def page_summary_message(title: str, url: str, sentences: Sequence[str], *, translate: Translate) -> str:
    """The summary of a page a reader sent, which we do not store."""
    head = f"<b>{link(shorten(title, TITLE_LIMIT) or url, url)}</b>"
    if not sentences:
        return head + "\n\n" + italic(translate("No summary: the page has no article text."))
    budget = MESSAGE_LIMIT - utf16_len(head) - _SUMMARY_MARGIN
    lines: list[str] = []
    used = 0
    for sentence in sentences:
        line = escape(shorten(sentence, SENTENCE_LIMIT))
        if used + utf16_len(line) + 1 > budget:
            break
        lines.append(line)
        used += utf16_len(line) + 1
    return f"{head}\n\n<blockquote expandable>" + "\n".join(lines) + "</blockquote>"
