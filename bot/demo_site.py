"""The demo's local news site: a feed, a "Latest news" ticker page and article pages.

Stories come from ``data/demo_site/stories.toml`` and appear on the site as the demo's clock
passes their ``at`` second, the way a newsroom publishes through the day.
"""

from __future__ import annotations

import socket
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.paths import DEMO_SITE


@dataclass(frozen=True, slots=True)
class Story:
    slug: str
    at: float
    title: str
    lead: str
    body: str
    kicker: str = ""
    category: str = ""
    author: str = ""
    tags: tuple[str, ...] = ()
    read_also: tuple[str, ...] = ()


@dataclass
class DemoSite:
    """Stories and a clock; the aiohttp app renders whatever is published at request time."""

    name: str
    timezone: str
    stories: list[Story]
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)
    base_url: str = ""

    @classmethod
    def load(
        cls, path: Path = DEMO_SITE / "stories.toml", clock: Callable[[], float] = time.monotonic
    ) -> DemoSite:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
        stories = [
            Story(
                **{
                    **s,
                    "tags": tuple(s.get("tags", ())),
                    "read_also": tuple(s.get("read_also", ())),
                }
            )
            for s in raw["stories"]
        ]
        return cls(raw["site"]["name"], raw["site"]["timezone"], stories, clock=clock, started=clock())

    def elapsed(self) -> float:
        return self.clock() - self.started

    def published(self) -> list[Story]:
        """Stories on the site now, newest first."""
        now = self.elapsed()
        return sorted((s for s in self.stories if s.at <= now), key=lambda s: s.at, reverse=True)

    def pub_date(self, story: Story) -> datetime:
        # Backlog stories are a few hours old; the rest are published "now".
        wall = datetime.now(UTC) - timedelta(seconds=self.elapsed() - story.at)
        return wall - timedelta(hours=3) if story.at == 0 else wall

    # --- rendering ---------------------------------------------------------------------

    def rss(self) -> str:
        items = "".join(
            f"""
    <item>
      <title>{escape(s.title)}</title>
      <link>{self.base_url}/news/{s.slug}?utm_source=rss</link>
      <guid isPermaLink="false">demo-{s.slug}</guid>
      <pubDate>{format_datetime(self.pub_date(s))}</pubDate>
      <category>{escape(s.category)}</category>
      <description>{escape(s.lead)}</description>
    </item>"""
            for s in self.published()
        )
        return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0">
  <channel>
    <title>{escape(self.name)}</title>
    <link>{self.base_url}/</link>
    <description>Latest news from {escape(self.name)}</description>{items}
  </channel>
</rss>
"""

    def _ticker(self) -> str:
        tz = ZoneInfo(self.timezone)
        rows = []
        for s in self.published()[:10]:
            when = self.pub_date(s).astimezone(tz).strftime("%d %B %Y - %H:%M")
            tags = "".join(f'<span class="tag">{escape(t)}</span>' for t in s.tags)
            rows.append(
                f'<div class="news-item"><span class="kicker">{escape(s.kicker)}</span>'
                f'<a class="title" href="/news/{s.slug}">{escape(s.title)}</a>'
                f"<time>{when}</time>{tags}</div>"
            )
        return f'<section class="latest-news"><h2>Latest news</h2>{"".join(rows)}</section>'

    def home(self) -> str:
        return f"""<!doctype html><html><head><meta charset="utf-8"><title>{escape(self.name)}</title>
<link rel="alternate" type="application/rss+xml" title="{escape(self.name)}" href="/rss.xml">
</head><body><header><h1>{escape(self.name)}</h1></header>{self._ticker()}
<footer><a href="https://t.me/caspianledger">Subscribe to our Telegram channel</a></footer></body></html>"""

    def article(self, story: Story) -> str:
        tz = ZoneInfo(self.timezone)
        when = self.pub_date(story).astimezone(tz).strftime("%d %B %Y - %H:%M")
        paragraphs = "".join(f"<p>{escape(p)}</p>" for p in story.body.splitlines() if p.strip())
        by_slug = {s.slug: s for s in self.published()}
        also = "".join(
            f'<li><a href="/news/{slug}">{escape(by_slug[slug].title)}</a></li>'
            for slug in story.read_also
            if slug in by_slug
        )
        return f"""<!doctype html><html><head><meta charset="utf-8">
<title>{escape(story.title)} | {escape(self.name)}</title>
<link rel="canonical" href="{self.base_url}/news/{story.slug}">
<meta property="og:title" content="{escape(story.title)}">
<meta property="og:description" content="{escape(story.lead)}">
<meta name="author" content="{escape(story.author)}">
<meta property="article:section" content="{escape(story.category)}">
<meta property="article:published_time" content="{self.pub_date(story).isoformat()}">
</head><body>
<nav><a href="/">Home</a> <a href="/politics">Politics</a> <a href="/economy">Economy</a></nav>
<article>
<div class="kicker">{escape(story.kicker)}</div>
<h1>{escape(story.title)}</h1>
<div class="meta"><span class="category">{escape(story.category)}</span> <time>{when}</time>
<span class="author">{escape(story.author)}</span></div>
<div class="article-body"><p><b>{escape(story.lead)}</b></p>{paragraphs}</div>
</article>
<aside class="read-also"><h3>Read also</h3><ul>{also}</ul></aside>
{self._ticker()}
<footer><a href="https://t.me/caspianledger">Subscribe to our Telegram channel</a></footer>
</body></html>"""

    # --- serving -----------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self._home)
        app.router.add_get("/rss.xml", self._rss)
        app.router.add_get("/news/{slug}", self._article)
        return app

    async def _home(self, request: web.Request) -> web.Response:
        return web.Response(text=self.home(), content_type="text/html")

    async def _rss(self, request: web.Request) -> web.Response:
        return web.Response(text=self.rss(), content_type="application/rss+xml")

    async def _article(self, request: web.Request) -> web.Response:
        story = next((s for s in self.published() if s.slug == request.match_info["slug"]), None)
        if story is None:
            raise web.HTTPNotFound()
        return web.Response(text=self.article(story), content_type="text/html")


async def start_site(site: DemoSite, *, host: str = "127.0.0.1", port: int = 0) -> web.AppRunner:
    """Serve the site on loopback; sets ``site.base_url``. Call ``runner.cleanup()`` to stop."""
    runner = web.AppRunner(site.app(), access_log=None)
    await runner.setup()
    # Bind the socket ourselves so port 0 tells us which port it got.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    await web.SockSite(runner, sock).start()
    site.base_url = f"http://{host}:{sock.getsockname()[1]}"
    return runner
