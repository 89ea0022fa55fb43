"""A reader's own data: what /export sends them, and what /forget removes.

/forget deletes the chat's row; its subscriptions and every outbox row for it (queued, held for
quiet hours or a digest, and the finished ones) go with it through the foreign keys, and the
counters' triggers follow. Two things stay, on purpose: the audit log, which is append-only and
records what staff did (a ban names the user it banned), and bans, which belong to the user rather
than the chat, so a banned user cannot shed a ban by asking to be forgotten.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.models import PUSH_OPTIONS
from bot.storage import chats, subscriptions
from bot.storage.interface import Database

EXPORT_FORMAT = "newsbot chat export"
EXPORT_VERSION = 2  # 2: settings.push, the /settings options


def _when(seconds: float | None) -> str | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


async def export_chat(db: Database, *, chat_id: int, now: float) -> bytes | None:
    """The chat's subscriptions and settings as a small JSON document; None when the bot has none."""
    chat = await chats.get_chat(db, chat_id=chat_id)
    if chat is None:
        return None
    subs = await subscriptions.list_all_for_chat(db, chat_id=chat_id)
    quiet = (
        {"start": chat.quiet_start, "end": chat.quiet_end} if chat.quiet_start and chat.quiet_end else None
    )
    document = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": _when(now),
        "chat": {
            "id": chat.id,
            "type": chat.type,
            "title": chat.title,
            "username": chat.username,
            "status": chat.status,
            "since": _when(await chats.created_at(db, chat_id=chat_id)),
        },
        "settings": {
            "language": chat.language,
            "timezone": chat.timezone,
            "digest": chat.digest_time,
            "quiet_hours": quiet,
            "push": {name: getattr(chat.options, name) for name in PUSH_OPTIONS},
        },
        "subscriptions": [
            {
                "kind": s.kind,
                "value": s.label or s.value,
                "exclude": s.exclude,
                "topic": s.thread_id or None,
            }
            for s in subs
        ],
        "deliveries_waiting": await chats.waiting_deliveries(db, chat_id=chat_id),
    }
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
