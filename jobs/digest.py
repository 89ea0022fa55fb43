"""The digest job: once a minute, send the digests whose time has come."""

from __future__ import annotations

import time

from bot.context import NewsContext
from bot.delivery.digest import send_due_digests
from bot.delivery.sender import make_list_sender


async def send_digests(context: NewsContext) -> None:
    """Send due digests (run_repeating every 60 s)."""
    await send_due_digests(
        context.db,
        send_list=make_list_sender(context.bot),
        now=time.time(),
        default_tz=context.settings.bot.timezone,
        default_language=context.settings.bot.language,
    )
