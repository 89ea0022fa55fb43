"""Every item of the real feeds in ../shared/corpus renders as a channel post Telegram accepts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.emulator.entities import parse_html
from bot.models import Article
from bot.news.feeds import parse_feed
from bot.render.channels import PostStyle, channel_post
from bot.render.html import utf16_len

CORPUS_FEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "feeds"
SUFFIXES = {".xml", ".rss", ".atom", ".rdf", ".json"}


@pytest.mark.skipif(not CORPUS_FEEDS.is_dir(), reason="shared corpus not present")
def test_every_corpus_item_is_a_valid_post_within_caption_and_message_limits() -> None:
    style = PostStyle(footer='<a href="https://t.me/x">Subscribe</a> · <b>News</b>', hashtags=True)
    checked = 0
    for path in sorted(p for p in CORPUS_FEEDS.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file()):
        try:
            feed = parse_feed(path.read_bytes(), url=f"https://corpus.example/{path.name}")
        except Exception:
            continue
        for n, item in enumerate(feed.items[:40]):  # enough of each feed; keeps the test quick
            article = Article(
                id=n,
                source_id="c",
                guid=item.guid,
                url=item.url,
                title=item.title,
                lead=item.lead,
                published_at=datetime.now(UTC),
                category=item.category,
                kicker=item.kicker,
                image_url=item.image_url or "https://corpus.example/lead.jpg",
                tags=tuple(item.tags),
            )
            # The lead as the summary, and four times the lead: the caption must cut, never break.
            for summary in (None, (item.lead + " ") * 4):
                post = channel_post(article, style=style, summary=summary)
                caption, _ = parse_html(post.text)  # raises on anything Telegram would refuse
                assert utf16_len(caption) <= 1024, path
                if post.follow_up is not None:
                    follow, _ = parse_html(post.follow_up)
                    assert 0 < utf16_len(follow) <= 4096, path
                text = channel_post(article, style=style, summary=summary, with_photo=False)
                assert utf16_len(parse_html(text.text)[0]) <= 4096, path
            checked += 1
    assert checked > 500, checked
