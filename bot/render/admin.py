"""Texts for admins."""

from __future__ import annotations

from collections.abc import Sequence

from bot.i18n import Translate
from bot.models import DispatchCounters, OutboxStats
from bot.render.html import escape
from bot.storage.watch import Outcomes, SourceFigures

FAILING_SHOWN = 10  # failing sources named in /stats, the worst first; /sources lists them all


def stats_text(
    tr: Translate,
    counts: OutboxStats,
    *,
    subscriptions: int,
    dispatcher: DispatchCounters,
    sources: Sequence[SourceFigures] = (),
    recent: Outcomes | None = None,
    recent_since: str = "",
) -> str:
    """The delivery, source and reader part of /stats, from counters only."""
    lines = [
        "<b>" + escape(tr("Delivery")) + "</b>",
        tr("queued: {n}").format(n=counts.queued + counts.sending),
        tr("sent: {n}").format(n=counts.sent),
        tr("failed: {n}").format(n=counts.failed),
        tr("blocked: {n}").format(n=counts.blocked),
        tr("stale: {n}").format(n=counts.stale),
        tr("waiting for digest: {n}").format(n=counts.digest),
    ]
    if counts.fanning_out:
        lines.append(
            tr.ngettext(
                "{n} story still being queued for its readers",
                "{n} stories still being queued for their readers",
                counts.fanning_out,
            ).format(n=counts.fanning_out)
        )
    if recent is not None:
        lines += [
            "",
            "<b>" + escape(tr("Since {time}").format(time=recent_since)) + "</b>",
            tr("sent {sent}, failed {failed}, blocked {blocked}, stale {stale}").format(
                sent=recent.sent, failed=recent.failed, blocked=recent.blocked, stale=recent.stale
            ),
        ]
    if sources:
        lines += ["", "<b>" + escape(tr("Sources")) + "</b>", _source_summary(tr, sources)]
        failing = sorted((s for s in sources if not s.paused and s.failures), key=lambda s: -s.failures)
        lines += [
            tr.ngettext(
                "{source}: failing, {count} poll in a row",
                "{source}: failing, {count} polls in a row",
                s.failures,
            ).format(source=escape(s.id), count=s.failures)
            for s in failing[:FAILING_SHOWN]
        ]
        if len(failing) > FAILING_SHOWN:
            # After an OPML import of dead feeds there can be hundreds: one message holds 4,096 characters.
            rest = len(failing) - FAILING_SHOWN
            lines.append(
                tr.ngettext(
                    "…and {n} more failing: /sources", "…and {n} more failing: /sources", rest
                ).format(n=rest)
            )
    lines += [
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
    if dispatcher.late_outcomes:
        lines.append(
            "<i>"
            + escape(
                tr("late outcomes left out (another worker had taken their deliveries over): {n}").format(
                    n=dispatcher.late_outcomes
                )
            )
            + "</i>"
        )
    return "\n".join(lines)


def _source_summary(tr: Translate, sources: Sequence[SourceFigures]) -> str:
    retired = sum(1 for s in sources if s.paused and s.retired)
    paused = sum(1 for s in sources if s.paused and not s.retired)
    failing = sum(1 for s in sources if not s.paused and s.failures)
    ok = len(sources) - retired - paused - failing
    return tr("ok {ok}, failing {failing}, paused {paused}, retired {retired}").format(
        ok=ok, failing=failing, paused=paused, retired=retired
    )
