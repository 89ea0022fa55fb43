"""Tests for bot.urls."""

from __future__ import annotations

import pytest

from bot.urls import host_of, normalize_url


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("https://News.Example/a/story/", "https://news.example/a/story"),
        ("https://news.example/a/story?utm_source=rss&utm_medium=feed", "https://news.example/a/story"),
        ("https://news.example:443/a?b=2&a=1#top", "https://news.example/a?a=1&b=2"),
        ("HTTP://news.example:80", "http://news.example/"),
        ("https://news.example/a?fbclid=x&gclid=y&id=7", "https://news.example/a?id=7"),
        ("https://news.example./a", "https://news.example/a"),
    ],
)
def test_equivalent_urls_compare_equal(left: str, right: str) -> None:
    assert normalize_url(left) == normalize_url(right)


def test_relative_url_is_resolved_against_base() -> None:
    assert normalize_url("../b/c/", base="https://x.example/a/d/index.html") == "https://x.example/a/b/c"
    assert normalize_url("/p?q=1", base="https://x.example/a/") == "https://x.example/p?q=1"


def test_root_keeps_its_slash_and_non_default_port_is_kept() -> None:
    assert normalize_url("https://x.example") == "https://x.example/"
    assert normalize_url("http://x.example:8080/a/") == "http://x.example:8080/a"


def test_non_http_and_malformed_urls_do_not_raise() -> None:
    assert normalize_url("tag:news.example,2024:1") == "tag:news.example,2024:1"
    assert normalize_url("http://x.example:99999999/") == "http://x.example:99999999/"


def test_host_of() -> None:
    assert host_of("https://News.Example:8443/a") == "news.example"
    assert host_of("http://[::1]:80/") == "::1"
    assert host_of("not a url") == ""
