"""Texts for admins."""

from __future__ import annotations

from bot.models import DispatchCounters, OutboxStats


def stats_text(counts: OutboxStats, *, subscriptions: int, dispatcher: DispatchCounters) -> str:
    return "\n".join(
        [
            "<b>Delivery</b>",
            f"queued: {counts.queued + counts.sending}",
            f"sent: {counts.sent}",
            f"failed: {counts.failed}",
            f"blocked: {counts.blocked}",
            f"stale: {counts.stale}",
            f"waiting for digest: {counts.digest}",
            "",
            "<b>Readers</b>",
            f"active chats: {counts.chats_active}",
            f"blocked or left: {counts.chats_blocked}",
            f"subscriptions: {subscriptions}",
            "",
            f"<i>since start: {dispatcher.sent} sent, {dispatcher.flood_waits} flood waits, "
            f"{dispatcher.retried} retries</i>",
        ]
    )
