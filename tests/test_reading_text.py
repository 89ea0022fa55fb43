"""Sentence splitting, language detection, search folding and extractive summaries."""

from __future__ import annotations

import pytest

from bot.folding import search_fold, search_tokens
from bot.reading.language import detect_language
from bot.reading.query import EmptyQuery, to_match
from bot.reading.sentences import split_sentences
from bot.reading.summarize import summarize
from bot.storage.fulltext import Match, Term, fts5_match, tsquery


def test_english_split_survives_abbreviations_initials_decimals_and_quotes() -> None:
    text = (
        "Mr. Smith met J. K. Rowling in the U.S. on Monday. He paid $3.5m for the rights! "
        '"We are delighted." Then he left... and came back at 5 p.m. Friday.'
    )
    assert split_sentences(text, "en") == [
        "Mr. Smith met J. K. Rowling in the U.S. on Monday.",
        "He paid $3.5m for the rights!",
        '"We are delighted."',
        "Then he left... and came back at 5 p.m. Friday.",
    ]


def test_russian_split_survives_abbreviations_initials_and_guillemets() -> None:
    text = "В 2024 г. президент И. Алиев посетил т.е. Москву. Рост составил 3,5 %. «Мы победим», — сказал он."
    assert split_sentences(text, "ru") == [
        "В 2024 г. президент И. Алиев посетил т.е. Москву.",
        "Рост составил 3,5 %.",
        "«Мы победим», — сказал он.",
    ]


def test_azerbaijani_and_turkish_split_keeps_initials_titles_and_ordinals() -> None:
    assert split_sentences(
        "Prezident İ. Əliyev Bakıda çıxış edib. Tədbirdə prof. Məmmədov iştirak edib.", "az"
    ) == [
        "Prezident İ. Əliyev Bakıda çıxış edib.",
        "Tədbirdə prof. Məmmədov iştirak edib.",
    ]
    assert split_sentences(
        "Erdoğan 2. Dünya Savaşı hakkında konuştu. Doç. Dr. Yılmaz açıklama yaptı.", "tr"
    ) == [
        "Erdoğan 2. Dünya Savaşı hakkında konuştu.",
        "Doç. Dr. Yılmaz açıklama yaptı.",
    ]


def test_line_breaks_end_sentences_so_headlines_stand_alone() -> None:
    assert split_sentences("Storm hits the coast\nPower was cut. Schools closed.") == [
        "Storm hits the coast",
        "Power was cut.",
        "Schools closed.",
    ]


def test_language_is_detected_for_our_four_languages_and_hint_settles_short_text() -> None:
    assert detect_language("Prezident İlham Əliyev Bakıda yeni məktəbin açılışında iştirak edib.") == "az"
    assert detect_language("Cumhurbaşkanı Erdoğan bugün İstanbul'da önemli bir açıklama yaptı.") == "tr"
    assert detect_language("Президент провёл встречу с министрами в Кремле в понедельник.") == "ru"
    assert detect_language("The president met his ministers in the capital on Monday.") == "en"
    assert detect_language("Bakı", hint="az-Latn") == "az"


def test_search_folding_unifies_turkic_letters_case_and_latin_marks_but_keeps_cyrillic_letters() -> None:
    assert search_fold("İSTANBUL İstanbul ıstanbul Istanbul") == "istanbul istanbul istanbul istanbul"
    assert search_fold("Şuşa ŞUŞA Əliyev ÇAĞ Ölkə Üzüm") == "susa susa eliyev cag olke uzum"
    assert search_fold("Ёлка Йошкар-Ола") == "елка йошкар-ола"
    assert search_tokens("İstanbul'da 3.5 bakı_şəhəri") == ["istanbul", "da", "3", "5", "baki", "seheri"]


def test_search_words_become_a_safe_expression_with_phrases_and_prefixes() -> None:
    assert fts5_match(to_match('"New York" fire')) == '"new york" AND "fire"*'
    assert fts5_match(to_match("Bakıda seçki")) == '"bakida"* AND "secki"*'
    assert fts5_match(to_match('x" OR 1=1; DROP')) == '"x" AND "or" AND "1" AND "drop"*'
    with pytest.raises(EmptyQuery):
        to_match('"" ... !!')


def test_search_words_become_a_tsquery_with_every_word_quoted() -> None:
    assert tsquery(to_match('"New York" fire')) == "('new' <-> 'york') & 'fire':*"
    assert tsquery(to_match("Bakıda seçki")) == "'bakida':* & 'secki':*"
    assert tsquery(to_match("a:* & b | !c")) == "'a' & 'b' & 'c'"
    # Words are letters and digits, but the quoting holds for any text a term could carry.
    phrase = Match((Term(("it's", "a" + "\\" + "b"), prefix=True),))
    assert tsquery(phrase) == "('it''s' <-> 'a" + "\\" * 2 + "b':*)"


BOILERPLATE_ARTICLE = """Photo: Getty Images
A strong storm hit the coast of Azerbaijan on Monday, cutting power to thousands of homes in Baku.
Subscribe to our Telegram channel for the latest news.
Rescue teams worked through the night to restore power to the homes in Baku and nearby towns.
Read also: Last year's flood in review
The storm is expected to move east on Tuesday, the weather service said in a statement.
Officials said schools in Baku would stay closed until the power is restored to the homes.
"""


def test_summary_drops_boilerplate_and_keeps_two_to_four_real_sentences() -> None:
    summary = summarize(BOILERPLATE_ARTICLE, title="Storm cuts power in Baku")
    text = " ".join(summary.sentences)
    assert 2 <= len(summary.sentences) <= 4
    assert "Telegram" not in text and "Getty" not in text and "Read also" not in text
    assert summary.sentences[0].startswith("A strong storm hit the coast")
    assert summary.lang == "en"


def test_summary_leaves_out_a_sentence_that_repeats_a_chosen_one() -> None:
    text = (
        "The central bank raised its main interest rate to 9 percent on Friday.\n"
        "On Friday the central bank raised its main interest rate to 9 percent.\n"
        "Analysts had expected the bank to keep the rate unchanged this month.\n"
        "The decision surprised markets and the currency rose against the dollar."
    )
    summary = summarize(text, title="Central bank raises interest rate", sentences=3)
    assert len([s for s in summary.sentences if "interest rate to 9 percent" in s]) == 1


def test_cyrillic_summary_of_a_very_long_article_stays_within_budget() -> None:
    sentence = (
        "Правительство Азербайджана объявило о новой программе поддержки малого бизнеса в регионах страны"
    )
    text = "\n".join(f"{sentence} номер {i}, " + "и " * 80 + "это важно." for i in range(40))
    summary = summarize(text, title="Программа поддержки бизнеса", sentences=4, budget=2400)
    assert 1 <= len(summary.sentences) <= 4
    assert sum(len(s) + 1 for s in summary.sentences) <= 2400 + 1


def test_a_quoted_statement_of_several_sentences_stays_one_sentence() -> None:
    assert split_sentences("«Мы победим. Это точно», — сказал он. Потом он ушёл.", "ru") == [
        "«Мы победим. Это точно», — сказал он.",
        "Потом он ушёл.",
    ]
    assert split_sentences('Bakan "Hedefe ulaştık. Devam edeceğiz" dedi. Toplantı sona erdi.', "tr") == [
        'Bakan "Hedefe ulaştık. Devam edeceğiz" dedi.',
        "Toplantı sona erdi.",
    ]
    never_closed = "«Цитата без конца. " + "Ещё одно предложение. " * 40
    assert len(split_sentences(never_closed, "ru")) > 10  # splitting resumes after a while
