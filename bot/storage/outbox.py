"""The outbox: one row per (article, chat, topic), the single truth of what was delivered.

Fan-out is one set-based INSERT ... SELECT; the dispatcher claims rows (queued -> sending),
sends them, and records each outcome before it claims more. A crash leaves rows in 'sending';
``release_claims`` puts them back in the queue at start-up, so the only messages that can go
out twice are the ones in flight at the moment of the crash.
"""

from __future__ import annotations

import asyncio
import functools
import json
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.models import OutboxStats
from bot.storage.dialect import Dialect
from bot.storage.interface import Connection, Database, Row, dialect_of
from bot.text import keyword_matches

# Keywords are matched in Python (bot.text.keyword_matches) once per distinct keyword (the
# keywords table), never once per subscription, so a word ten thousand readers chose costs what a
# word one reader chose costs; the words the article matched come in as two JSON arrays. What a
# chat wants is then found by index: (kind, value) pairs joined to subscriptions. Exclusions are
# gathered once per article so the million-row join does a hash lookup, not a correlated subquery
# per row. (The INSERT comes first so that sqlite3 reports the rows it added; the SELECT's WHERE
# lets SQLite's parser tell its ON CONFLICT from a join's ON.)
# An article with compacted deliveries was fanned out long ago: it is never queued again.
SELECT_KEYWORDS = "SELECT value, exclude FROM keywords"
FAN_OUT = """
INSERT INTO outbox (article_id, chat_id, thread_id, state, priority, next_attempt_at, created_at)
WITH wanted (kind, value) AS (
    SELECT 'all', '' UNION ALL SELECT 'category', CAST(:category AS TEXT)
    UNION ALL SELECT 'source', CAST(:source AS TEXT)
    UNION ALL SELECT 'keyword', value FROM {wanted} AS k
),
unwanted (kind, value) AS (
    SELECT 'category', CAST(:category AS TEXT) UNION ALL SELECT 'source', CAST(:source AS TEXT)
    UNION ALL SELECT 'keyword', value FROM {unwanted} AS k
)
SELECT {distinct} CAST(:article_id AS BIGINT), s.chat_id, s.thread_id,
       CASE WHEN c.digest_time IS NULL THEN 'queued' ELSE 'digest' END,
       CAST(:priority AS BIGINT), CAST(:now AS DOUBLE PRECISION), CAST(:queued_at AS DOUBLE PRECISION)
FROM wanted AS w
JOIN subscriptions AS s ON s.kind = w.kind AND s.value = w.value AND s.exclude = 0
JOIN chats AS c ON c.id = s.chat_id
WHERE c.status = 'active' AND s.chat_id > :after AND s.chat_id <= :upto
  AND s.chat_id NOT IN (SELECT user_id FROM bans)
  AND NOT EXISTS (SELECT 1 FROM delivery_totals AS t WHERE t.article_id = :article_id)
  AND (s.chat_id, s.thread_id) NOT IN (
      SELECT x.chat_id, x.thread_id FROM unwanted AS u
      JOIN subscriptions AS x ON x.kind = u.kind AND x.value = u.value AND x.exclude = 1
      WHERE x.chat_id > :after AND x.chat_id <= :upto
  )
{on_conflict}
"""
# An article queued before (re-sent after review) may have rows: ON CONFLICT skips those, and a
# chat two subscriptions match. A fresh article has none, and DISTINCT does the second for less:
# ON CONFLICT probes the unique index before each row and confirms after (a fifth of the fan-out's
# time on PostgreSQL).
FAN_OUT_AGAIN = {"distinct": "", "on_conflict": "ON CONFLICT DO NOTHING"}
FAN_OUT_FRESH = {"distinct": "DISTINCT", "on_conflict": ""}
# Fan-out goes a slice of chats (by id) per transaction, so a million readers never hold the one
# writer (SQLite) or a million uncommitted rows (PostgreSQL) for seconds, and sends start after
# the first slice. The first slice runs in the article's own transaction: an audience that fits
# in one is queued with the story, as before. A larger one leaves a fanouts row, its cursor moved
# on in the same transaction as each slice's rows, so a crash resumes where it stopped.
CHAT_IDS = (-(2**63), 2**63 - 1)  # below and above every chat id (groups' are negative)
SLICE_END = (
    "SELECT MAX(id) AS upto, COUNT(*) AS n"
    " FROM (SELECT id FROM chats WHERE id > :after ORDER BY id LIMIT :limit) AS s"
)
REMEMBER_FAN_OUT = """
INSERT INTO fanouts (article_id, priority, category, source, wanted, unwanted, fresh, after_chat, added,
                     created_at)
VALUES (:article_id, :priority, :category, :source, :wanted, :unwanted, :fresh, :after, :added, :now)
ON CONFLICT (article_id) DO NOTHING
"""
# (An article queued again while its first fan-out goes on, a moderator's release of a held story
# that was never queued: the fan-out already under way covers the chats after its cursor.)
# The most urgent first, as the first slices went (priority, then age).
FAN_OUTS = "SELECT article_id FROM fanouts ORDER BY priority DESC, created_at, article_id"
THIS_FAN_OUT = """
SELECT article_id, priority, category, source, wanted, unwanted, fresh, after_chat, added, slices,
       created_at
FROM fanouts WHERE article_id = :article_id
"""
# The slice is taken by moving the cursor first: a second worker on the same slice waits for this
# one's row lock, then finds the cursor gone on and changes nothing.
TAKE_SLICE = """
UPDATE fanouts SET after_chat = :upto, slices = slices + 1
WHERE article_id = :article_id AND after_chat = :after
RETURNING added, slices, created_at
"""
COUNT_SLICE = "UPDATE fanouts SET added = added + :added WHERE article_id = :article_id"
END_FAN_OUT = "DELETE FROM fanouts WHERE article_id = :article_id"
# A broadcast is hidden from its start, so its slices cannot tell a takedown by that: the
# takedown ends its fan-out itself (a story's next slice sees the story hidden and stops).
END_BROADCAST_FAN_OUT = "DELETE FROM fanouts WHERE article_id = :article_id AND source = :source"
FANNING_OUT = "SELECT 1 FROM fanouts WHERE article_id = ?"
# Fan-outs go up the chat ids, and a group Telegram makes a supergroup moves down to -100...: a
# cursor between its two ids has passed the new one and not reached the old, so the move queues
# those stories for the chat itself (its rows at the old id, if any, moved with it).
PASSED_OVER = """
SELECT f.article_id, f.priority, f.category, f.source, f.wanted, f.unwanted, f.created_at
FROM fanouts AS f
WHERE f.after_chat >= :new_id AND f.after_chat < :old_id
"""
COUNT_FAN_OUTS = "SELECT COUNT(*) FROM fanouts"  # a row per story being queued: a handful
# Fan-out counts what it added (there is no INSERT trigger). The slice's own rows are the ones
# made at the fan-out's time: rows of the same chats from before, in any state, are older. A new
# row is queued or waits for a digest, and the digest ones are counted: asked for its queued rows,
# PostgreSQL took outbox_due (partial on 'queued') and read every row the story had so far, since
# a story's first rows are not in the table's statistics yet: a million-reader fan-out spent 8 of
# its 14 s there. No index is partial on 'digest', so the slice's range bounds any plan.
COUNT_DIGEST_SLICE = """
SELECT COUNT(*) FROM outbox
WHERE article_id = :article_id AND chat_id > :after AND chat_id <= :upto
  AND state = 'digest' AND created_at = :queued_at
"""
# Read first by every transaction that queues an article's rows, with the dialect's share lock:
# a takedown (which cancels what is queued) or a delete (whose trigger removes the rows) then
# waits for these rows to be committed, and a slice after a takedown sees it and stops.
HOLD_ARTICLE = "SELECT hidden, source_id FROM articles WHERE id = :article_id{lock}"
# An admin's broadcast: a hidden article of this reserved source (bot.storage.broadcasts), hidden
# so that no reader's list shows it, fanned out a slice at a time like a story, to every chat the
# bot is in (not to subscriptions), channels and banned users aside.
BROADCAST_SOURCE = "_broadcast"
QUEUE_BROADCAST = """
INSERT INTO outbox
    (article_id, chat_id, thread_id, state, priority, next_attempt_at, created_at, kind)
SELECT CAST(:article_id AS BIGINT), id, 0, 'queued', CAST(:priority AS BIGINT),
       CAST(:now AS DOUBLE PRECISION), CAST(:queued_at AS DOUBLE PRECISION), 'broadcast'
FROM chats
WHERE status = 'active' AND type != 'channel' AND id > :after AND id <= :upto
  AND id NOT IN (SELECT user_id FROM bans)
ON CONFLICT DO NOTHING
"""
COUNT_FANNED_OUT = """
UPDATE outbox_counts
SET n = n + CASE state WHEN 'queued' THEN CAST(:queued AS BIGINT)
                       ELSE CAST(:added AS BIGINT) - CAST(:queued AS BIGINT) END
WHERE state IN ('queued', 'digest') AND slot = 0
"""
# Released rows lose their claim's token (0, no claim's): an outcome of that claim arriving late
# never matches the row again, whoever marks it 'sending' next.
RELEASE_CLAIMS = "UPDATE outbox SET state = 'queued', claim = 0 WHERE state = 'sending'"  # outbox_sending
# Dispatch workers share the outbox by shards of chats (abs(chat id) % count); a worker claims only
# the shards it leases, given as a bit mask (count <= MAX_SHARDS fits a BIGINT). One process alone
# passes ALL_SHARDS: one shard, always held. The same arithmetic on both back ends. It ends in
# "<> 0", not "= 1": PostgreSQL guesses that an expression equals a value for 0.5% of rows and
# that it differs for 99.5%. With the first guess, a claim of 2,000 rows of a million-row story
# looked like most of the story, and it read and sorted the story (130-330 ms) instead of taking
# 2,000 steps down outbox_due (2.5 ms); the look for work sorted it too, every second.
IN_SHARDS = "((CAST(:shard_mask AS BIGINT) >> CAST(ABS({chat}) % :shard_count AS INTEGER)) & 1) <> 0"
# A shard taken over from a worker that died: its rows left in 'sending' go back to the queue.
# (The statements below splice in IN_SHARDS, a constant: no value ever enters the SQL text.)
RELEASE_SHARD_CLAIMS = (
    "UPDATE outbox SET state = 'queued', claim = 0 WHERE state = 'sending' AND "  # noqa: S608
    + IN_SHARDS.format(chat="chat_id")
)
# Articles with due rows, found without reading their rows: a skip-scan over the distinct
# article ids of queued rows (few: one per broadcast in progress), then two probes each of the
# outbox_due index at the article's first row in due order. Holds for quiet hours and retries
# not yet due cost nothing here however many there are.
# heads is MATERIALIZED: inlined, PostgreSQL evaluated each article's probe twice (for the join
# and again for the ORDER BY).
ACTIVE_ARTICLES = """
WITH RECURSIVE queued (article_id) AS (
    SELECT MIN(article_id) FROM outbox WHERE state = 'queued'
    UNION ALL
    SELECT (SELECT MIN(o.article_id) FROM outbox AS o
            WHERE o.state = 'queued' AND o.article_id > q.article_id)
    FROM queued AS q WHERE q.article_id IS NOT NULL
),
heads (article_id, head) AS MATERIALIZED (
    SELECT q.article_id,
           (SELECT o.id FROM outbox AS o WHERE o.state = 'queued' AND o.article_id = q.article_id
              AND """ + IN_SHARDS.format(chat="o.chat_id") + """
            ORDER BY o.next_attempt_at, o.id LIMIT 1)
    FROM queued AS q WHERE q.article_id IS NOT NULL
)
SELECT h.article_id, o.priority, h.head AS first_id
FROM heads AS h JOIN outbox AS o ON o.id = h.head
WHERE o.next_attempt_at <= :now
ORDER BY o.priority DESC, h.head
LIMIT :limit
"""  # noqa: S608
# Due rows in the order of the outbox_due index (due time, then id), so a claim reads exactly the
# rows it takes; CROSS JOIN keeps SQLite from starting at chats (the join's condition is in the
# WHERE clause: PostgreSQL takes no ON after CROSS JOIN).
CLAIM_SELECT = """
SELECT o.id, o.article_id, o.chat_id, c.type AS chat_type, o.thread_id, o.attempts, o.created_at,
       o.priority, c.timezone, c.language, c.digest_time, c.quiet_start, c.quiet_end,
       CASE WHEN o.last_error = 'quiet' THEN 1 ELSE 0 END AS held, o.kind,
       CASE WHEN o.silent = 1 OR c.push_silent = 1 THEN 1 ELSE 0 END AS silent,
       c.push_preview AS preview, c.push_photo AS photo, c.push_short AS short
FROM outbox AS o CROSS JOIN chats AS c
WHERE c.id = o.chat_id AND o.state = 'queued' AND o.article_id = :article_id AND o.next_attempt_at <= :now
  AND """ + IN_SHARDS.format(chat="o.chat_id") + """
ORDER BY o.next_attempt_at, o.id
LIMIT :limit
"""
# (The IN term repeats outbox_pending's condition so that SQLite uses that index.)
# Rows held through a chat's quiet hours go out together as one list when the hours end; the
# held rows of every chat in one claim are taken in one statement, at most :limit per chat.
CLAIM_HELD_SELECT = """
SELECT id, article_id, chat_id, chat_type, thread_id, attempts, created_at, priority, timezone, language,
       digest_time, quiet_start, quiet_end, 1 AS held, kind, silent, preview, photo, short
FROM (
    SELECT o.id, o.article_id, o.chat_id, c.type AS chat_type, o.thread_id, o.attempts, o.created_at,
           o.priority, c.timezone, c.language, c.digest_time, c.quiet_start, c.quiet_end, o.kind,
           CASE WHEN o.silent = 1 OR c.push_silent = 1 THEN 1 ELSE 0 END AS silent,
           c.push_preview AS preview, c.push_photo AS photo,
           c.push_short AS short,
           ROW_NUMBER() OVER (PARTITION BY o.chat_id ORDER BY o.id) AS n
    FROM {chat_ids} AS j
    CROSS JOIN outbox AS o
    JOIN chats AS c ON c.id = o.chat_id
    WHERE o.chat_id = j.value AND o.state IN ('queued', 'sending', 'digest') AND o.state = 'queued'
      AND o.last_error = 'quiet' AND o.next_attempt_at <= :now
) AS h
WHERE n <= :limit
ORDER BY chat_id, id
"""
MARK_HELD = """
UPDATE outbox SET state = 'queued', next_attempt_at = ?, last_error = 'quiet'
WHERE id = ? AND claim = ? AND state = 'sending'
"""
DIGEST_CHATS = """
SELECT id, digest_time, timezone, last_digest_at, language, push_silent FROM chats
WHERE status = 'active' AND digest_time IS NOT NULL
"""
# The IN term repeats the partial index's condition so that SQLite uses outbox_pending.
DIGEST_ROWS = """
SELECT id, article_id, thread_id FROM outbox
WHERE chat_id = :chat_id AND state IN ('queued', 'sending', 'digest') AND state = 'digest'
ORDER BY thread_id, id
"""
MARK_DIGESTED = "UPDATE outbox SET state = 'digested', message_id = ?, sent_at = ? WHERE id = ?"
# A claim keeps only the rows still queued when it marks them: on PostgreSQL (READ COMMITTED) the
# SELECT and this UPDATE are two snapshots, and a row another worker took in between (a shard
# handed over mid-claim) is re-checked by the UPDATE and left out, never claimed twice.
CLAIM_MARK = (
    "UPDATE outbox SET state = 'sending', claim = :claim WHERE id IN {ids} AND state = 'queued' RETURNING id"
)
# Outcomes apply only to rows still held by their own claim (its token, migration 0018): one
# re-queued by a shard handover, and since claimed again or sent or failed by another worker, is
# not put back in the queue. A sent message is recorded even on a row re-queued or claimed again
# meanwhile, since it went out: queued again it would go out twice.
MARK_SENT = """
UPDATE outbox SET state = 'sent', message_id = ?, sent_at = ?, attempts = attempts + 1, last_error = NULL
WHERE id = ? AND state IN ('sending', 'queued')
"""
# The rows of a batch of outcomes as they stand, read before the guarded writes above: those
# whose guard no longer holds are counted, since the writes themselves drop them without a word.
OUTCOME_STATES = "SELECT id, state, claim FROM outbox WHERE id IN {ids}"
MARK_RETRY = """
UPDATE outbox SET state = 'queued', attempts = attempts + 1, next_attempt_at = ?, last_error = ?
WHERE id = ? AND claim = ? AND state = 'sending'
"""
MARK_FAILED = """
UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = ?
WHERE id = ? AND claim = ? AND state = 'sending'
"""
# A row handed back without an attempt: the chat's turn had not come, or we are shutting down.
MARK_RELEASED = (
    "UPDATE outbox SET state = 'queued', next_attempt_at = ? WHERE id = ? AND claim = ? AND state = 'sending'"
)
MARK_STALE = (
    "UPDATE outbox SET state = ?, last_error = 'stale' WHERE id = ? AND claim = ? AND state = 'sending'"
)
BLOCK_CHAT = "UPDATE chats SET status = ?, updated_at = ? WHERE id = ? AND status = 'active'"
BLOCK_CHAT_QUEUE = """
UPDATE outbox SET state = 'blocked', last_error = ?
WHERE chat_id = ? AND state IN ('queued', 'sending', 'digest')
"""
# Kept by triggers in the transactions that change the rows (migration 0007): no count at /stats.
COUNT_BY_STATE = "SELECT state, CAST(SUM(n) AS BIGINT) AS n FROM outbox_counts GROUP BY state"  # slots summed
COUNT_CHATS = "SELECT status, n FROM chat_counts"
# Compaction: delivered (or finally failed) rows older than the window become per-article and
# per-hour totals, a small batch per transaction so a send never waits long behind it.
COMPACT_PICK = """
SELECT id FROM outbox {outbox_done_index}
WHERE state IN ('sent', 'digested', 'failed', 'blocked', 'stale') AND COALESCE(sent_at, created_at) < :before
ORDER BY COALESCE(sent_at, created_at)
LIMIT :limit
"""
COMPACT_TOTALS = """
INSERT INTO delivery_totals (article_id, sent, digested, failed, blocked, stale)
SELECT article_id, COUNT(*) FILTER (WHERE state = 'sent'), COUNT(*) FILTER (WHERE state = 'digested'),
       COUNT(*) FILTER (WHERE state = 'failed'), COUNT(*) FILTER (WHERE state = 'blocked'),
       COUNT(*) FILTER (WHERE state = 'stale')
FROM outbox WHERE id IN {ids}
GROUP BY article_id
ON CONFLICT (article_id) DO UPDATE SET
    sent = delivery_totals.sent + excluded.sent, digested = delivery_totals.digested + excluded.digested,
    failed = delivery_totals.failed + excluded.failed, blocked = delivery_totals.blocked + excluded.blocked,
    stale = delivery_totals.stale + excluded.stale
"""
COMPACT_HOURS = """
INSERT INTO delivery_hours (hour, sent, failed, other)
SELECT {hour} AS hour, COUNT(*) FILTER (WHERE state IN ('sent', 'digested')),
       COUNT(*) FILTER (WHERE state = 'failed'), COUNT(*) FILTER (WHERE state IN ('blocked', 'stale'))
FROM outbox WHERE id IN {ids}
GROUP BY hour
ON CONFLICT (hour) DO UPDATE SET
    sent = delivery_hours.sent + excluded.sent, failed = delivery_hours.failed + excluded.failed,
    other = delivery_hours.other + excluded.other
"""
# "state || ''": the ids pick the rows; an index on state would make SQLite scan every sent row.
# (SQLite's usual "+state" does the same, but PostgreSQL has no unary + for text.)
COMPACT_DELETE = """
DELETE FROM outbox
WHERE id IN {ids}
  AND state || '' IN ('sent', 'digested', 'failed', 'blocked', 'stale')
"""
CHECKPOINT_BATCHES = 20  # compaction waits for a checkpoint this often, so its WAL stays small
VACUUM_STEP = 256  # pages (1 MiB at 4 KiB pages) given back per short transaction, at most
VACUUM_SMALLEST = 16
# SQLite only (dialect.free_pages). Run with executescript: sqlite3's execute() steps a pragma
# once, and each step frees one page. A pragma takes no bound parameter: the count is formatted in.
INCREMENTAL_VACUUM = "PRAGMA incremental_vacuum({pages:d})"
# With a target, each step is sized from the last one's time to take about this long: on a loaded
# machine a fixed 250 rows or 256 pages (moving live pages from the end of the file) took 100-400 ms.
STEP_TARGET = 0.008
BATCH_SMALLEST = 10


MAX_SHARDS = 62


@dataclass(frozen=True, slots=True)
class Shards:
    """The outbox shards a dispatcher may claim from: chats with ``abs(id) % count`` in ``held``."""

    count: int
    held: frozenset[int]

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS or any(not 0 <= s < self.count for s in self.held):
            raise ValueError(f"bad shards {sorted(self.held)} of {self.count}")

    def owns(self, chat_id: int) -> bool:
        return abs(chat_id) % self.count in self.held

    @property
    def params(self) -> dict[str, int]:
        return {"shard_mask": sum(1 << s for s in self.held), "shard_count": self.count}


ALL_SHARDS = Shards(1, frozenset({0}))


@dataclass(frozen=True, slots=True)
class Statements:
    """The statements above that take a list parameter or a dialect's fragment, for one back end."""

    fan_out: str
    fan_out_fresh: str
    hold_article: str
    claim_held_select: str
    claim_mark: str
    compact_pick: str
    compact_totals: str
    compact_hours: str
    compact_delete: str
    outcome_states: str


@functools.cache
def statements(dialect: Dialect) -> Statements:
    ids = dialect.ints(":ids")
    lists = {"wanted": dialect.texts(":wanted"), "unwanted": dialect.texts(":unwanted")}
    return Statements(
        fan_out=FAN_OUT.format(**lists, **FAN_OUT_AGAIN),
        fan_out_fresh=FAN_OUT.format(**lists, **FAN_OUT_FRESH),
        hold_article=HOLD_ARTICLE.format(lock=dialect.article_share_lock),
        claim_held_select=CLAIM_HELD_SELECT.format(chat_ids=dialect.ints(":chat_ids")),
        claim_mark=CLAIM_MARK.format(ids=ids),
        compact_pick=COMPACT_PICK.format(outbox_done_index=dialect.outbox_done_index),
        compact_totals=COMPACT_TOTALS.format(ids=ids),
        compact_hours=COMPACT_HOURS.format(
            ids=ids, hour=dialect.hour_of.format("COALESCE(sent_at, created_at)")
        ),
        compact_delete=COMPACT_DELETE.format(ids=ids),
        outcome_states=OUTCOME_STATES.format(ids=ids),
    )


@dataclass(frozen=True, slots=True)
class ClaimedRow:
    id: int
    article_id: int
    chat_id: int
    chat_type: str
    thread_id: int
    attempts: int
    created_at: float
    priority: int
    timezone: str | None = None
    language: str | None = None
    digest_time: str | None = None
    quiet_start: str | None = None
    quiet_end: str | None = None
    held: bool = False  # held through quiet hours; goes out in one list with the chat's others
    kind: str = "push"  # 'channel': a channel post, rendered and paced by bot.channels
    silent: bool = False  # sent with disable_notification (a channel's silent hours, a chat's option)
    # The chat's /settings (bot.models.PushOptions), read with the row so a send costs no query.
    preview: bool = True
    photo: bool = False
    short: bool = False
    claim: int = 0  # the token of the claim that took the row: its outcomes carry it


@dataclass(slots=True)
class Outcomes:
    """Outcomes gathered by the dispatcher, written together in one transaction."""

    # Each names its row by id and, but for a sent one, by the token of the claim that took it.
    sent: list[tuple[int, float, int]]  # (message_id, sent_at, row id)
    retry: list[tuple[float, str, int, int]]  # (next_attempt_at, error, row id, claim)
    failed: list[tuple[str, int, int]]  # (error, row id, claim)
    released: list[tuple[float, int, int]]  # (next_attempt_at, row id, claim)
    stale: list[tuple[str, int, int]]  # (new state: 'stale' or 'digest', row id, claim)
    blocked_chats: list[tuple[str, float, int, str]]  # (status, now, chat id, reason)
    held: list[tuple[float, int, int]] = field(default_factory=list)  # (quiet hours end, row id, claim)

    @classmethod
    def empty(cls) -> Outcomes:
        return cls([], [], [], [], [], [], [])

    def __len__(self) -> int:
        return (
            len(self.sent)
            + len(self.retry)
            + len(self.failed)
            + len(self.released)
            + len(self.stale)
            + len(self.blocked_chats)
            + len(self.held)
        )


FAN_OUT_SLICE = 5_000  # chats per slice: 30-80 ms of the one writer's time (bench/bench_fanout.py)


@dataclass(frozen=True, slots=True)
class FanOutSpec:
    """What one article's fan-out matches, fixed when it starts and kept with its cursor."""

    article_id: int
    priority: int
    category: str
    source: str
    wanted: str  # JSON arrays of the keywords the article matched, wanted and excluded
    unwanted: str
    fresh: bool

    @classmethod
    def of(cls, row: Row, *, fresh: bool) -> FanOutSpec:
        """The spec a fanouts row keeps."""
        return cls(
            int(row["article_id"]),
            int(row["priority"]),
            row["category"],
            row["source"],
            row["wanted"],
            row["unwanted"],
            fresh,
        )


@dataclass(frozen=True, slots=True)
class Slice:
    """One slice of a fan-out done by ``continue_fan_out``."""

    article_id: int
    added: int
    finished: bool
    total: int  # rows queued by the whole fan-out so far
    slices: int
    seconds: float  # since the fan-out started
    taken_down: bool = False  # the article was hidden on the way: the rest is not queued


async def fan_out(
    conn: Connection,
    *,
    article_id: int,
    priority: int,
    category: str,
    source: str,
    text: str,
    now: float,
    fresh: bool = False,
    slice_chats: int | None = None,
) -> int:
    """Queue one article for every matching subscription; call inside the article's transaction.

    ``fresh`` says the article was inserted in this transaction, so it has no rows yet. Returns
    the rows queued now: the first ``slice_chats`` chats'. When more chats follow, the fan-out is
    remembered and ``continue_fan_out`` queues the rest, a slice per transaction.
    """
    wanted: list[str] = []
    unwanted: list[str] = []
    async with conn.execute(SELECT_KEYWORDS) as cur:
        for value, exclude in await cur.fetchall():
            if keyword_matches(value, text):
                (unwanted if exclude else wanted).append(value)
    spec = FanOutSpec(
        article_id, priority, category, source, json.dumps(wanted), json.dumps(unwanted), fresh
    )
    return await _start_fan_out(conn, spec, now=now, slice_chats=slice_chats)


async def fan_out_broadcast(
    conn: Connection, *, article_id: int, now: float, slice_chats: int | None = None
) -> int:
    """Queue an admin's broadcast (an article of BROADCAST_SOURCE) for every chat, as ``fan_out``
    does a story: the first slice now, the rest by ``continue_fan_out``. Returns rows queued now."""
    spec = FanOutSpec(article_id, 0, "", BROADCAST_SOURCE, "[]", "[]", fresh=False)
    return await _start_fan_out(conn, spec, now=now, slice_chats=slice_chats)


async def _start_fan_out(conn: Connection, spec: FanOutSpec, *, now: float, slice_chats: int | None) -> int:
    if not await hold_article(conn, spec.article_id):
        return 0  # taken down (a moderator's release racing a takedown): nothing to queue
    after = CHAT_IDS[0]
    limit = FAN_OUT_SLICE if slice_chats is None else slice_chats
    upto, added = await _fan_out_slice(conn, spec, after=after, limit=limit, now=now, queued_at=now)
    if upto != CHAT_IDS[1]:
        await conn.execute(
            REMEMBER_FAN_OUT,
            {**_spec_params(spec), "fresh": int(spec.fresh), "after": upto, "added": added, "now": now},
        )
    return added


async def fan_outs(db: Database) -> list[int]:
    """The articles whose fan-out is under way, the most urgent first (a read, not the writer)."""
    return [int(row[0]) for row in await db.fetchall(FAN_OUTS)]


async def continue_fan_out(
    db: Database, *, now: float, slice_chats: int | None = None, article_id: int | None = None
) -> Slice | None:
    """Queue the next slice of one fan-out under way (``article_id``'s, or the most urgent one);
    None when there is none (any more)."""
    if article_id is None:
        under_way = await fan_outs(db)
        if not under_way:
            return None  # a read, not the writer, when nothing is under way (the usual case)
        article_id = under_way[0]
    async with db.transaction() as conn:
        async with conn.execute(THIS_FAN_OUT, {"article_id": article_id}) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        article_id, after = int(row["article_id"]), int(row["after_chat"])
        # Under the lock, before the fanouts row's (a delete of the article takes them in that
        # order too): a takedown committed since the fan-out started stops it here.
        if not await hold_article(conn, article_id):
            # Taken down: its queued rows went stale, and no more are made.
            await conn.execute(END_FAN_OUT, {"article_id": article_id})
            seconds = now - float(row["created_at"])
            return Slice(article_id, 0, True, int(row["added"]), int(row["slices"]), seconds, taken_down=True)
        spec = FanOutSpec.of(row, fresh=bool(row["fresh"]))
        limit = FAN_OUT_SLICE if slice_chats is None else slice_chats
        async with conn.execute(SLICE_END, {"after": after, "limit": limit}) as cur:
            bounds = await cur.fetchone()
        upto = _slice_upto(bounds, limit)
        params = {"article_id": article_id, "after": after, "upto": upto}
        async with conn.execute(TAKE_SLICE, params) as cur:
            taken = await cur.fetchone()
        if taken is None:  # another worker took this slice
            return Slice(article_id, 0, False, 0, 0, 0.0)
        # Every slice's rows carry the time the story was queued, as the first slice's do:
        # a slice queued late (after an outage) is as stale as the story, not fresh news.
        queued_at = float(taken["created_at"])
        _, added = await _fan_out_slice(conn, spec, after=after, upto=upto, now=now, queued_at=queued_at)
        total = int(taken["added"]) + added
        finished = upto == CHAT_IDS[1]
        if finished:
            await conn.execute(END_FAN_OUT, {"article_id": article_id})
        elif added:
            await conn.execute(COUNT_SLICE, {"article_id": article_id, "added": added})
        return Slice(
            article_id, added, finished, total, int(taken["slices"]), now - float(taken["created_at"])
        )


def _spec_params(spec: FanOutSpec) -> dict[str, object]:
    return {
        "article_id": spec.article_id,
        "priority": spec.priority,
        "category": spec.category,
        "source": spec.source,
        "wanted": spec.wanted,
        "unwanted": spec.unwanted,
    }


def _slice_upto(bounds: Row | None, limit: int) -> int:
    """The last chat id of a slice: the end of all ids when fewer than ``limit`` chats are left."""
    if bounds is None or int(bounds["n"]) < limit:
        return CHAT_IDS[1]
    return int(bounds["upto"])


async def _fan_out_slice(
    conn: Connection,
    spec: FanOutSpec,
    *,
    after: int,
    now: float,
    queued_at: float,
    limit: int | None = None,
    upto: int | None = None,
) -> tuple[int, int]:
    """Queue the article for the chats after ``after``, up to ``upto`` or ``limit`` of them:
    (the slice's last chat id, rows added). The caller holds the article (``hold_article``)."""
    if upto is None:
        async with conn.execute(SLICE_END, {"after": after, "limit": limit}) as cur:
            upto = _slice_upto(await cur.fetchone(), limit or 0)
    bounds = {"now": now, "queued_at": queued_at, "after": after, "upto": upto}
    if spec.source == BROADCAST_SOURCE:
        params = {"article_id": spec.article_id, "priority": spec.priority, **bounds}
        cursor = await conn.execute(QUEUE_BROADCAST, params)
    else:
        queries = statements(dialect_of(conn))
        statement = queries.fan_out_fresh if spec.fresh else queries.fan_out
        cursor = await conn.execute(statement, {**_spec_params(spec), **bounds})
    added = cursor.rowcount
    if added > 0:
        params = {"article_id": spec.article_id, "after": after, "upto": upto, "queued_at": queued_at}
        async with conn.execute(COUNT_DIGEST_SLICE, params) as cur:
            row = await cur.fetchone()
        digest = 0 if row is None else int(row[0])
        await conn.execute(COUNT_FANNED_OUT, {"queued": added - digest, "added": added})
    return upto, added


async def passed_over(conn: Connection, *, old_id: int, new_id: int) -> list[Row]:
    """The fan-outs under way whose cursor lies between a moving chat's old and new ids, their
    articles held (``hold_article``); first in the move's transaction, before it touches any
    outbox row, so it takes the locks in the order a takedown does (the article, then its rows)."""
    async with conn.execute(PASSED_OVER, {"old_id": old_id, "new_id": new_id}) as cur:
        rows = await cur.fetchall()
    # Taken down meanwhile: its fan-out stops at the next slice, and nothing is queued here.
    return [row for row in rows if await hold_article(conn, int(row["article_id"]))]


async def queue_passed_over(conn: Connection, passed: Iterable[Row], *, new_id: int, now: float) -> int:
    """Queue for a chat that moved to ``new_id`` the stories of ``passed_over``; in the move's
    transaction, after its subscriptions and rows moved. Returns rows queued."""
    queued = 0
    for row in passed:
        article_id = int(row["article_id"])
        # Not fresh: the chat may have a row for the story already (one moved, or a subscription
        # of the new id's own), and ON CONFLICT leaves that one be.
        spec = FanOutSpec.of(row, fresh=False)
        queued_at = float(row["created_at"])
        _, added = await _fan_out_slice(
            conn, spec, after=new_id - 1, upto=new_id, now=now, queued_at=queued_at
        )
        if added:
            await conn.execute(COUNT_SLICE, {"article_id": article_id, "added": added})
        queued += added
    return queued


async def end_broadcast_fan_out(conn: Connection, article_id: int) -> None:
    """In a takedown's transaction, after the article is held: no more of a broadcast is queued."""
    await conn.execute(END_BROADCAST_FAN_OUT, {"article_id": article_id, "source": BROADCAST_SOURCE})


async def fanning_out(conn: Connection, article_id: int) -> bool:
    """Whether the article's fan-out goes on after this transaction (its rows not all queued)."""
    async with conn.execute(FANNING_OUT, (article_id,)) as cur:
        return await cur.fetchone() is not None


async def hold_article(conn: Connection, article_id: int) -> bool:
    """Keep the article, and the chats, as they are until this transaction ends; before inserting
    the article's outbox rows. False when it is gone or taken down: queue nothing for it then.
    (A broadcast is hidden from the start, and goes out.)"""
    await hold_chats(conn)
    async with conn.execute(statements(dialect_of(conn)).hold_article, {"article_id": article_id}) as cur:
        row = await cur.fetchone()
    return row is not None and (not row["hidden"] or row["source_id"] == BROADCAST_SOURCE)


async def hold_chats(conn: Connection) -> None:
    """Keep chats from being deleted until this transaction ends; before inserting outbox rows
    for chats read from the chats table (the dialect's outbox_writer_lock)."""
    lock = dialect_of(conn).outbox_writer_lock
    if lock is not None:
        await conn.execute(lock)


async def release_claims(db: Database, *, shards: Shards | None = None) -> int:
    """Put rows a crashed dispatcher had claimed back in the queue: all, or those of ``shards``.

    Several workers: only the shards this one leases, else it would re-queue what another is
    sending right now, and those messages would go twice.
    """
    if shards is None:
        return await db.write(RELEASE_CLAIMS)
    if not shards.held:
        return 0
    return await db.write(RELEASE_SHARD_CLAIMS, shards.params)


async def active_articles(
    db: Database, *, now: float, limit: int = 64, shards: Shards = ALL_SHARDS
) -> list[tuple[int, int]]:
    """Articles with due rows, breaking first, then oldest first: (article id, priority)."""
    rows = await db.fetchall(ACTIVE_ARTICLES, {"now": now, "limit": limit, **shards.params})
    return [(r["article_id"], r["priority"]) for r in rows]


async def claim(
    db: Database, *, article_id: int, limit: int, now: float, shards: Shards = ALL_SHARDS
) -> list[ClaimedRow]:
    """Take up to ``limit`` due rows of one article, of these shards, and mark them 'sending'.

    Fewer than were due may come back: the ones another worker took between this claim's read
    and its mark.
    """
    params = {"article_id": article_id, "now": now, "limit": limit, **shards.params}
    async with db.transaction() as conn:
        async with conn.execute(CLAIM_SELECT, params) as cur:
            rows = await cur.fetchall()
        rows = await _mark_claimed(conn, db.dialect, rows)
    return [_claimed(r) for r in rows]


async def _mark_claimed(conn: Connection, dialect: Dialect, selected: Iterable[Row]) -> list[Row]:
    """Mark the selected rows 'sending'; keep the ones still queued (the UPDATE returns them)."""
    rows = list(selected)
    if not rows:
        return rows
    mark = statements(dialect).claim_mark
    token = secrets.randbits(62) + 1  # never 0, an unclaimed row's; fits a signed BIGINT
    async with conn.execute(mark, {"ids": json.dumps([r["id"] for r in rows]), "claim": token}) as cur:
        taken = {r[0] for r in await cur.fetchall()}
    return [{**dict(r), "claim": token} for r in rows if r["id"] in taken]


def _claimed(row: Mapping[str, Any]) -> ClaimedRow:
    values = dict(row)
    values["held"] = bool(values["held"])
    for name in ("silent", "preview", "photo", "short"):
        values[name] = bool(values[name])
    return ClaimedRow(**values)


async def claim_held(
    db: Database, *, chat_ids: Iterable[int], now: float, limit: int = 200
) -> dict[int, list[ClaimedRow]]:
    """Take every due row quiet hours held for these chats, in one transaction: chat id -> rows."""
    held: dict[int, list[ClaimedRow]] = {}
    params = {"chat_ids": json.dumps(sorted(set(chat_ids))), "now": now, "limit": limit}
    sql = statements(db.dialect)
    async with db.transaction() as conn:
        async with conn.execute(sql.claim_held_select, params) as cur:
            rows = await cur.fetchall()
        rows = await _mark_claimed(conn, db.dialect, rows)
    for row in rows:
        held.setdefault(row["chat_id"], []).append(_claimed(row))
    return held


@dataclass(frozen=True, slots=True)
class DigestChat:
    chat_id: int
    digest_time: str
    timezone: str | None
    last_digest_at: float | None
    language: str | None
    silent: bool = False  # the chat's silent option: the digest arrives without a sound


@dataclass(frozen=True, slots=True)
class DigestRow:
    id: int
    article_id: int
    thread_id: int


async def digest_chats(db: Database) -> list[DigestChat]:
    """Active chats that asked for a digest."""
    rows = await db.fetchall(DIGEST_CHATS)
    return [
        DigestChat(
            r["id"],
            r["digest_time"],
            r["timezone"],
            r["last_digest_at"],
            r["language"],
            bool(r["push_silent"]),
        )
        for r in rows
    ]


async def digest_rows(db: Database, *, chat_id: int) -> list[DigestRow]:
    """The items waiting for a chat's next digest, by topic then age."""
    rows = await db.fetchall(DIGEST_ROWS, {"chat_id": chat_id})
    return [DigestRow(r["id"], r["article_id"], r["thread_id"]) for r in rows]


async def mark_digested(db: Database, *, rows: Iterable[tuple[int, float, int]]) -> None:
    """Record items that went out in a digest: (message id, sent at, row id)."""
    async with db.transaction() as conn:
        await conn.executemany(MARK_DIGESTED, list(rows))


async def record(db: Database, outcomes: Outcomes) -> int:
    """Write a batch of outcomes as one transaction; return how many no longer applied.

    One no longer applies when its row left 'sending' meanwhile (a shard handover re-queued it and
    another worker has sent or failed it since) or is gone: the guarded write leaves such a row be.
    """
    # Each applies to a row in these states (MARK_SENT's guard), or still held by its own claim.
    sent = [row[-1] for row in outcomes.sent]
    claimed = [
        (row[-2], row[-1])
        for rows in (outcomes.retry, outcomes.failed, outcomes.released, outcomes.stale, outcomes.held)
        for row in rows
    ]
    async with db.transaction() as conn:
        late = 0
        if sent or claimed:
            sql = statements(db.dialect).outcome_states
            ids = json.dumps(sorted({*sent, *(i for i, _ in claimed)}))
            rows = await conn.execute_fetchall(sql, {"ids": ids})
            found = {row["id"]: (row["state"], row["claim"]) for row in rows}
            late = sum(1 for i in sent if found.get(i, ("gone",))[0] not in ("sending", "queued"))
            late += sum(1 for i, token in claimed if found.get(i) != ("sending", token))
        for sql, rows in (
            (MARK_SENT, outcomes.sent),
            (MARK_RETRY, outcomes.retry),
            (MARK_FAILED, outcomes.failed),
            (MARK_RELEASED, outcomes.released),
            (MARK_STALE, outcomes.stale),
            (MARK_HELD, outcomes.held),
        ):
            if rows:
                await conn.executemany(sql, rows)
        for status, now, chat_id, reason in outcomes.blocked_chats:
            await conn.execute(BLOCK_CHAT, (status, now, chat_id))
            await conn.execute(BLOCK_CHAT_QUEUE, (reason, chat_id))
    return late


async def stats(db: Database) -> OutboxStats:
    """Deliveries by state and chats by status, from counters (read on the read connection)."""
    by_state = {r["state"]: r["n"] for r in await db.read(COUNT_BY_STATE)}
    by_status = {r["status"]: r["n"] for r in await db.read(COUNT_CHATS)}
    return OutboxStats(
        queued=by_state.get("queued", 0),
        sending=by_state.get("sending", 0),
        sent=by_state.get("sent", 0) + by_state.get("digested", 0),
        failed=by_state.get("failed", 0),
        blocked=by_state.get("blocked", 0),
        stale=by_state.get("stale", 0),
        digest=by_state.get("digest", 0),
        chats_active=by_status.get("active", 0),
        chats_blocked=by_status.get("blocked", 0) + by_status.get("left", 0),
        fanning_out=int((await db.read(COUNT_FAN_OUTS))[0][0]),
    )


@dataclass(frozen=True, slots=True)
class Compaction:
    rows: int  # outbox rows folded into totals
    batches: int
    longest: float  # seconds of the longest single transaction
    pages_freed: int


def step_size(size: int, took: float, *, target: float | None, smallest: int, largest: int) -> int:
    """The next step's size: scaled from the last step's so it takes about ``target`` seconds."""
    if target is None:
        return largest
    return max(min(smallest, largest), min(largest, int(size * target / max(took, 1e-6))))


async def compact(
    db: Database,
    *,
    before: float,
    batch: int = 500,
    max_rows: int | None = None,
    pause: float = 0.0,
    target: float | None = None,
) -> Compaction:
    """Fold finished rows older than ``before`` into totals, batch by batch, then free the pages.

    Each batch is its own short transaction; between them the lock goes to whoever waits for it
    (a send's outcome, a poll's articles). ``pause`` sleeps between batches to leave room. With
    ``target`` (seconds), batches of at most ``batch`` rows, and vacuum steps of at most
    VACUUM_STEP pages, shrink or grow to take about that long each.
    """
    sql = statements(db.dialect)
    done = batches = freed = steps = 0
    longest = 0.0
    size = batch
    while max_rows is None or done < max_rows:
        started = time.perf_counter()
        async with db.transaction() as conn:
            async with conn.execute(sql.compact_pick, {"before": before, "limit": size}) as cur:
                ids = json.dumps([r[0] for r in await cur.fetchall()])
            if ids == "[]":
                break
            await conn.execute(sql.compact_totals, {"ids": ids})
            await conn.execute(sql.compact_hours, {"ids": ids})
            cursor = await conn.execute(sql.compact_delete, {"ids": ids})
            done += cursor.rowcount
        batches += 1
        took = time.perf_counter() - started
        longest = max(longest, took)
        size = step_size(size, took, target=target, smallest=BATCH_SMALLEST, largest=batch)
        if batches % CHECKPOINT_BATCHES == 0:
            await db.checkpoint()
        await asyncio.sleep(pause)
    # Give the freed pages back to the file system a few at a time (auto_vacuum = INCREMENTAL).
    pages = VACUUM_STEP
    free_pages = db.dialect.free_pages
    while free_pages is not None and int(await db.scalar(free_pages)) > VACUUM_STEP:
        started = time.perf_counter()
        before_free = int(await db.scalar(free_pages))
        await db.maintain(INCREMENTAL_VACUUM.format(pages=pages))
        after_free = int(await db.scalar(free_pages))
        took = time.perf_counter() - started
        longest = max(longest, took)
        if after_free >= before_free:
            break  # a file without auto_vacuum: nothing to give back this way
        freed += before_free - after_free
        pages = step_size(pages, took, target=target, smallest=VACUUM_SMALLEST, largest=VACUUM_STEP)
        steps += 1
        # These steps commit outside transaction(), which counts commits towards a checkpoint:
        # without one here the WAL grew to the writer's own checkpoint threshold, and the send
        # whose commit crossed it paid for copying tens of megabytes.
        if steps % CHECKPOINT_BATCHES == 0:
            await db.checkpoint()
        await asyncio.sleep(pause)
    return Compaction(done, batches, longest, freed)
