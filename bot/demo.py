"""``newsbot demo``: the whole product on one machine, with no token and no network.

It starts the Bot API emulator, a local news site and the real bot; simulated readers
subscribe in different ways; stories then appear on the site and the demo prints what each
reader receives, as it happens.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.app import NewsApp, build_application, running
from bot.config import BotSettings, Secret, Settings, SourceSettings
from bot.demo_site import DemoSite, start_site
from bot.emulator import Emulator, EmulatorClient, RunningEmulator
from bot.logs import setup_logging
from bot.storage import sources

DEMO_TOKEN = "123456:DEMO-not-a-real-token"  # noqa: S105 - the emulator accepts any token


@dataclass(frozen=True, slots=True)
class Reader:
    chat_id: int
    user_id: int
    name: str
    commands: tuple[str, ...]
    chat_type: str = "private"


READERS = (
    Reader(1001, 1001, "Aysel", ("/start", "/subscribe all")),
    Reader(1002, 1002, "Murad", ("/start", "/subscribe category Sport")),
    Reader(1003, 1003, "Nigar", ("/start", "/subscribe all", "/subscribe not category Sport")),
    Reader(-2001, 1004, "Baku Commuters (group)", ("/subscribe keyword Baku",), chat_type="group"),
)


async def run_demo(*, seconds: float = 45.0, keep_running: bool = False) -> int:
    setup_logging("WARNING", secrets=(DEMO_TOKEN,))
    started = time.monotonic()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - started:5.1f}s] {text}", flush=True)

    site = DemoSite.load()
    site_runner = await start_site(site)
    emulator = Emulator()
    with tempfile.TemporaryDirectory(prefix="newsbot-demo-") as tmp:
        async with RunningEmulator(emulator) as api, EmulatorClient(api.control_url) as control:
            for reader in READERS:
                if reader.chat_type == "group":
                    await control.add_chat(
                        reader.chat_id, "group", title=reader.name, admins=[reader.user_id]
                    )
            settings = Settings(
                bot=BotSettings(
                    token=Secret(DEMO_TOKEN),
                    api_url=f"http://127.0.0.1:{api.port}",
                    db=Path(tmp) / "newsbot.db",
                    admins=frozenset({1001}),
                    timezone=site.timezone,
                ),
                sources=(
                    SourceSettings(id="ledger", name=site.name, url=f"{site.base_url}/rss.xml", interval=2),
                ),
            )
            say(f"emulator on {api.base_url}, news site on {site.base_url}, database in {tmp}")
            application = build_application(settings)
            async with running(application):
                # Readers name categories that must exist: let the first poll store the backlog.
                await _wait_for_backlog(application, "ledger")
                for reader in READERS:
                    for command in reader.commands:
                        say(f"{reader.name} sends {command}")
                        await control.send_text(
                            reader.chat_id,
                            reader.user_id,
                            command,
                            chat_type=reader.chat_type,
                            first_name=reader.name,
                        )
                        await asyncio.sleep(0.3)
                say(f"{len(site.published())} stories already on the site (backlog: stored, not pushed)")
                await _watch(control, site, say, until=started + seconds, forever=keep_running)
                stats = await control.stats()
                sent, refused = stats.get("sent", "?"), stats.get("429", 0)
                say(f"done: {sent} messages sent, {refused} answered 429 by Telegram")
    await site_runner.cleanup()
    return 0


async def _wait_for_backlog(application: NewsApp, source_id: str, limit: float = 15.0) -> None:
    """Wait until the source's first poll has stored its backlog (or give up after ``limit`` seconds)."""
    db = application.bot_data.db
    assert db is not None
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        source = await sources.get_source(db, source_id=source_id)
        if source is not None and source.seeded:
            return
        await asyncio.sleep(0.1)


async def _watch(
    control: EmulatorClient, site: DemoSite, say: Callable[[str], None], *, until: float, forever: bool
) -> None:
    names = {r.chat_id: r.name for r in READERS}
    seen = 0
    announced: set[str] = set()
    while forever or time.monotonic() < until:
        for story in site.published():
            if story.slug not in announced and story.at > 0:
                say(f"📰 the site publishes: {story.title}")
            announced.add(story.slug)
        messages = await control.messages()
        for message in messages[seen:]:
            who = names.get(message["chat_id"], str(message["chat_id"]))
            say(f"  → {who} receives: {_summary(message.get('text') or '')}")
        seen = len(messages)
        await asyncio.sleep(0.25)


def _summary(text: str) -> str:
    """A message's first line, with its next non-empty line in brackets (the item's source and time)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return "(empty message)"
    return lines[0] + (f"  [{lines[1]}]" if len(lines) > 1 else "")
