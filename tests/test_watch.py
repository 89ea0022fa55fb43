"""Figures for watching the bot: counters behind /metrics and /stats, the /stats text, the log formats."""

from __future__ import annotations

import io
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from bot.i18n import translator
from bot.logs import JsonFormatter, RedactingFormatter
from bot.models import DispatchCounters, OutboxStats
from bot.render.admin import stats_text
from bot.storage import Database, activity, chats, outbox, sources, watch
from bot.storage.connection import SqliteDatabase
from bot.storage.interface import inserted_id
from bot.storage.watch import Outcomes, SourceFigures

TOKEN = "123456:SECRET-token-value"


async def broadcast(db: Database, readers: int, *, now: float) -> int:
    """``readers`` subscribed chats and one article fanned out to them; the article id."""
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO sources (id, name, url, kind, interval, created_at)"
            " VALUES ('wire', 'Wire', 'http://127.0.0.1:9/', 'feed', 60, 0) ON CONFLICT DO NOTHING"
        )
        await conn.executemany(
            "INSERT INTO chats (id, type, created_at, updated_at) VALUES (?, 'private', 0, 0)"
            " ON CONFLICT DO NOTHING",
            ((i,) for i in range(1, readers + 1)),
        )
        await conn.executemany(
            "INSERT INTO subscriptions (chat_id, kind, created_at) VALUES (?, 'all', 0)"
            " ON CONFLICT DO NOTHING",
            ((i,) for i in range(1, readers + 1)),
        )
        cursor = await conn.execute(
            "INSERT INTO articles (source_id, guid, url, title, published_at, fetched_at)"
            " VALUES ('wire', ?, ?, 'Story', ?, ?) RETURNING id",
            (f"g{now}", f"https://news.example/{now}", now, now),
        )
        article_id = await inserted_id(cursor)
        assert article_id is not None
        await outbox.fan_out(
            conn, article_id=article_id, priority=0, category="", source="wire", text="", now=now
        )
        return article_id


# --- counters ------------------------------------------------------------------------------------


async def test_queue_figures_give_depth_and_the_age_of_the_oldest_due_delivery(db: Database) -> None:
    now = time.time()
    assert (await watch.queue_figures(db, now=now)).oldest_due is None
    old = await broadcast(db, 3, now=now - 120)
    await broadcast(db, 3, now=now - 10)
    figures = await watch.queue_figures(db, now=now)
    assert figures.depth == 6
    assert figures.oldest_due == pytest.approx(now - 120)
    assert figures.chats == {"active": 3, "blocked": 0, "left": 0, "migrated": 0}

    # The old article's rows go out; one is held for quiet hours: held rows do not age the queue.
    rows = await outbox.claim(db, article_id=old, limit=10, now=now)
    done = outbox.Outcomes.empty()
    done.sent.extend((100 + n, now, r.id) for n, r in enumerate(rows[1:]))
    done.held.append((now + 8 * 3600, rows[0].id, rows[0].claim))
    await outbox.record(db, done)
    figures = await watch.queue_figures(db, now=now)
    assert figures.depth == 4
    assert figures.oldest_due == pytest.approx(now - 10)


async def test_outcomes_of_the_last_hours_are_counted_as_they_are_recorded(db: Database) -> None:
    now = time.time()
    article = await broadcast(db, 5, now=now)
    rows = await outbox.claim(db, article_id=article, limit=10, now=now)
    done = outbox.Outcomes.empty()
    done.sent.extend((100 + n, now, r.id) for n, r in enumerate(rows[:2]))
    done.failed.append(("Bad Request: nope", rows[2].id, rows[2].claim))
    done.stale.append(("stale", rows[3].id, rows[3].claim))
    done.retry.append((now + 60, "TimedOut", rows[4].id, rows[4].claim))  # not finished: not an outcome yet
    await outbox.record(db, done)
    await chats.set_status(db, chat_id=rows[4].chat_id, status="blocked", now=now, reason="blocked")

    assert await watch.outcomes_since(db, since=now - 3600) == Outcomes(sent=2, failed=1, blocked=1, stale=1)
    assert await watch.outcomes_since(db, since=now + 7200) == Outcomes()
    # Compaction folds the rows into totals; the hours keep what happened.
    await outbox.compact(db, before=now + 1)
    assert await watch.outcomes_since(db, since=now - 3600) == Outcomes(sent=2, failed=1, blocked=1, stale=1)
    assert await watch.prune_outcome_hours(db, before=now + 7200) >= 1
    assert await watch.outcomes_since(db, since=now - 3600) == Outcomes()


async def test_source_figures_tell_retired_from_paused(db: Database) -> None:
    configured = [
        {"id": i, "name": i, "url": f"http://127.0.0.1:9/{i}", "kind": "feed", "interval": 60}
        for i in ("gone", "kept", "quiet")
    ]
    await sources.sync_configured(db, sources=configured, now=0)
    await sources.set_paused(db, source_id="quiet", paused=True)
    await sources.retire_unconfigured(db, configured=["kept", "quiet"])
    figures = {f.id: f for f in await watch.source_figures(db)}
    assert (figures["gone"].paused, figures["gone"].retired) == (True, True)
    assert (figures["quiet"].paused, figures["quiet"].retired) == (True, False)
    assert (figures["kept"].paused, figures["kept"].retired) == (False, False)
    # Put back in the file, a retired source is an ordinary configured one again.
    await sources.sync_configured(db, sources=configured, now=1)
    assert not {f.id: f for f in await watch.source_figures(db)}["gone"].retired


async def test_chats_by_type_and_subscriptions_by_kind_follow_every_change(db: Database) -> None:
    truth_chats = "SELECT type, COUNT(*) AS n FROM chats WHERE status = 'active' GROUP BY type"
    truth_subs = "SELECT kind, exclude, COUNT(*) AS n FROM subscriptions GROUP BY kind, exclude"

    async def agree() -> None:
        chats_truth = {r["type"]: r["n"] for r in await db.fetchall(truth_chats)}
        subs_truth = {
            ("not " if r["exclude"] else "") + r["kind"]: r["n"] for r in await db.fetchall(truth_subs)
        }
        assert await activity.chats_by_type(db) == chats_truth
        assert await activity.subscriptions_by_kind(db) == subs_truth

    await broadcast(db, 4, now=time.time())
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO chats (id, type, created_at, updated_at) VALUES (-5, 'group', 0, 0)")
        await conn.execute(
            "INSERT INTO subscriptions (chat_id, kind, value, exclude, created_at)"
            " VALUES (-5, 'keyword', 'storm', 0, 0), (-5, 'keyword', 'sport', 1, 0),"
            " (1, 'source', 'wire', 0, 0)"
        )
    await agree()
    await chats.set_status(db, chat_id=2, status="blocked", now=0, reason="blocked")
    await db.write("UPDATE chats SET type = 'supergroup' WHERE id = -5")
    await db.write("UPDATE subscriptions SET exclude = 1 WHERE kind = 'source'")
    await db.write("DELETE FROM chats WHERE id = 3")
    await agree()
    assert await activity.chats_by_type(db) == {"private": 2, "supergroup": 1}


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    """SQLite only: the lock below is a file's write lock, taken by a second connection to the file."""
    database = await SqliteDatabase.open(tmp_path / "w.db")
    try:
        yield database
    finally:
        await database.close()


async def test_write_check_fails_while_another_connection_holds_the_lock(sqlite_db: SqliteDatabase) -> None:
    db = sqlite_db
    await db.check_writable(lock_wait=0.1)
    other = sqlite3.connect(db.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await db.check_writable(lock_wait=0.1)
    finally:
        other.execute("ROLLBACK")
        other.close()
    await db.check_writable(lock_wait=0.1)
    await db.write("UPDATE outbox_counts SET n = n WHERE state = 'queued'")  # the lock was given back


# --- /stats ----------------------------------------------------------------------------------------


def test_stats_text_shows_source_health_queue_and_the_last_hour() -> None:
    counts = OutboxStats(
        queued=7,
        sending=3,
        sent=90,
        failed=2,
        blocked=1,
        stale=0,
        digest=4,
        chats_active=50,
        chats_blocked=1,
        fanning_out=2,
    )
    figures = [
        SourceFigures("wire", paused=False, retired=False, failures=0, stored=10),
        SourceFigures("<b>bad</b>", paused=False, retired=False, failures=3, stored=1),
        SourceFigures("quiet", paused=True, retired=False, failures=0, stored=0),
        SourceFigures("old", paused=True, retired=True, failures=5, stored=0),
    ]
    text = stats_text(
        translator("en"),
        counts,
        subscriptions=60,
        dispatcher=DispatchCounters(sent=12, retried=1, flood_waits=2),
        sources=figures,
        recent=Outcomes(sent=40, failed=2, blocked=1, stale=3),
        recent_since="17:00",
    )
    assert "queued: 10\n" in text
    assert "waiting for digest: 4\n2 stories still being queued for their readers\n" in text
    assert "<b>Since 17:00</b>\nsent 40, failed 2, blocked 1, stale 3" in text
    assert "<b>Sources</b>\nok 1, failing 1, paused 1, retired 1\n" in text
    assert "&lt;b&gt;bad&lt;/b&gt;: failing, 3 polls in a row" in text  # ids are escaped
    assert "old: failing" not in text  # a retired source is not polled, so not failing
    assert "since start: 12 sent, 2 flood waits, 1 retries" in text


def test_stats_text_names_the_worst_failing_sources_and_fits_one_message_however_many() -> None:
    counts = OutboxStats(
        queued=0, sending=0, sent=0, failed=0, blocked=0, stale=0, digest=0, chats_active=1, chats_blocked=0
    )
    figures = [
        SourceFigures(f"dead-feed-{n:03d}-" + "x" * 20, paused=False, retired=False, failures=n, stored=0)
        for n in range(1, 301)
    ]
    for language in ("en", "ru"):
        text = stats_text(
            translator(language),
            counts,
            subscriptions=1,
            dispatcher=DispatchCounters(sent=0, retried=0, flood_waits=0),
            sources=figures,
        )
        assert len(text) < 4096
        assert "dead-feed-300-" in text and "dead-feed-290-" not in text  # the ten worst, first
        assert "/sources" in text
    assert "…and 290 more failing: /sources" in stats_text(
        translator("en"),
        counts,
        subscriptions=1,
        dispatcher=DispatchCounters(sent=0, retried=0, flood_waits=0),
        sources=figures,
    )


# --- logs ------------------------------------------------------------------------------------------


def _log_through(formatter: logging.Formatter) -> list[str]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger("test.watch.logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("calling https://api.telegram.org/bot%s/getMe\nand a second line", TOKEN)
        try:
            raise RuntimeError(f"failed: https://api.telegram.org/bot{TOKEN.replace(':', '%3A')}/send")
        except RuntimeError:
            logger.exception("send failed")
    finally:
        logger.removeHandler(handler)
    return stream.getvalue().splitlines()


def test_json_logs_are_one_object_per_line_and_never_hold_the_token() -> None:
    lines = _log_through(JsonFormatter(TOKEN))
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert set(first) == {"time", "level", "logger", "message"}
    assert first["level"] == "WARNING" and first["logger"] == "test.watch.logs"
    assert first["message"] == "calling https://api.telegram.org/bot<redacted>/getMe\nand a second line"
    assert first["time"].endswith("+00:00")
    assert second["message"] == "send failed"
    assert second["exception"].startswith("Traceback (most recent call last):")
    assert "RuntimeError: failed: https://api.telegram.org/bot<redacted>/send" in second["exception"]
    assert all(TOKEN not in line and "SECRET" not in line for line in lines)


def test_text_logs_keep_each_event_and_its_traceback_on_one_line() -> None:
    lines = _log_through(RedactingFormatter("%(levelname)s %(message)s", TOKEN, one_line=True))
    assert len(lines) == 2
    assert lines[0] == "WARNING calling https://api.telegram.org/bot<redacted>/getMe\\nand a second line"
    assert lines[1].startswith("ERROR send failed\\nTraceback (most recent call last):")
    assert all("SECRET" not in line for line in lines)


# --- settings --------------------------------------------------------------------------------------


def test_metrics_and_log_format_settings(tmp_path: Path) -> None:
    path = tmp_path / "newsbot.toml"
    defaults = load_settings(None, env={}).bot
    assert (defaults.metrics, defaults.log_format) == ("", "text")
    path.write_text('[bot]\nmetrics = "127.0.0.1:9464"\nlog_format = "json"\n')
    settings = load_settings(path, env={})
    assert (settings.bot.metrics, settings.bot.log_format) == ("127.0.0.1:9464", "json")
    for text, key in (('metrics = "9464"', "bot.metrics"), ('log_format = "xml"', "bot.log_format")):
        path.write_text(f"[bot]\n{text}\n")
        with pytest.raises(ConfigError, match=key):
            load_settings(path, env={})
