"""Keyword matching as readers expect it: whole words, any case, their own alphabet's letters."""

from __future__ import annotations

import pytest

from bot.text import command_target, fold, keyword_matches, shorten


def matches(keyword: str, text: str) -> bool:
    return keyword_matches(fold(keyword), fold(text))


@pytest.mark.parametrize(
    ("keyword", "text"),
    [
        ("Baku", "Flights to BAKU resume"),
        ("baku", "Baku, the capital"),
        ("İstanbul", "Talks in istanbul today"),
        ("istanbul", "İSTANBUL'DA yağış"),  # Turkish capital dotted İ folds to a plain i
        ("ISTANBUL", "İstanbul derby"),
        ("ёлка", "Главная елка страны"),  # Russians write е for ё
        ("елка", "Главная Ёлка страны"),
        ("Москва", "МОСКВА сегодня"),
        ("climate change", "Talks on Climate   Change stall"),  # a phrase across any whitespace
        ("oil", "Oil-price rises"),  # punctuation is a boundary
        ("covid-19", "New covid-19 rules"),
    ],
)
def test_keyword_matches(keyword: str, text: str) -> None:
    assert matches(keyword, text)


@pytest.mark.parametrize(
    ("keyword", "text"),
    [
        ("Baku", "Bakı küçələri"),  # Azerbaijani ı is its own letter
        ("Bakı", "Flights to Baku"),
        ("oil", "Boiling point"),  # not inside a word
        ("oil", "Spoils of war"),
        ("art", "Martial law"),
        ("war", "Warsaw talks"),
        ("нефть", "нефтяной рынок"),
        ("climate change", "climate policy will change"),  # a phrase keeps its order and adjacency
        ("Baku", ""),
    ],
)
def test_keyword_does_not_match(keyword: str, text: str) -> None:
    assert not matches(keyword, text)


def test_fold_is_stable_and_idempotent() -> None:
    for word in ["İstanbul", "ЁЖИК", "Straße", "Bakı"]:
        assert fold(fold(word)) == fold(word)
    assert fold("İstanbul") == fold("istanbul") == fold("ISTANBUL") == "istanbul"
    assert fold("Bakı") != fold("Baku")


def test_shorten_cuts_at_a_word_and_marks_the_cut() -> None:
    text = "The quick brown fox jumps over the lazy dog"
    assert shorten(text, 100) == text
    cut = shorten(text, 20)
    assert len(cut) <= 20 and cut.endswith("…") and cut.startswith("The quick brown")


def test_command_target_names_the_bot_after_the_at() -> None:
    assert command_target("/foo@NewsBot now") == "NewsBot"
    assert command_target("/foo now") is None
    assert command_target("/foo@") is None
    assert command_target("hello @NewsBot") is None
