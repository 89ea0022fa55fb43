"""How a story looks as a channel post, and the footer check for operator HTML.

A post is a photo with a caption when the story has a lead image, else a text message:
kicker or category, bold headline, the summary (else the lead), a link, optional hashtags, and
the channel's footer. Web text is escaped; the footer is the operator's HTML, checked once at
load against the tags Telegram accepts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.html_check import visible
from bot.models import Article
from bot.render.articles import TITLE_LIMIT, label
from bot.render.html import (
    CAPTION_LIMIT,
    MESSAGE_LIMIT,
    bold,
    escape,
    italic,
    link,
    strip_controls,
    utf16_len,
)
from bot.text import collapse_spaces, shorten

SUMMARY_LIMIT = 3000
_HASHTAG_JUNK = re.compile(r"[^\w]+")


def hashtag(category: str | None) -> str:
    """#WorldNews from "world news"; empty when nothing word-like is left."""
    words = _HASHTAG_JUNK.split(collapse_spaces(strip_controls(category or "")))
    tag = "".join(w[:1].upper() + w[1:] for w in words if w)[:40]
    return f"#{tag}" if tag and not tag.isdigit() else ""


@dataclass(frozen=True, slots=True)
class ChannelPost:
    """What to send: a photo with ``text`` as its caption, or a text message."""

    photo: str | None
    text: str
    follow_up: str | None = None  # a text post with what the caption could not hold


@dataclass(frozen=True, slots=True)
class PostStyle:
    footer: str = ""
    hashtags: bool = False
    read_more: str = "Read more"
    breaking: str = "Breaking"


def _compose(article: Article, title: str, summary: str, style: PostStyle) -> str:
    parts: list[str] = []
    kicker = label(article.kicker) or label(article.category)
    head = italic(kicker) if kicker else ""
    if article.breaking:
        head = "🔴 " + bold(style.breaking) + (" · " + head if head else "")
    if head:
        parts.append(head)
    parts.append(bold(title))
    if summary:
        parts.extend(["", escape(summary)])
    parts.extend(["", link(style.read_more + " →", article.url)])
    tags = hashtag(article.category) if style.hashtags else ""
    if tags:
        parts.append(escape(tags))
    if style.footer:
        parts.extend(["", style.footer])
    return "\n".join(parts)


def _fits(text: str, limit: int) -> bool:
    return utf16_len(visible(text)) <= limit and utf16_len(text) <= MESSAGE_LIMIT


def channel_post(
    article: Article,
    *,
    style: PostStyle,
    title: str | None = None,
    summary: str | None = None,
    with_photo: bool = True,
) -> ChannelPost:
    """Render a story for a channel; ``title``/``summary`` are a moderator's edits, if any."""
    headline = label(title or article.title, TITLE_LIMIT) or "(untitled)"
    # The article's own summary (issue 9) where the reading code stored one, else the lead.
    stored = getattr(article, "summary", None)
    automatic = stored if isinstance(stored, str) else ""
    full = shorten(collapse_spaces(strip_controls(summary or automatic or article.lead or "")), SUMMARY_LIMIT)
    if full == headline:
        full = ""
    photo = (
        article.image_url
        if with_photo and article.image_url and article.image_url.startswith(("http://", "https://"))
        else None
    )
    limit = CAPTION_LIMIT if photo else MESSAGE_LIMIT
    text = _compose(article, headline, full, style)
    if _fits(text, limit):
        return ChannelPost(photo, text)
    # Too long: shorten the summary until it fits, halving the overshoot each round (a few rounds).
    cut = len(full)
    while cut > 0:
        cut = max(0, min(cut - 1, cut - (utf16_len(visible(text)) - limit) - 8))
        text = _compose(article, headline, shorten(full, cut) if cut else "", style)
        if _fits(text, limit):
            break
    if not _fits(text, limit):  # a very long footer: drop it rather than fail the post
        text = _compose(article, headline, "", PostStyle(read_more=style.read_more, breaking=style.breaking))
    follow_up = None
    if photo and full:
        # The caption could not hold the whole summary: the rest goes below in one text post.
        follow_up = escape(shorten(full, MESSAGE_LIMIT - 100))
    return ChannelPost(photo, text, follow_up)
