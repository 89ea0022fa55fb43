"""Texts for admins."""

from __future__ import annotations

from bot.i18n import Translate, translator
from bot.models import DispatchCounters, OutboxStats
from bot.render.html import escape


def stats_text(
    counts: OutboxStats,
    *,
    subscriptions: int,
    dispatcher: DispatchCounters,
    translate: Translate | None = None,
) -> str:
    tr = translate if translate is not None else translator("en")
    lines = [
        "<b>" + escape(tr("Delivery")) + "</b>",
        tr("queued: {n}").format(n=counts.queued + counts.sending),
        tr("sent: {n}").format(n=counts.sent),
        tr("failed: {n}").format(n=counts.failed),
        tr("blocked: {n}").format(n=counts.blocked),
        tr("stale: {n}").format(n=counts.stale),
        tr("waiting for digest: {n}").format(n=counts.digest),
        "",
        "<b>" + escape(tr("Readers")) + "</b>",
        tr.ngettext("{n} active chat", "{n} active chats", counts.chats_active).format(n=counts.chats_active),
        tr("blocked or left: {n}").format(n=counts.chats_blocked),
        tr.ngettext("{n} subscription", "{n} subscriptions", subscriptions).format(n=subscriptions),
        "",
        "<i>"
        + escape(
            tr("since start: {sent} sent, {floods} flood waits, {retries} retries").format(
                sent=dispatcher.sent, floods=dispatcher.flood_waits, retries=dispatcher.retried
            )
        )
        + "</i>",
    ]
    return "\n".join(lines)
