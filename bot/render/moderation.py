"""Texts and keyboards for staff: review cards, roles, bans, the audit log, channels."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.models import Article
from bot.render import callbacks
from bot.render.articles import TITLE_LIMIT, label
from bot.render.html import bold, code, escape, fit, italic, link, strip_controls
from bot.storage.activity import HourCounts
from bot.storage.channels import Channel
from bot.storage.moderation import AuditEntry, Ban, Review, StaffMember
from bot.text import shorten

CARD_LEAD = 700


def when(moment: float | None, tz: ZoneInfo) -> str:
    if moment is None:
        return "never"
    local = datetime.fromtimestamp(moment, UTC).astimezone(tz)
    return local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or tz.key)


def review_card(review: Review, article: Article, tz: ZoneInfo) -> str:
    """A held story as moderators see it, with the decision once there is one."""
    where = f"channel {review.channel_ref}" if review.channel_ref else "readers' pushes"
    title = label(review.title or article.title, TITLE_LIMIT) or "(untitled)"
    summary = shorten(strip_controls(review.summary or article.lead or ""), CARD_LEAD)
    lines = [
        f"🛡 {bold(f'Review #{review.id}')} · for {escape(where)} · {escape(review.reason)}",
        "",
        bold(title) + (" ✏️" if review.title else ""),
    ]
    if summary:
        lines += ["", escape(summary) + (" ✏️" if review.summary else "")]
    lines += ["", link(label(article.source_name) or "source", article.url) + f" · article {article.id}"]
    if review.state != "pending":
        verdict = {"approved": "✅ Approved", "rejected": "❌ Rejected", "withdrawn": "🗑 Taken down"}[
            review.state
        ]
        who = escape(review.decided_name or "") + (f" ({review.decided_by})" if review.decided_by else "")
        lines += ["", f"{verdict} by {who} at {escape(when(review.decided_at, tz))}"]
    else:
        hint = (
            "Approve, reject, or edit the headline or summary first."
            if review.post_id
            else "Approve or reject."
        )
        lines += ["", italic(hint)]
    text = "\n".join(lines)
    return fit(text, text)


def review_keyboard(review: Review) -> InlineKeyboardMarkup | None:
    if review.state != "pending":
        return None
    row = [
        InlineKeyboardButton(
            "✅ Approve", callback_data=callbacks.encode(callbacks.REVIEW, f"a:{review.id}")
        ),
        InlineKeyboardButton("❌ Reject", callback_data=callbacks.encode(callbacks.REVIEW, f"r:{review.id}")),
    ]
    if review.post_id is not None:
        # A channel post can carry a moderator's wording; a reader's push is the story as stored.
        row.append(
            InlineKeyboardButton("✏️ Edit", callback_data=callbacks.encode(callbacks.REVIEW, f"e:{review.id}"))
        )
    return InlineKeyboardMarkup([row])


EDIT_PROMPT = (
    "✏️ Review #{id}: reply to this message with the new headline.\n"
    "To replace the summary instead, start the reply with <code>summary:</code>"
)


def queue_text(reviews: Sequence[Review], titles: dict[int, str]) -> str:
    if not reviews:
        return "The review queue is empty."
    lines = [bold(f"Review queue ({len(reviews)})")]
    for r in reviews:
        where = r.channel_ref or "pushes"
        lines.append(f"#{r.id} · {escape(where)} · {escape(label(titles.get(r.article_id, ''), 80))}")
    lines.append("")
    lines.append(italic("/approve ID or /reject ID"))
    text = "\n".join(lines)
    return fit(text, text)


def staff_text(owners: Sequence[int], staff: Sequence[StaffMember]) -> str:
    lines = [bold("Staff")]
    lines += [f"👑 {code(str(o))} owner" for o in sorted(owners)]
    icons = {"admin": "🛠", "moderator": "🛡"}
    lines += [f"{icons.get(s.role, '•')} {code(str(s.user_id))} {escape(s.role)}" for s in staff]
    return "\n".join(lines)


def bans_text(bans: Sequence[Ban], tz: ZoneInfo) -> str:
    if not bans:
        return "Nobody is banned."
    lines = [bold(f"Banned ({len(bans)})")]
    for b in bans[:100]:
        reason = f" — {escape(label(b.reason, 100))}" if b.reason else ""
        lines.append(f"{code(str(b.user_id))} by {b.banned_by}, {escape(when(b.banned_at, tz))}{reason}")
    text = "\n".join(lines)
    return fit(text, text)


def audit_text(entries: Sequence[AuditEntry], tz: ZoneInfo) -> str:
    if not entries:
        return "The audit log is empty."
    lines = [bold(f"Audit log, newest first ({len(entries)})")]
    for e in entries:
        details = f" — {escape(label(e.details, 120))}" if e.details else ""
        lines.append(
            f"{escape(when(e.at, tz))} · {code(str(e.actor))} {bold(e.action)} "
            f"{escape(label(e.target, 80))}{details}"
        )
    text = "\n".join(lines)
    return fit(text, text)


def channels_text(items: Sequence[Channel], tz: ZoneInfo) -> str:
    if not items:
        return "No channels. Add one with /channel_add @name"
    lines = [bold("Channels")]
    for c in items:
        state = (
            "✅ posting"
            if c.state == "active" and c.chat_id
            else f"⏸ {escape(c.state_reason or 'not reachable yet')}"
        )
        opts = c.options
        extras = []
        if opts.get("review"):
            extras.append("review")
        extras.append(f"every {int(opts.get('min_interval', 0))} s")
        if opts.get("silent_hours"):
            extras.append(f"silent {escape(str(opts['silent_hours']))}")
        lines.append(
            f"{escape(c.ref)} ({c.origin}) · {state} · {', '.join(extras)}\n"
            f"   queue {c.queued}, in review {c.in_review}, last post {escape(when(c.last_posted, tz))}"
            + (f", dropped as stale {c.stale}" if c.stale else "")
        )
    text = "\n".join(lines)
    return fit(text, text)


def activity_text(
    chats_by_type: dict[str, int],
    subscriptions_by_kind: dict[str, int],
    hours: Sequence[HourCounts],
    *,
    channel_queue: int,
    review_queue: int,
) -> str:
    """The part of /stats about readers, subscriptions, the last day and the queues."""
    chats_line = ", ".join(f"{kind} {n}" for kind, n in sorted(chats_by_type.items())) or "none"
    subs_line = ", ".join(f"{kind} {n}" for kind, n in sorted(subscriptions_by_kind.items())) or "none"
    sent = sum(h.sent for h in hours)
    failed = sum(h.failed for h in hours)
    busiest = max(hours, key=lambda h: h.sent + h.failed + h.other, default=None)
    lines = [
        bold("Chats by kind") + f"\n{escape(chats_line)}",
        bold("Subscriptions by kind") + f"\n{escape(subs_line)}",
        bold("Last 24 hours") + f"\nsent {sent}, failed {failed}",
    ]
    if busiest is not None and busiest.sent + busiest.failed + busiest.other:
        lines[-1] += f"; busiest hour {busiest.sent} sent, {busiest.failed} failed"
    lines.append(
        bold("Queues") + f"\nchannel posts waiting {channel_queue}, review cards pending {review_queue}"
    )
    return "\n\n".join(lines)
