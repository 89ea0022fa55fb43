"""Texts and keyboards for staff: review cards, roles, bans, the audit log, channels."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import Translate, _, translator
from bot.models import Article
from bot.render import callbacks
from bot.render.articles import TITLE_LIMIT, label
from bot.render.html import bold, code, escape, fit, italic, link, strip_controls
from bot.storage.activity import HourCounts
from bot.storage.channels import Channel
from bot.storage.moderation import AuditEntry, Ban, Review, StaffMember
from bot.text import shorten

CARD_LEAD = 700
# Review states and audit-free labels as staff read them; the database keeps the English word.
_VERDICTS = {
    "approved": _("✅ Approved by {who} at {when}"),
    "rejected": _("❌ Rejected by {who} at {when}"),
    "withdrawn": _("🗑 Taken down by {who} at {when}"),
}
_ROLES = {"owner": _("owner"), "admin": _("admin"), "moderator": _("moderator")}


def _tr(translate: Translate | None) -> Translate:
    return translate if translate is not None else translator("en")


def when(moment: float | None, tz: ZoneInfo, translate: Translate | None = None) -> str:
    tr = _tr(translate)
    if moment is None:
        return tr("never")
    local = datetime.fromtimestamp(moment, UTC).astimezone(tz)
    return tr.when(local, tz, style="d MMM y, HH:mm") + " " + (local.tzname() or tz.key)


def review_card(review: Review, article: Article, tz: ZoneInfo, translate: Translate | None = None) -> str:
    """A held story as moderators see it, with the decision once there is one."""
    tr = _tr(translate)
    if review.channel_ref:
        where = tr("for channel {channel}").format(channel=review.channel_ref)
    else:
        where = tr("for readers' pushes")
    title = label(review.title or article.title, TITLE_LIMIT) or tr("(untitled)")
    summary = shorten(strip_controls(review.summary or article.lead or ""), CARD_LEAD)
    heading = tr("Review #{id}").format(id=review.id)
    lines = [
        f"🛡 {bold(heading)} · {escape(where)} · {escape(review.reason)}",
        "",
        bold(title) + (" ✏️" if review.title else ""),
    ]
    if summary:
        lines += ["", escape(summary) + (" ✏️" if review.summary else "")]
    source = label(article.source_name) or tr("source")
    lines += ["", link(source, article.url) + " · " + escape(tr("article {id}").format(id=article.id))]
    if review.state != "pending":
        who = (review.decided_name or "") + (f" ({review.decided_by})" if review.decided_by else "")
        verdict = tr(_VERDICTS[review.state]).format(who=who, when=when(review.decided_at, tz, tr))
        lines += ["", escape(verdict)]
    else:
        hint = (
            tr("Approve, reject, or edit the headline or summary first.")
            if review.post_id
            else tr("Approve or reject.")
        )
        lines += ["", italic(hint)]
    text = "\n".join(lines)
    return fit(text, text)


def review_keyboard(review: Review, translate: Translate | None = None) -> InlineKeyboardMarkup | None:
    if review.state != "pending":
        return None
    tr = _tr(translate)
    row = [
        InlineKeyboardButton(
            "✅ " + tr("Approve"), callback_data=callbacks.encode(callbacks.REVIEW, f"a:{review.id}")
        ),
        InlineKeyboardButton(
            "❌ " + tr("Reject"), callback_data=callbacks.encode(callbacks.REVIEW, f"r:{review.id}")
        ),
    ]
    if review.post_id is not None:
        # A channel post can carry a moderator's wording; a reader's push is the story as stored.
        row.append(
            InlineKeyboardButton(
                "✏️ " + tr("Edit"), callback_data=callbacks.encode(callbacks.REVIEW, f"e:{review.id}")
            )
        )
    return InlineKeyboardMarkup([row])


EDIT_PROMPT = _(
    "✏️ Review #{id}: reply to this message with the new headline.\n"
    "To replace the summary instead, start the reply with <code>summary:</code>"
)


def queue_text(reviews: Sequence[Review], titles: dict[int, str], translate: Translate | None = None) -> str:
    tr = _tr(translate)
    if not reviews:
        return escape(tr("The review queue is empty."))
    count = len(reviews)
    lines = [bold(tr.ngettext("Review queue: {n} item", "Review queue: {n} items", count).format(n=count))]
    for r in reviews:
        where = r.channel_ref or tr("pushes")
        lines.append(f"#{r.id} · {escape(where)} · {escape(label(titles.get(r.article_id, ''), 80))}")
    lines.append("")
    lines.append(italic(tr("/approve ID or /reject ID")))
    text = "\n".join(lines)
    return fit(text, text)


def staff_text(
    owners: Sequence[int], staff: Sequence[StaffMember], translate: Translate | None = None
) -> str:
    tr = _tr(translate)
    lines = [bold(tr("Staff"))]
    lines += [f"👑 {code(str(o))} {escape(tr(_ROLES['owner']))}" for o in sorted(owners)]
    icons = {"admin": "🛠", "moderator": "🛡"}
    lines += [
        f"{icons.get(s.role, '•')} {code(str(s.user_id))} {escape(tr(_ROLES.get(s.role, s.role)))}"
        for s in staff
    ]
    return "\n".join(lines)


def bans_text(bans: Sequence[Ban], tz: ZoneInfo, translate: Translate | None = None) -> str:
    tr = _tr(translate)
    if not bans:
        return escape(tr("Nobody is banned."))
    count = len(bans)
    lines = [bold(tr.ngettext("{n} user banned", "{n} users banned", count).format(n=count))]
    for b in bans[:100]:
        reason = f" — {escape(label(b.reason, 100))}" if b.reason else ""
        by = tr("by {who}, {when}").format(who=b.banned_by, when=when(b.banned_at, tz, tr))
        lines.append(f"{code(str(b.user_id))} {escape(by)}{reason}")
    text = "\n".join(lines)
    return fit(text, text)


def audit_text(entries: Sequence[AuditEntry], tz: ZoneInfo, translate: Translate | None = None) -> str:
    tr = _tr(translate)
    if not entries:
        return escape(tr("The audit log is empty."))
    count = len(entries)
    heading = tr.ngettext("Audit log, newest first: {n} entry", "Audit log, newest first: {n} entries", count)
    lines = [bold(heading.format(n=count))]
    for e in entries:
        details = f" — {escape(label(e.details, 120))}" if e.details else ""
        # The action stays as recorded ("source add"): it names the command, like the log does.
        lines.append(
            f"{escape(when(e.at, tz, tr))} · {code(str(e.actor))} {bold(e.action)} "
            f"{escape(label(e.target, 80))}{details}"
        )
    text = "\n".join(lines)
    return fit(text, text)


def channels_text(items: Sequence[Channel], tz: ZoneInfo, translate: Translate | None = None) -> str:
    tr = _tr(translate)
    if not items:
        return escape(tr("No channels. Add one with /channel_add @name"))
    lines = [bold(tr("Channels"))]
    for c in items:
        if c.state == "active" and c.chat_id:
            state = "✅ " + escape(tr("posting"))
        else:
            state = "⏸ " + escape(tr(c.state_reason) if c.state_reason else tr("not reachable yet"))
        opts = c.options
        extras = []
        if opts.get("review"):
            extras.append(escape(tr("review")))
        extras.append(escape(tr("every {seconds} s").format(seconds=int(opts.get("min_interval", 0)))))
        if opts.get("silent_hours"):
            extras.append(escape(tr("silent {hours}").format(hours=opts["silent_hours"])))
        line = tr("queue {queued}, in review {review}, last post {when}").format(
            queued=c.queued, review=c.in_review, when=when(c.last_posted, tz, tr)
        )
        if c.stale:
            line += tr(", dropped as stale {n}").format(n=c.stale)
        lines.append(f"{escape(c.ref)} ({c.origin}) · {state} · {', '.join(extras)}\n   {escape(line)}")
    text = "\n".join(lines)
    return fit(text, text)


def activity_text(
    chats_by_type: dict[str, int],
    subscriptions_by_kind: dict[str, int],
    hours: Sequence[HourCounts],
    *,
    channel_queue: int,
    review_queue: int,
    translate: Translate | None = None,
) -> str:
    """The part of /stats about readers, subscriptions, the last day and the queues."""
    tr = _tr(translate)
    # Chat types and subscription kinds are Telegram's and the commands' own words.
    chats_line = ", ".join(f"{kind} {n}" for kind, n in sorted(chats_by_type.items())) or tr("none")
    subs_line = ", ".join(f"{kind} {n}" for kind, n in sorted(subscriptions_by_kind.items())) or tr("none")
    sent = sum(h.sent for h in hours)
    failed = sum(h.failed for h in hours)
    busiest = max(hours, key=lambda h: h.sent + h.failed + h.other, default=None)
    day = tr("sent {sent}, failed {failed}").format(sent=sent, failed=failed)
    if busiest is not None and busiest.sent + busiest.failed + busiest.other:
        day += tr("; busiest hour {sent} sent, {failed} failed").format(
            sent=busiest.sent, failed=busiest.failed
        )
    queues = tr("channel posts waiting {channel}, review cards pending {review}").format(
        channel=channel_queue, review=review_queue
    )
    lines = [
        bold(tr("Chats by kind")) + f"\n{escape(chats_line)}",
        bold(tr("Subscriptions by kind")) + f"\n{escape(subs_line)}",
        bold(tr("Last 24 hours")) + f"\n{escape(day)}",
        bold(tr("Queues")) + f"\n{escape(queues)}",
    ]
    return "\n\n".join(lines)
