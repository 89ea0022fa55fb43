"""The search index kept in step with articles, search ranking, and related reads."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from bot.items import FeedItem
from bot.reading.query import EmptyQuery, to_match
from bot.reading.related import related_reads
from bot.storage import articles, search, sources
from bot.storage.interface import Database

NOW = time.time()


@pytest.fixture
async def db(db: Database) -> Database:
    """The conftest database on each back end, with two configured sources."""
    database = db
    await sources.sync_configured(
        database,
        sources=[
            {"id": s, "name": s.title(), "url": f"https://{s}.example/rss", "kind": "feed", "interval": 60}
            for s in ("one", "two")
        ],
        now=NOW,
    )
    return database


async def _store(
    db: Database,
    n: int,
    title: str,
    lead: str = "",
    *,
    source: str = "one",
    category: str | None = None,
    age_days: float = 0.0,
) -> int:
    item = FeedItem(
        guid=f"g{n}",
        url=f"https://{source}.example/news/{n}",
        title=title,
        lead=lead,
        category=category,
        published=datetime.now(UTC) - timedelta(days=age_days),
    )
    result = await articles.store_items(
        db, source_id=source, items=[item], default_category=None, breaking=False, push=False, now=NOW
    )
    return result.new[0]


async def _found(db: Database, words: str) -> list[int]:
    return [h.article_id for h in await search.search(db, match=to_match(words), limit=20)]


async def test_stored_article_is_searchable_in_the_same_transaction_and_pruning_removes_it(
    db: Database,
) -> None:
    first = await _store(db, 1, "Storm hits Bakı", "Power cut in the capital", age_days=100)
    await _store(db, 2, "Football final tonight", "Fans gather", age_days=100)
    assert await _found(db, "storm") == [first]
    assert await articles.prune(db, older_than=NOW + 1) == 2
    assert await _found(db, "storm") == []
    assert await db.scalar("SELECT count(*) FROM article_search") == 0


async def test_removing_a_source_removes_its_articles_from_the_index(db: Database) -> None:
    await _store(db, 1, "Parliament passes budget", source="two")
    assert await _found(db, "budget")
    await sources.remove_source(db, source_id="two")
    assert await _found(db, "budget") == []


async def test_changed_title_is_reindexed(db: Database) -> None:
    article_id = await _store(db, 1, "Early report of a fire")
    item = FeedItem(guid="g1", url="https://one.example/news/1", title="Warehouse blaze contained", lead="")
    await articles.store_items(
        db, source_id="one", items=[item], default_category=None, breaking=False, push=False, now=NOW
    )
    assert await _found(db, "warehouse") == [article_id]
    assert await _found(db, '"early report"') == []


async def test_turkic_letters_and_case_do_not_break_matching(db: Database) -> None:
    az = await _store(db, 1, "Şuşada Əliyevin çıxışı", "İlham Əliyev Şuşa şəhərində çıxış edib")
    tr = await _store(db, 2, "İSTANBUL'DA BÜYÜK YANGIN", "Istanbul'da dün gece yangın çıktı")
    assert await _found(db, "susa") == [az]
    assert await _found(db, "ŞUŞA") == [az]
    assert await _found(db, "Əliyev") == [az]
    assert await _found(db, "istanbul yangın") == [tr]
    assert await _found(db, "ıstanbul YANGIN") == [tr]


async def test_search_works_in_cyrillic_with_quoted_phrases_and_inflections(db: Database) -> None:
    one = await _store(db, 1, "Выборы в парламент назначены на осень", "Центризбирком объявил дату выборов")
    await _store(db, 2, "Парламент принял бюджет", "Депутаты проголосовали")
    assert await _found(db, "выборы") == [one]
    assert await _found(db, "выборах") == []  # a prefix of the query, not of the stored word
    assert await _found(db, "выбор") == [one]
    assert await _found(db, '"в парламент"') == [one]


async def test_search_ranks_title_matches_first_and_newer_breaks_ties(db: Database) -> None:
    for n in range(10, 16):  # BM25 needs a collection in which "harbour" is not everywhere
        await _store(db, n, f"Unrelated story {n}", "Nothing about ships")
    older = await _store(db, 1, "Harbour reopens", "Ships return", age_days=3)
    newer = await _store(db, 2, "Harbour reopens", "Ships return", age_days=1)
    body_only = await _store(
        db, 3, "Ships return to port", "The harbour is open again after repairs to the old piers"
    )
    assert await _found(db, "harbour") == [newer, older, body_only]


async def test_related_lists_read_also_first_then_similar_without_itself_or_the_same_story(
    db: Database,
) -> None:
    base = await _store(
        db, 1, "Central bank raises interest rate to 9 percent", "Inflation worries", category="Economy"
    )
    same_story = await _store(
        db,
        2,
        "Central bank raises interest rate to 9 percent",
        "From another feed",
        source="two",
        category="Economy",
    )
    similar = await _store(
        db, 3, "Interest rate rise hits mortgage holders", "Banks follow the central bank", category="Economy"
    )
    other_topic = await _store(
        db, 4, "Interest in chess grows among pupils", "Schools add chess clubs", category="Sport"
    )
    linked = await _store(db, 5, "Football results of the week", "Scores", category="Sport")
    await articles.store_page(
        db,
        article_id=base,
        page=articles.PageFacts(
            body="The central bank raised the interest rate to 9 percent to fight inflation.",
            read_also=(
                ("Results of the week", "https://one.example/news/5"),
                ("Elsewhere", "https://else.example/a"),
            ),
        ),
        now=NOW,
    )
    reads = await related_reads(db, article_id=base, limit=5)
    assert [r.url for r in reads[:2]] == ["https://one.example/news/5", "https://else.example/a"]
    assert reads[0].article is not None and reads[0].article.id == linked and reads[0].from_page
    stored = [r.article.id for r in reads[2:] if r.article is not None]
    assert stored[0] == similar
    assert base not in stored and same_story not in stored
    assert other_topic not in stored[:1]


async def test_unknown_article_has_no_related_reads_and_is_not_found(db: Database) -> None:
    assert await related_reads(db, article_id=424242) == []
    assert await search.find_article(db, ref="424242") is None
    assert await search.find_article(db, ref="not-an-id") is None


async def test_articles_stored_before_the_index_are_indexed_once(db: Database) -> None:
    article_id = await _store(db, 1, "Volcano erupts in Iceland")
    async with db.transaction() as conn:
        await conn.execute("DELETE FROM article_search")
    assert await _found(db, "volcano") == []
    assert await search.index_missing(db) == 1
    assert await search.index_missing(db) == 0
    assert await _found(db, "volcano") == [article_id]


async def test_an_article_is_found_by_its_link_with_tracking_another_scheme_or_a_slash(db: Database) -> None:
    article_id = await _store(db, 1, "Harbour reopens")
    for link in (
        "https://one.example/news/1",
        "https://one.example/news/1?utm_source=telegram",
        "http://one.example/news/1/",
    ):
        found = await search.find_article(db, ref=link)
        assert found is not None and found.id == article_id, link
    assert await search.find_article(db, ref="https://one.example/news/2") is None


def _record(
    n: int, title: str, lead: str, body: str = "", *, category: str | None = None
) -> search.ImportRecord:
    return search.ImportRecord(
        guid=f"imp{n}",
        url=f"https://imported.example/{n}",
        title=title,
        lead=lead,
        body=body,
        category=category,
        published=NOW - n * 60,
        summary="",
        lang="en",
    )


@pytest.fixture
async def imported(db: Database) -> dict[str, int]:
    """Imported articles (stored and indexed by search.import_batch, on either back end)."""
    records = [
        _record(1, "Harbour reopens after the storm", "Ships return to the port of Baku"),
        _record(2, "Covid-19 cases fall", "Hospitals report 3.5 percent fewer admissions"),
        _record(3, "Выборы в парламент назначены", "Центризбирком объявил дату выборов"),
        _record(4, "İstanbul'da büyük yangın", "Dün gece yangın çıktı"),
        *(_record(10 + n, f"Unrelated story {n}", "Nothing about ships") for n in range(6)),
    ]
    ids = await search.import_batch(db, records=records, now=NOW)
    return {r.guid: i for r, i in zip(records, ids, strict=True)}


async def test_imported_articles_are_found_by_words_prefixes_phrases_and_folded_letters(
    db: Database, imported: dict[str, int]
) -> None:
    assert await _found(db, "harbour") == [imported["imp1"]]
    assert await _found(db, "harb") == [imported["imp1"]]  # a long word matches as a prefix
    assert await _found(db, '"the storm"') == [imported["imp1"]]
    assert await _found(db, '"storm the"') == []
    assert await _found(db, "covid 19") == [imported["imp2"]]
    assert await _found(db, "3 5 percent") == [imported["imp2"]]
    assert await _found(db, "выборы парламент") == [imported["imp3"]]
    assert await _found(db, "ISTANBUL yangin") == [imported["imp4"]]
    assert await _found(db, "harbour volcano") == []
    assert len(await _found(db, "ships")) == 7


@pytest.mark.parametrize(
    "words",
    [
        "'harbour'",
        "harbour:*",
        "harbour & storm",
        "harbour | !storm",
        "!(harbour)",
        "harbour) & (",
        "\\harbour\\",
        "'\\''",
        '"harbour',
        "it's \"the storm",
        "<-> <2> :A :* & | !",
        "harbour " + "x" * 5000,
        "harbour " * 500,
        "NEAR(harbour storm) AND OR NOT harbour^ -storm +storm title:harbour {title}: harbour",
    ],
)
async def test_hostile_query_text_gives_results_or_none_never_an_error(
    db: Database, imported: dict[str, int], words: str
) -> None:
    try:
        found = await _found(db, words)
    except EmptyQuery:  # nothing to search for: the reader is told so
        found = []
    assert set(found) <= {imported["imp1"]}


async def test_related_reads_and_document_counts_on_imported_articles(db: Database) -> None:
    records = [
        _record(1, "Central bank raises interest rate", "Inflation worries traders", category="Economy"),
        _record(
            2, "Interest rate rise hits mortgage holders", "Banks follow the central bank", category="Economy"
        ),
        _record(3, "Chess clubs open in schools", "Pupils learn chess", category="Sport"),
        _record(4, "Mortgage rates climb again", "Central bank policy bites", category="Economy"),
        *(_record(10 + n, f"Weather report {n}", "Sunny spells and showers") for n in range(6)),
    ]
    ids = await search.import_batch(db, records=records, now=NOW)
    total, counts = await search.document_counts(db, terms=["central", "chess", "weather", "nowhere"])
    assert total == len(records)
    assert counts.get("central") == 3 and counts.get("chess") == 1 and counts.get("weather") == 6
    assert counts.get("nowhere", 0) == 0
    reads = await related_reads(db, article_id=ids[0], limit=3)
    stored = [r.article.id for r in reads if r.article is not None]
    assert stored[:2] and set(stored[:2]) <= {ids[1], ids[3]}
    assert ids[2] not in stored
