"""End to end: /import and /export sources (OPML) for admins, /export and /forget for readers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bot.app import build_application, running
from bot.config import Settings, SourceSettings
from bot.emulator import EmulatorClient
from bot.news.opml import parse_opml
from bot.render.dataio import IMPORT_HINT
from bot.storage import chats, moderation, open_database, sources, subscriptions
from bot.storage.interface import Database
from tests.conftest import FeedItemSpec, FeedServer
from tests.test_e2e_first_push import _wait_for_poll

ADMIN = 9101
STRANGER = 9102
READER = 9103
OTHER = 9104

OPML = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>My feeds</title></head><body>
  <outline text="World">
    <outline text="Globe &amp; Mail" xmlUrl="https://globe.example/rss" htmlUrl="https://globe.example/"/>
    <outline title="Caf&eacute; Times" xmlurl="https://cafe.example/feed"/>
  </outline>
  <outline text="Broken" xmlUrl="javascript:alert(1)"/>
  <outline text="Inside" htmlUrl="http://127.0.0.1:9/"/>
</body></opml>
"""


async def _ask(control: EmulatorClient, user: int, text: str, answers: int) -> dict[str, Any]:
    await control.send_text(user, user, text)
    return await _reply(control, user, answers)


async def _reply(control: EmulatorClient, user: int, answers: int, timeout: float = 15) -> dict[str, Any]:
    """The ``answers``-th message to ``user``, source health notices left out.

    Imported sources are polled at once, and these (hosts that do not resolve) start failing: the
    admins hear of it among the answers.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        replies = [
            m for m in await control.messages(user) if not str(m.get("text", "")).startswith("⚠️ Source ")
        ]
        if len(replies) >= answers:
            return replies[answers - 1]
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{len(replies)} of {answers} answers to {user}")
        await asyncio.sleep(0.05)


async def _answered(control: EmulatorClient, callback_id: str) -> dict[str, Any]:
    for _ in range(500):
        record = {c["id"]: c for c in await control.callbacks()}[callback_id]
        if record["answered"]:
            return record
        await asyncio.sleep(0.02)
    raise TimeoutError(f"callback {callback_id} was never answered")


async def test_import_via_hint_or_caption_then_export_sources_as_opml(
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    settings = make_settings(admins=(ADMIN,))
    await start_bot(settings)
    await _ask(control, ADMIN, "/start", 1)
    hint = await _ask(control, ADMIN, "/import", 2)
    assert hint["text"] == IMPORT_HINT

    await control.send_document(ADMIN, ADMIN, "feeds.opml", OPML, reply_to_message_id=hint["message_id"])
    report = await _reply(control, ADMIN, 3)
    lines = report["text"].splitlines()
    assert lines[0] == "Imported: added 2, already present 0, failed 2."
    assert lines[1] == "Added: globe-mail, cafe-times"
    assert lines[2] == "• Broken: not a web address: javascript:alert(1)"
    assert lines[3].startswith("• Inside: http://127.0.0.1:9/ points at a private or local address")

    # The same file again, as a document captioned /import: everything is already there.
    await control.send_document(ADMIN, ADMIN, "feeds.xml", OPML, caption="/import")
    again = await _reply(control, ADMIN, 4)
    assert again["text"].startswith("Imported: added 0, already present 2, failed 2.")
    # Someone who is not staff gets no effect and no answer.
    await control.send_document(STRANGER, STRANGER, "feeds.opml", OPML, caption="/import")

    exported = await _ask(control, ADMIN, "/export sources", 5)
    assert exported["kind"] == "document"
    assert exported["document"]["file_name"] == "newsbot-sources.opml"
    assert exported["text"] == "2 sources (OPML 2.0)."
    doc = parse_opml(await control.file_content(exported["document"]["file_id"]))
    assert {(e.name, e.url, e.category, e.html_url) for e in doc.entries} == {
        ("Globe & Mail", "https://globe.example/rss", "World", "https://globe.example/"),
        ("Café Times", "https://cafe.example/feed", "World", None),
    }
    assert (await _ask(control, ADMIN, "/import now", 6))[
        "text"
    ] == "Usage: /import (then send the .opml file)"
    assert (await _ask(control, ADMIN, "/export all", 7))["text"] == "Usage: /export | /export sources"
    await _ask(control, STRANGER, "/start", 1)
    assert len(await control.messages(STRANGER)) == 1  # only the /start answer

    db = await open_database(settings.bot.db)
    try:
        stored = await sources.list_sources(db)
        entries = await moderation.recent_audit(db, limit=10)
    finally:
        await db.close()
    assert sorted((s.id, s.origin, s.kind) for s in stored) == [
        ("cafe-times", "admin", "feed"),
        ("globe-mail", "admin", "feed"),
    ]
    assert [e.action for e in entries if e.action.startswith("sources")] == [
        "sources export",
        "sources import",
        "sources import",
    ]


async def test_reader_export_then_forget_after_a_restart_and_nothing_arrives_after(
    feed_server: FeedServer, control: EmulatorClient, make_settings: Callable[..., Settings]
) -> None:
    source = SourceSettings(id="site", name="Site", url=feed_server.url("/rss.xml"), interval=1)
    feed_server.set_rss("/rss.xml", [])
    settings = make_settings(source)
    async with running(build_application(settings)) as app:
        for reader in (READER, OTHER):
            await _ask(control, reader, "/start", 1)
            await _ask(control, reader, "/subscribe all", 2)
        await _ask(control, READER, "/subscribe keyword Baku", 3)
        await _ask(control, READER, "/timezone Europe/Istanbul", 4)
        await _ask(control, READER, "/quiet 23:00-07:00", 5)
        db = app.bot_data.db
        assert db is not None
        # What the /settings button for silent pushes does.
        await chats.set_option(db, chat_id=READER, name="silent", on=True, now=time.time())
        exported = await _ask(control, READER, "/export", 6)
        offer = await _ask(control, READER, "/forget", 7)
    assert exported["kind"] == "document"
    data = json.loads(await control.file_content(exported["document"]["file_id"]))
    assert data["chat"]["id"] == READER
    assert data["settings"] == {
        "language": None,
        "timezone": "Europe/Istanbul",
        "digest": None,
        "quiet_hours": {"start": "23:00", "end": "07:00"},
        "push": {"silent": True, "preview": True, "photo": False, "short": False},
    }
    assert [(s["kind"], s["value"], s["exclude"]) for s in data["subscriptions"]] == [
        ("all", "", False),
        ("keyword", "Baku", False),
    ]
    buttons = {b["text"]: b["callback_data"] for row in offer["reply_markup"]["inline_keyboard"] for b in row}

    async with running(build_application(settings)):  # a restart between the question and the press
        pressed = await control.press_button(READER, READER, offer["message_id"], buttons["🗑 Delete"])
        await _answered(control, pressed)
        twice = await control.press_button(
            READER, READER, offer["message_id"], buttons["🗑 Delete"], force=True
        )
        assert (await _answered(control, twice))["answer_text"] == "This button no longer works."
        edited = next(m for m in await control.messages(READER) if m["message_id"] == offer["message_id"])
        assert edited["text"].startswith("Everything the bot kept about this chat is deleted.")

        db = await open_database(settings.bot.db)
        try:
            assert await chats.get_chat(db, chat_id=READER) is None
            assert await subscriptions.list_all_for_chat(db, chat_id=READER) == []
            assert await subscriptions.count_active(db) == 1  # the other reader's, counted by triggers
        finally:
            await db.close()

        before = len(await control.messages(READER))
        await _wait_for_poll(feed_server, "/rss.xml", feed_server.hits.get("/rss.xml", 0) + 1)
        feed_server.set_rss("/rss.xml", [FeedItemSpec("1", "News from Baku", feed_server.url("/news/1"))])
        other = await control.wait_for_messages(OTHER, 3, timeout=15)
        assert "News from Baku" in other[-1]["text"]
        await _wait_for_poll(feed_server, "/rss.xml", feed_server.hits["/rss.xml"] + 2)
        assert len(await control.messages(READER)) == before


async def test_forget_removes_waiting_items_keeps_bans_and_the_audit_log(db: Database) -> None:
    now = time.time()
    await chats.remember_chat(
        db, chat_id=READER, chat_type="private", title="R", username="r", language="en", now=now
    )
    await subscriptions.subscribe(db, chat_id=READER, kind="all", now=now)
    await moderation.ban(db, user_id=READER, reason="spam", actor=ADMIN, now=now)
    await sources.add_source(
        db, source_id="s", name="S", url="https://s.example/rss", kind="feed", interval=300,
        options={}, now=now,
    )  # fmt: skip
    # A queued item and one held for the digest, counted as fan-out counts what it queues.
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO articles (id, source_id, guid, url, title, published_at, fetched_at)"
            " VALUES (1, 's', 'g', 'https://s.example/1', 'T', ?, ?)",
            (now, now),
        )
        await conn.executemany(
            "INSERT INTO outbox (article_id, chat_id, thread_id, state, next_attempt_at, created_at)"
            " VALUES (1, ?, ?, ?, ?, ?)",
            [(READER, 0, "queued", now, now), (READER, 7, "digest", now, now)],
        )
        await conn.execute(
            "UPDATE outbox_counts SET n = n + 1 WHERE state IN ('queued', 'digest') AND slot = 0"
        )
    assert await chats.waiting_deliveries(db, chat_id=READER) == 2
    stamp = await chats.forget_stamp(db, chat_id=READER)
    assert stamp is not None
    assert await chats.forget_chat(db, chat_id=READER, stamp=stamp)
    assert not await chats.forget_chat(db, chat_id=READER, stamp=stamp)  # once only
    assert await moderation.is_banned(db, user_id=READER)
    assert [e.action for e in await moderation.recent_audit(db, limit=5)] == ["ban"]
    assert await subscriptions.count_active(db) == 0
    assert await chats.waiting_deliveries(db, chat_id=READER) == 0
    by_state = "SELECT state, CAST(SUM(n) AS BIGINT) FROM outbox_counts GROUP BY state"
    counts = {row[0]: row[1] for row in await db.fetchall(by_state)}
    assert counts["queued"] == counts["digest"] == 0  # the rows left through the counters' trigger
