"""OPML files: the quirks real exports have, importing them as sources, and the round trip."""

from __future__ import annotations

import html
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from bot.news.fetcher import Fetcher
from bot.news.opml import MAX_OUTLINES, OpmlError, parse_opml, render_opml
from bot.news.opml_import import ImportReport, import_opml
from bot.storage import open_database, sources
from bot.storage.interface import Database
from tests.conftest import DatabaseTargets, FeedServer

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "feeds"
UTC = ZoneInfo("UTC")

RSS = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>Found Feed</title>'
    b"<item><title>A story</title><link>https://site.example/a</link><guid>a</guid></item>"
    b"</channel></rss>"
)
PAGES = {
    "/feed.xml": (RSS, "application/rss+xml"),
    "/home": (
        b'<html><head><link rel="alternate" type="application/rss+xml" href="/feed.xml"></head>'
        b"<body>Hello</body></html>",
        "text/html",
    ),
    "/about": (b"<html><body><p>Nothing to read here.</p></body></html>", "text/html"),
}


def _site(request: httpx.Request) -> httpx.Response:
    body, content_type = PAGES.get(request.url.path, (b"missing", "text/plain"))
    return httpx.Response(
        200 if request.url.path in PAGES else 404, content=body, headers={"Content-Type": content_type}
    )


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Fetcher(transport=httpx.MockTransport(_site)) as client:
        yield client


def _opml(body: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?><opml version="2.0"><body>{body}</body></opml>'.encode()


async def _import(db: Database, fetcher: Fetcher, data: bytes) -> ImportReport:
    return await import_opml(db, fetcher, data, now=time.time(), tz=UTC)


def test_xmlurl_is_read_in_any_casing() -> None:
    doc = parse_opml(
        _opml(
            '<outline text="a" xmlUrl="https://a.example/rss"/>'
            '<outline text="b" xmlurl="https://b.example/rss"/>'
            '<outline text="c" XMLURL="https://c.example/rss"/>'
        )
    )
    assert [(e.name, e.url, e.kind) for e in doc.entries] == [
        ("a", "https://a.example/rss", "feed"),
        ("b", "https://b.example/rss", "feed"),
        ("c", "https://c.example/rss", "feed"),
    ]


def test_text_is_the_name_and_title_stands_in_when_text_is_missing() -> None:
    doc = parse_opml(
        _opml(
            '<outline text="Shown" title="Other" xmlUrl="https://a.example/rss"/>'
            '<outline title="Only title" xmlUrl="https://b.example/rss"/>'
            '<outline text="" title="Empty text" xmlUrl="https://c.example/rss"/>'
        )
    )
    assert [e.name for e in doc.entries] == ["Shown", "Only title", "Empty text"]


def test_html_entities_in_titles_are_decoded_escaped_once_twice_or_bare() -> None:
    doc = parse_opml(
        _opml(
            '<outline text="Tom &amp; Jerry&#39;s" xmlUrl="https://a.example/rss"/>'
            '<outline text="Caf&amp;eacute; &amp;amp; Bar" xmlUrl="https://b.example/rss"/>'
            '<outline text="Caf&eacute; &mdash; Le Monde" xmlUrl="https://c.example/rss"/>'
        )
    )
    assert [e.name for e in doc.entries] == ["Tom & Jerry's", "Café & Bar", "Café — Le Monde"]


def test_declared_encodings_and_byte_order_marks_are_honoured() -> None:
    body = '<opml version="2.0"><body><outline text="Новости" xmlUrl="https://a.example/rss"/></body></opml>'
    cp1251 = ('<?xml version="1.0" encoding="windows-1251"?>' + body).encode("cp1251")
    utf16 = ('<?xml version="1.0" encoding="UTF-16"?>' + body).encode("utf-16")
    bom = b"\xef\xbb\xbf" + body.encode()
    assert [parse_opml(d).entries[0].name for d in (cp1251, utf16, bom)] == ["Новости"] * 3
    with pytest.raises(OpmlError, match="cannot be decoded"):
        parse_opml(b'<?xml version="1.0" encoding="x-nonsense"?><opml/>')


def test_folders_become_the_category_unless_the_feed_names_its_own() -> None:
    doc = parse_opml(
        _opml(
            '<outline text="News"><outline text="World">'
            '<outline text="a" xmlUrl="https://a.example/rss"/>'
            '<outline text="b" xmlUrl="https://b.example/rss" category="/Sport/Football,/Other"/>'
            "</outline>"
            '<outline text="c" xmlUrl="https://c.example/rss"/></outline>'
            '<outline text="d" xmlUrl="https://d.example/rss"/>'
        )
    )
    assert [(e.name, e.category) for e in doc.entries] == [
        ("a", "World"),
        ("b", "Football"),
        ("c", "News"),
        ("d", None),
    ]


def test_htmlurl_is_kept_beside_a_feed_and_alone_it_is_a_page_to_discover() -> None:
    doc = parse_opml(
        _opml(
            '<outline text="a" xmlUrl="https://a.example/rss" htmlUrl="https://a.example/"/>'
            '<outline text="b" htmlUrl="https://b.example/"/>'
            '<outline text="c" type="html" htmlUrl="https://c.example/latest"/>'
        )
    )
    assert [(e.kind, e.url, e.html_url) for e in doc.entries] == [
        ("feed", "https://a.example/rss", "https://a.example/"),
        ("discover", "https://b.example/", None),
        ("html", "https://c.example/latest", None),
    ]


def test_invalid_addresses_are_counted_not_fatal() -> None:
    doc = parse_opml(
        _opml(
            '<outline text="js" xmlUrl="javascript:alert(1)"/>'
            '<outline text="words" xmlUrl="not an address"/>'
            '<outline text="nohost" xmlUrl="http://"/>'
            '<outline text="ok" xmlUrl="feed://ok.example/rss"/>'
        )
    )
    assert [e.url for e in doc.entries] == ["http://ok.example/rss"]
    assert [label for label, _reason in doc.invalid] == ["js", "words", "nohost"]
    assert all(r.reason.startswith("not a web address") for _label, r in doc.invalid)


def test_entity_declarations_are_refused_so_no_entity_bomb_expands() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<opml version="2.0"><body><outline text="&b;" xmlUrl="https://a.example/rss"/></body></opml>'
    )
    with pytest.raises(OpmlError, match="declares entities"):
        parse_opml(bomb)
    external = (
        b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<opml version="2.0"><body><outline text="&x;" xmlUrl="https://a.example/rss"/></body></opml>'
    )
    with pytest.raises(OpmlError, match="declares entities"):
        parse_opml(external)


def test_size_and_outline_caps_and_non_opml_are_refused() -> None:
    with pytest.raises(OpmlError, match="larger than"):
        parse_opml(_opml("<outline text='x'/>" * 200_000))
    many = "".join(
        f'<outline text="{i}" xmlUrl="https://e{i}.example/rss"/>' for i in range(MAX_OUTLINES + 1)
    )
    with pytest.raises(OpmlError, match="more than 5,000 outlines"):
        parse_opml(_opml(many))
    with pytest.raises(OpmlError, match="not OPML"):
        parse_opml(b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>')
    with pytest.raises(OpmlError, match="not well-formed"):
        parse_opml(b"<opml><body><outline text='a'></body>")


async def test_import_adds_reports_duplicates_and_failures(db: Database, fetcher: Fetcher) -> None:
    await sources.add_source(
        db, source_id="old", name="Old", url="https://old.example/rss", kind="feed", interval=300,
        options={}, now=time.time(),
    )  # fmt: skip
    data = _opml(
        '<outline text="Tech"><outline text="Ars &amp; Co" xmlUrl="https://ars.example/rss"'
        ' htmlUrl="https://ars.example/"/></outline>'
        '<outline text="Ars again" xmlUrl="https://ARS.example/rss/"/>'  # same URL key: a duplicate
        '<outline text="Old one" xmlUrl="https://old.example/rss?utm_source=opml"/>'
        '<outline text="Site" htmlUrl="https://site.example/home"/>'  # a page: its feed is found
        '<outline text="Nothing" htmlUrl="https://site.example/about"/>'
        '<outline text="Gone" htmlUrl="https://site.example/missing"/>'
        '<outline text="Bad" xmlUrl="mailto:x@example.com"/>'
    )
    report = await _import(db, fetcher, data)
    assert [(s.id, s.name, s.url, s.kind, s.category, s.origin) for s in report.added] == [
        ("ars-co", "Ars & Co", "https://ars.example/rss", "feed", "Tech", "admin"),
        ("site", "Site", "https://site.example/feed.xml", "feed", None, "admin"),
    ]
    assert report.present == ("Ars again", "Old one")
    failed = dict(report.failed)
    assert set(failed) == {"Nothing", "Gone", "Bad"}
    assert "No feed or list of news found" in failed["Nothing"].reason
    assert "HTTP 404" in failed["Gone"].reason
    # Importing the same file again adds nothing and finds everything already there.
    again = await _import(db, fetcher, data)
    assert again.added == ()
    assert len(again.present) == 4


async def test_a_page_whose_feed_is_already_a_source_counts_as_present(
    db: Database, fetcher: Fetcher
) -> None:
    await sources.add_source(
        db, source_id="found", name="Found", url="https://site.example/feed.xml", kind="feed", interval=300,
        options={}, now=time.time(),
    )  # fmt: skip
    report = await _import(db, fetcher, _opml('<outline text="Home" htmlUrl="https://site.example/home"/>'))
    assert (report.added, report.present, report.failed) == ((), ("Home",), ())


async def test_ids_come_from_titles_and_stay_unique(db: Database, fetcher: Fetcher) -> None:
    data = _opml(
        '<outline text="World News" xmlUrl="https://a.example/rss"/>'
        '<outline text="World news" xmlUrl="https://b.example/rss"/>'
        '<outline text="Новости" xmlUrl="https://www.novosti.example/rss"/>'
    )
    report = await _import(db, fetcher, data)
    assert [s.id for s in report.added] == ["world-news", "world-news-2", "novosti-example"]


async def test_pages_named_in_a_file_are_fetched_as_untrusted(db: Database) -> None:
    async with Fetcher() as real:  # no transport: the private address is refused before any request
        report = await _import(db, real, _opml('<outline text="Local" htmlUrl="http://127.0.0.1:9/"/>'))
    assert report.added == ()
    assert "private or local address" in dict(report.failed)["Local"].reason


async def test_feeds_at_private_addresses_are_reported_not_stored(db: Database, fetcher: Fetcher) -> None:
    report = await _import(
        db,
        fetcher,
        _opml(
            '<outline text="Metadata" xmlUrl="http://169.254.169.254/latest/meta-data"/>'
            '<outline text="Loopback" xmlUrl="http://localhost:9090/metrics"/>'
            '<outline text="Fine" xmlUrl="https://fine.example/rss"/>'
        ),
    )
    assert [s.url for s in report.added] == ["https://fine.example/rss"]
    failed = dict(report.failed)
    assert "private or local address" in failed["Metadata"].reason
    assert "private or local address" in failed["Loopback"].reason
    assert [s.id for s in await sources.list_sources(db)] == [report.added[0].id]


async def test_one_page_that_breaks_the_reader_fails_alone(
    db: Database, fetcher: Fetcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.news import opml_import

    real = opml_import.find_source

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        if "broken" in str(args) + str(kwargs):
            raise UnicodeError("a parser bug on this page")
        return await real(*args, **kwargs)

    monkeypatch.setattr(opml_import, "find_source", flaky)
    report = await _import(
        db,
        fetcher,
        _opml(
            '<outline text="Broken" htmlUrl="https://site.example/broken"/>'
            '<outline text="Feed" xmlUrl="https://fine.example/rss"/>'
        ),
    )
    assert [s.url for s in report.added] == ["https://fine.example/rss"]
    assert "could not be read" in dict(report.failed)["Broken"].reason


async def test_export_then_import_into_an_empty_database_gives_the_same_sources(
    db: Database, fetcher: Fetcher, db_targets: DatabaseTargets
) -> None:
    rows = [
        ("a", 'Quotes "and" <tags> & more', "https://a.example/rss?x=1&y=2", "feed", "World & Co"),
        ("b", "Ticker", "https://b.example/latest", "html", "World & Co"),
        ("c", "Café", "https://c.example/feed", "feed", None),
    ]
    for source_id, name, url, kind, category in rows:
        await sources.add_source(
            db, source_id=source_id, name=name, url=url, kind=kind, interval=300, options={},
            now=time.time(), category=category,
        )  # fmt: skip
    exported = render_opml(await sources.list_sources(db))
    empty = await open_database(await db_targets())
    try:
        report = await _import(empty, fetcher, exported)
        assert report.failed == () and report.present == ()
        again = {(s.name, s.url, s.kind, s.category) for s in await sources.list_sources(empty)}
    finally:
        await empty.close()
    assert again == {(name, url, kind, category) for _id, name, url, kind, category in rows}


def _corpus_feeds() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(
        p for p in CORPUS.rglob("*") if p.is_file() and p.suffix in {".xml", ".rss", ".atom", ".rdf"}
    )


@pytest.mark.skipif(not _corpus_feeds(), reason="the shared corpus is absent")
async def test_round_trip_on_the_corpus_feeds(
    db: Database, feed_server: FeedServer, db_targets: DatabaseTargets
) -> None:
    """Each corpus feed served by a local site and named in an OPML file by its address alone.

    The import fetches every one (the feeds' own titles become the names); its export, imported
    into an empty database, gives the same sources.
    """
    outlines: dict[str, list[str]] = {}
    for path in _corpus_feeds():
        served = "/" + path.relative_to(CORPUS).as_posix()
        feed_server.set(served, path.read_bytes(), content_type="application/xml")
        outlines.setdefault(path.relative_to(CORPUS).parts[0], []).append(
            f'<outline htmlUrl="{html.escape(feed_server.url(served))}"/>'
        )
    folders = "".join(
        f'<outline text="{name}">{"".join(items)}</outline>' for name, items in outlines.items()
    )
    total = sum(len(items) for items in outlines.values())
    async with Fetcher(trusted_hosts=[feed_server.base_url]) as local:  # the local site only
        report = await _import(db, local, _opml(folders))
        assert len(report.added) + len(report.present) + len(report.failed) == total
        assert len(report.added) > total // 2, report.failed[:5]
        # What fails is what holds nothing to poll (empty or unrecognised files), said per file.
        assert all(r.reason.startswith("No feed or list of news found") for _label, r in report.failed)
        first = {(s.name, s.url, s.kind, s.category) for s in await sources.list_sources(db)}
        exported = render_opml(await sources.list_sources(db))
        empty = await open_database(await db_targets())
        try:
            again = await _import(empty, local, exported)
            second = {(s.name, s.url, s.kind, s.category) for s in await sources.list_sources(empty)}
        finally:
            await empty.close()
    assert again.failed == () and again.present == ()
    assert second == first


def _cli(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PTB_TIMEDELTA": "1", "NEWSBOT_DB": str(db)},
        check=False,
    )


def test_newsbot_opml_import_then_export_to_stdout(tmp_path: Path) -> None:
    file = tmp_path / "feeds.opml"
    file.write_bytes(
        _opml(
            '<outline text="News"><outline text="One &amp; Two" xmlUrl="https://one.example/rss"/></outline>'
            '<outline text="Bad" xmlUrl="ftp://files.example/rss"/>'
        )
    )
    db = tmp_path / "newsbot.db"
    imported = _cli("opml", "import", str(file), db=db)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.splitlines() == [
        "added 1, already present 0, failed 1",
        "added\tone-two\thttps://one.example/rss",
        "failed\tBad\tnot a web address: ftp://files.example/rss",
    ]
    exported = _cli("opml", "export", db=db)
    assert exported.returncode == 0, exported.stderr
    [entry] = parse_opml(exported.stdout.encode()).entries
    assert (entry.name, entry.url, entry.category) == ("One & Two", "https://one.example/rss", "News")
    written = tmp_path / "x.opml"
    assert _cli("opml", "export", str(written), db=db).returncode == 0
    assert [e.url for e in parse_opml(written.read_bytes()).entries] == ["https://one.example/rss"]


def test_newsbot_opml_import_refuses_what_is_not_opml_in_one_line(tmp_path: Path) -> None:
    file = tmp_path / "feed.xml"
    file.write_bytes(b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>')
    result = _cli("opml", "import", str(file), db=tmp_path / "newsbot.db")
    assert result.returncode == 2
    assert result.stderr == f"newsbot: {file}: this is not OPML (its root element is <rss>)\n"
    missing = _cli("opml", "import", str(tmp_path / "nope.opml"), db=tmp_path / "newsbot.db")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
