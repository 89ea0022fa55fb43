"""Tests for bot.news.article and bot.news.discovery."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.news.article import extract_article
from bot.news.discovery import discover_feeds

FIXTURES = Path(__file__).parent / "fixtures" / "news"
PAGE_URL = "https://ticker.example/en/interviews/triumph-of-sovereignty/"


def test_article_with_read_also_block() -> None:
    page = extract_article((FIXTURES / "article.html").read_bytes(), url=PAGE_URL)
    assert page.canonical_url == "https://ticker.example/en/interviews/triumph-of-sovereignty"
    assert page.title == "Triumph of sovereignty: a quiet victory"
    assert page.text.startswith("The early withdrawal of the peacekeepers")
    assert "full return of sovereignty" in page.text
    assert "Subscribe to our Telegram channel" not in page.text
    assert "Conflict rather than peace" not in page.text
    assert page.description == "Experts from two countries weigh the withdrawal of peacekeepers."
    assert page.kicker == "Has & Verdiyan on Ticker Daily"
    assert page.author == "Vadim Mansurov"
    assert page.published == datetime(2024, 4, 20, 12, 30, tzinfo=UTC)
    assert page.category == "Interviews"
    assert page.tags == ("Karabakh", "Diplomacy")
    assert page.image_url == "https://ticker.example/media/2024/04/20/triumph.jpg"
    assert page.read_also == (
        ("Conflict rather than peace", "https://ticker.example/en/interviews/conflict-rather-than-peace"),
        (
            "New war will erase sovereignty, pundits warn",
            "https://ticker.example/en/interviews/new-war-warning",
        ),
    )


@pytest.mark.parametrize("heading", ["Читайте также", "Daha çox", "Related", "See also:", "İlgili Haberler"])
def test_read_also_found_by_multilingual_heading(heading: str) -> None:
    html = (
        "<html><body><article><p>Body.</p></article>"
        f"<div><h4>{heading}</h4><ul><li><a href='/n/2'>Second story title</a></li></ul></div>"
        "</body></html>"
    )
    page = extract_article(html, url="https://s.example/n/1")
    assert page.read_also == (("Second story title", "https://s.example/n/2"),)


@pytest.mark.parametrize("content", [b"", b"\x00\x01\x02\xff", "<html", "<<<>>>" * 1000, "plain text"])
def test_garbage_does_not_raise(content: bytes | str) -> None:
    page = extract_article(content, url="https://s.example/x")
    assert page.url == "https://s.example/x"
    assert isinstance(page.text, str)


def test_discover_feeds_orders_and_resolves() -> None:
    html = """<html><head>
      <link rel="alternate" type="application/feed+json" href="/feed.json">
      <link rel="alternate" type="application/atom+xml" href="atom.xml">
      <link rel="alternate" type="application/rss+xml" href="https://s.example/rss/">
      <link rel="alternate" type="application/rss+xml" href="/rss">
      <link rel="alternate" type="text/html" href="/en/">
      <link rel="stylesheet" type="text/css" href="/s.css">
    </head></html>"""
    assert discover_feeds(html, url="https://s.example/news/page") == [
        "https://s.example/news/atom.xml",
        "https://s.example/rss",
        "https://s.example/feed.json",
    ]
    assert discover_feeds(b"", url="https://s.example/") == []
