"""A source removed from the config file is retired at the next start: not polled, not offered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bot.config import Settings, SourceSettings
from bot.emulator import EmulatorClient
from bot.storage import open_database, sources
from bot.storage.interface import Database
from tests.conftest import FeedItemSpec, FeedServer

ADMIN = 9001


def _configured(*ids: str, feed_server: FeedServer) -> list[dict[str, Any]]:
    return [
        {"id": i, "name": i.title(), "url": feed_server.url(f"/{i}.xml"), "kind": "feed", "interval": 1}
        for i in ids
    ]


async def test_source_removed_from_the_config_is_retired_at_start_and_admins_may_remove_it(
    feed_server: FeedServer,
    control: EmulatorClient,
    make_settings: Callable[..., Settings],
    start_bot: Callable[[Settings], Awaitable[Any]],
) -> None:
    for name in ("kept", "gone"):
        feed_server.set_rss(
            f"/{name}.xml", [FeedItemSpec("1", f"{name} story", feed_server.url(f"/{name}/1"))]
        )
    settings = make_settings(
        SourceSettings(id="kept", name="Kept", url=feed_server.url("/kept.xml"), interval=1), admins=(ADMIN,)
    )
    # A previous run had both sources in its config file, and stored an article of each.
    db = await open_database(settings.bot.db)
    try:
        await sources.sync_configured(
            db, sources=_configured("kept", "gone", feed_server=feed_server), now=1.0
        )
        for source_id in ("kept", "gone"):
            await db.write(
                "INSERT INTO articles (source_id, guid, url, title, published_at, fetched_at)"
                " VALUES (?, 'old', ?, 'Old story', ?, ?)",
                (source_id, f"https://news.example/{source_id}", time.time(), time.time()),
            )
    finally:
        await db.close()

    app = await start_bot(settings)
    deadline = asyncio.get_running_loop().time() + 10
    while feed_server.hits.get("/kept.xml", 0) < 2:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    assert feed_server.hits.get("/gone.xml", 0) == 0  # retired: never polled

    gone = await sources.get_source(app.bot_data.db, source_id="gone")
    assert gone is not None and gone.paused and gone.origin == "admin"
    kept_count = await app.bot_data.db.scalar("SELECT COUNT(*) FROM articles WHERE source_id = 'gone'")
    assert kept_count == 1  # kept until an admin removes it

    await control.send_text(ADMIN, ADMIN, "/sources")
    listing = (await control.wait_for_messages(ADMIN, 1, timeout=10))[-1]["text"]
    assert "(gone) — 🗄 retired: gone from the config file" in listing
    assert "(kept) — ✅ ok" in listing

    await control.send_text(ADMIN, ADMIN, "/subscribe")
    offer = (await control.wait_for_messages(ADMIN, 2, timeout=10))[-1]
    offered = str(offer.get("reply_markup"))
    assert "Kept" in offered and "Gone" not in offered

    await control.send_text(ADMIN, ADMIN, "/source_remove gone")
    removed = (await control.wait_for_messages(ADMIN, 3, timeout=10))[-1]
    assert removed["text"] == "Removed gone and its articles."
    assert await sources.get_source(app.bot_data.db, source_id="gone") is None


async def test_retired_source_put_back_in_the_config_polls_again(
    db: Database, feed_server: FeedServer
) -> None:
    both = _configured("kept", "gone", feed_server=feed_server)
    await sources.sync_configured(db, sources=both, now=1.0)
    await sources.set_paused(db, source_id="kept", paused=True)  # an admin's own pause
    assert await sources.retire_unconfigured(db, configured=["kept"]) == ["gone"]
    assert await sources.retire_unconfigured(db, configured=["kept"]) == []  # retired once
    await sources.sync_configured(db, sources=both, now=4.0)
    assert await sources.retire_unconfigured(db, configured=["kept", "gone"]) == []
    gone = await sources.get_source(db, source_id="gone")
    kept = await sources.get_source(db, source_id="kept")
    assert gone is not None and not gone.paused and gone.origin == "config"
    assert kept is not None and kept.paused  # the admin's pause survives a restart
    assert await sources.retire_unconfigured(db, configured=[]) == ["gone", "kept"]
    admin_added = await sources.add_source(
        db,
        source_id="mine",
        name="Mine",
        url="https://example.org/",
        kind="feed",
        interval=60,
        options={},
        now=6.0,
    )
    assert admin_added
    assert await sources.retire_unconfigured(db, configured=[]) == []  # never an admin's source
    mine = await sources.get_source(db, source_id="mine")
    assert mine is not None and not mine.paused
