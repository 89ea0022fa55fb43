"""Writing the full-text index and summaries, inside the transactions that write articles."""

from __future__ import annotations

from bot.folding import folded_tokens, search_fold
from bot.storage.interface import Connection

# Bodies are indexed up to this many characters: the rest adds size and little recall.
INDEX_BODY_CHARS = 20_000

SELECT_INDEXABLE = "SELECT title, lead, body, kicker FROM articles WHERE id = ?"
DELETE_INDEX_ROW = "DELETE FROM article_search WHERE rowid = ?"
INSERT_INDEX_ROW = "INSERT INTO article_search (rowid, title, lead, body) VALUES (?, ?, ?, ?)"
SET_SUMMARY = "UPDATE articles SET summary = :summary, lang = COALESCE(:lang, lang) WHERE id = :id"


def _indexed(text: str) -> str:
    # The words as search_tokens finds them, one space apart: both back ends' tokenizers then see
    # the same words as a query does (PostgreSQL's parser would read "covid-19" as "covid" and
    # "-19", and "3.5" as one number).
    return " ".join(folded_tokens(search_fold(text)))


def index_values(title: str, lead: str, body: str | None, kicker: str | None) -> tuple[str, str, str]:
    heading = f"{kicker} {title}" if kicker else title
    return _indexed(heading), _indexed(lead), _indexed((body or "")[:INDEX_BODY_CHARS])


async def reindex(conn: Connection, *, article_id: int) -> None:
    """Write an article's index row from what the articles table holds now (inside a transaction)."""
    async with conn.execute(SELECT_INDEXABLE, (article_id,)) as cur:
        row = await cur.fetchone()
    await conn.execute(DELETE_INDEX_ROW, (article_id,))
    if row is not None:
        values = index_values(row["title"], row["lead"], row["body"], row["kicker"])
        await conn.execute(INSERT_INDEX_ROW, (article_id, *values))


async def index_new(
    conn: Connection, *, article_id: int, title: str, lead: str, kicker: str | None
) -> None:
    """Write the index row of an article inserted in this transaction, from the values just stored.

    The same row reindex would write (a new article has no body yet), without reading it back.
    """
    await conn.execute(DELETE_INDEX_ROW, (article_id,))
    await conn.execute(INSERT_INDEX_ROW, (article_id, *index_values(title, lead, None, kicker)))


async def set_summary(
    conn: Connection, *, article_id: int, summary: str | None, lang: str | None
) -> None:
    """Keep an article's summary and language (inside the transaction that stored its text)."""
    await conn.execute(SET_SUMMARY, {"id": article_id, "summary": summary or None, "lang": lang})
