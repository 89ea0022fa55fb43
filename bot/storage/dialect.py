"""The one place where SQLite and PostgreSQL differ: each back end's ``Dialect``.

The storage modules write their SQL once, in the common subset of both (``?`` and ``:name``
placeholders, ``ON CONFLICT``, ``RETURNING``, ``COUNT(*) FILTER``, ``CAST(? AS BIGINT)``...). A
statement or fragment that cannot be common is a field here, set once per back end, and read as
``db.dialect.<field>``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.paths import MIGRATIONS
from bot.storage.fulltext import Match, fts5_match, tsquery


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    # This back end's migration files, NNNN_name.sql, applied in order.
    migrations: Path
    # The ledger of applied migrations, made before the first one runs.
    create_ledger: str
    # A list passed as one parameter (a JSON array in a text value), as a subquery of its values:
    # "WHERE id IN " + dialect.ints(":ids"). Build such statements once per dialect (functools.cache).
    int_list: str
    text_list: str
    # Full-text search over article_search. A parsed query as this back end's query text:
    render_match: Callable[[Match], str]
    # The condition that a row matches the query text bound to {0}.
    fts_where: str
    # A row's score for the query text bound to {0}, lower is better, the columns weighed by
    # {1}, {2}, {3} (title, lead, body; the largest is 1).
    fts_score: str
    # Rows (term, doc): in how many indexed articles each term of the JSON array bound to {0} occurs.
    term_counts: str
    # The database's own time, in seconds since the epoch: leases are measured on one clock, the
    # server's, so workers on machines whose clocks disagree never both think they hold one.
    clock: str
    # Statements folding the counter rows of closed connections into slot 0 (migration 0014).
    fold_slots: tuple[str, ...]
    # The whole hour (unix seconds // 3600) of a time in seconds: "{}" is the time's expression.
    # SQLite's CAST truncates; PostgreSQL's rounds, so it floors first.
    hour_of: str
    # Names outbox_done for compaction's pick; SQLite's planner would otherwise start at outbox_due.
    outbox_done_index: str
    # The count of free pages, given back with incremental_vacuum; None where the server reuses
    # its own free space (PostgreSQL's autovacuum).
    free_pages: str | None
    # Taken before a statement inserts outbox rows for chats it reads, where a chat's delete could
    # otherwise run beside it (PostgreSQL's outbox has no foreign keys: its migration 0015); None
    # where writers take turns anyway.
    outbox_writer_lock: str | None
    # The same lock taken exclusively, by a move of a chat's rows to its new id (a group that became
    # a supergroup): a fan-out slice queuing the old id commits first, and its rows move too.
    chat_move_lock: str | None
    # Appended to a read of the article whose outbox rows a statement is about to insert: the
    # row stays as read (not taken down, not deleted) until the transaction ends, as PostgreSQL's
    # foreign key used to hold it for each row. Empty where writers take turns anyway.
    article_share_lock: str

    def ints(self, param: str) -> str:
        """``(SELECT value ...)`` over the integers of the JSON array bound to ``param``."""
        return self.int_list.format(param)

    def texts(self, param: str) -> str:
        """``(SELECT value ...)`` over the strings of the JSON array bound to ``param``."""
        return self.text_list.format(param)

    def matches(self, param: str) -> str:
        """The condition that an article_search row matches the query text bound to ``param``."""
        return self.fts_where.format(param)

    def score(self, param: str, weights: tuple[float, float, float]) -> str:
        """An article_search row's score for the query bound to ``param``: lower is better."""
        top = max(weights)
        return self.fts_score.format(param, *(f"{w / top:.4f}" for w in weights))


SQLITE = Dialect(
    name="sqlite",
    migrations=MIGRATIONS,
    create_ledger="""
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at REAL NOT NULL
)
""",
    int_list="(SELECT value FROM json_each({}))",
    text_list="(SELECT value FROM json_each({}))",
    clock="SELECT CAST((julianday('now') - 2440587.5) * 86400.0 AS REAL)",
    fold_slots=(),  # one writer: every counter lives in slot 0
    render_match=fts5_match,
    fts_where="article_search MATCH {0}",
    # BM25 as FTS5 gives it is negative, the best match lowest; only the weights' ratios count.
    fts_score="bm25(article_search, {1}, {2}, {3})",
    term_counts="SELECT term, doc FROM article_search_terms WHERE term IN (SELECT value FROM json_each({0}))",
    hour_of="CAST({} / 3600 AS INTEGER)",
    outbox_done_index="INDEXED BY outbox_done",
    free_pages="PRAGMA freelist_count",
    outbox_writer_lock=None,
    chat_move_lock=None,
    article_share_lock="",
)

POSTGRESQL = Dialect(
    name="postgresql",
    migrations=MIGRATIONS / "postgresql",
    create_ledger="""
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    BIGINT PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at DOUBLE PRECISION NOT NULL
)
""",
    # jsonb_array_elements_text gives text; ids compare with BIGINT columns.
    int_list=(
        "(SELECT CAST(value AS BIGINT) AS value"
        " FROM jsonb_array_elements_text(CAST({} AS jsonb)) AS value)"
    ),
    text_list="(SELECT value FROM jsonb_array_elements_text(CAST({} AS jsonb)) AS value)",
    clock="SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)",
    fold_slots=(
        """
WITH gone AS (
    DELETE FROM outbox_counts WHERE slot <> 0 AND slot NOT IN (SELECT pid FROM pg_stat_activity)
    RETURNING state, n
)
INSERT INTO outbox_counts AS c (state, slot, n) SELECT state, 0, SUM(n) FROM gone GROUP BY state
ON CONFLICT (state, slot) DO UPDATE SET n = c.n + EXCLUDED.n
""",
        """
WITH gone AS (
    DELETE FROM outcome_hours WHERE slot <> 0 AND slot NOT IN (SELECT pid FROM pg_stat_activity)
    RETURNING hour, sent, failed, blocked, stale
)
INSERT INTO outcome_hours AS h (hour, slot, sent, failed, blocked, stale)
SELECT hour, 0, SUM(sent), SUM(failed), SUM(blocked), SUM(stale) FROM gone GROUP BY hour
ON CONFLICT (hour, slot) DO UPDATE SET
    sent = h.sent + EXCLUDED.sent, failed = h.failed + EXCLUDED.failed,
    blocked = h.blocked + EXCLUDED.blocked, stale = h.stale + EXCLUDED.stale
""",
    ),
    render_match=tsquery,
    # 'simple': the indexed text is folded already and its words split by spaces (search_index).
    fts_where="doc @@ to_tsquery('simple', {0})",
    # Weighed frequency of the query's words (ts_rank: 0.769 P@5 on AG News, ts_rank_cd 0.765),
    # divided by 1 + log(length) as BM25 damps long documents; negated so that,
    # as with BM25, the best match is lowest. The weights array runs D, C, B, A (unused, body,
    # lead, title).
    fts_score="(-ts_rank('{{0, {3}, {2}, {1}}}', doc, to_tsquery('simple', {0}), 1))",
    # Counted from the GIN index (no vocabulary table); plainto_tsquery reads each term as text.
    term_counts=(
        "SELECT value AS term,"
        " (SELECT count(*) FROM article_search WHERE doc @@ plainto_tsquery('simple', value)) AS doc"
        " FROM jsonb_array_elements_text(CAST({0} AS jsonb)) AS value"
    ),
    hour_of="CAST(FLOOR({} / 3600) AS BIGINT)",
    outbox_done_index="",
    free_pages=None,
    # Shared: writers run side by side; a chat's delete takes the same key exclusively (0x6e626f78).
    outbox_writer_lock="SELECT pg_advisory_xact_lock_shared(1851944824)",
    chat_move_lock="SELECT pg_advisory_xact_lock(1851944824)",
    article_share_lock=" FOR SHARE",
)
