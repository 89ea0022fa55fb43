"""The reading subcommands: summarize, extract, import, related and search."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bot.cli import main

ARTICLES = [
    {
        "id": "e1",
        "title": "Baku hosts energy forum",
        "text": "Baku hosted an energy forum on Monday. "
        "Ministers from ten countries discussed gas exports and pipelines.",
        "category": "Economy",
    },
    {
        "id": "e2",
        "title": "Gas exports through the pipeline rise",
        "text": "Gas exports through the pipeline rose in May, ministers said at the energy forum.",
        "category": "Economy",
    },
    {"id": "s1", "title": "Qarabağ wins the league", "text": "Qarabağ won the league after a 3-1 win."},
    {"id": "r1", "title": "Выборы в парламент", "text": "Центризбирком объявил дату выборов в парламент."},
]


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("NEWSBOT_DB", str(path))
    monkeypatch.delenv("NEWSBOT_CONFIG", raising=False)
    return path


def _import(tmp_path: Path, lines: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    source = tmp_path / "articles.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["import", str(source)]) == 0
    return capsys.readouterr().out


def test_summarize_reads_standard_input_and_prints_one_sentence_a_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        "Subscribe to our Telegram channel.\n"
        "Prezident İlham Əliyev Bakıda yeni məktəbin açılışında iştirak edib. "
        "Məktəbdə 1200 şagird təhsil alacaq. Tədbirdə nazirlər də iştirak ediblər. "
        "Məktəbin tikintisi iki il çəkib."
    )
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    assert main(["summarize", "--sentences", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0] == "Prezident İlham Əliyev Bakıda yeni məktəbin açılışında iştirak edib."
    assert not any("Telegram" in line for line in lines)


def test_summarize_refuses_a_missing_file_with_a_clear_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summarize", "/no/such/file.txt"]) == 1
    assert "cannot read /no/such/file.txt" in capsys.readouterr().err


def test_import_then_related_and_search_print_json_with_file_ids(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [json.dumps(a, ensure_ascii=False) for a in ARTICLES] + ["not json", '{"title": "no id"}']
    out = _import(tmp_path, lines, capsys)
    assert "imported 4 articles, skipped 2 lines" in out

    assert main(["related", "e1", "--json"]) == 0
    related = json.loads(capsys.readouterr().out)
    assert related[0]["id"] == "e2"
    assert set(related[0]) == {"id", "url", "title", "category", "score"}

    assert main(["search", "QARABAG", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == ["s1"]
    assert main(["search", "выборы", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == ["r1"]


def test_related_of_an_unknown_id_says_so(
    database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _import(tmp_path, [json.dumps(ARTICLES[0])], capsys)
    assert main(["related", "nope"]) == 1
    assert "no article with id nope" in capsys.readouterr().err


def test_extract_prints_the_page_facts_and_a_summary_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "page.html"
    page.write_text(
        """<html><head><title>Storm hits the coast</title>
<meta property="article:published_time" content="2024-04-20T12:30:00+02:00">
<meta property="og:image" content="https://site.example/storm.jpg"></head><body><article>
<h1>Storm hits the coast</h1>
<p>A strong storm reached the coast on Monday night, cutting power to thousands of homes along the
shore and closing the main harbour for the day.</p>
<p>Rescue teams worked through the night and the harbour is expected to reopen on Wednesday once the
damage to the piers has been assessed by engineers.</p></article>
<div class="read-also"><h3>Read also</h3><ul><li><a href="https://site.example/old">Last year's flood in
review</a></li></ul></div></body></html>""",
        encoding="utf-8",
    )
    assert main(["extract", str(page)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["title"] == "Storm hits the coast"
    assert data["published"] == "2024-04-20T12:30:00+02:00"  # the publisher's offset is kept
    assert data["published_utc"].startswith("2024-04-20T10:30:00")
    assert data["lang"] == "en"
    assert data["image"] == "https://site.example/storm.jpg"
    assert data["read_also"] == [{"url": "https://site.example/old", "title": "Last year's flood in review"}]
    assert data["summary"] and data["summary"][0].startswith("A strong storm reached the coast")
    assert {"text", "author", "kicker", "category"} <= set(data)


def test_extract_refuses_a_private_address(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["extract", "http://127.0.0.1:9/page"]) == 1
    assert "cannot fetch" in capsys.readouterr().err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_import_progress_bar_is_drawn_on_a_terminal_only() -> None:
    from bot.reading.commands import _Progress

    terminal, pipe = _Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        progress = _Progress(stream)
        progress(50, 100)
        progress(100, 100)
    assert "importing [###############               ]  50.0%" in terminal.getvalue()
    assert terminal.getvalue().endswith("100.0%\n")
    assert pipe.getvalue() == ""
