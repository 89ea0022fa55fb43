"""The texts of /start and /help, and the command list shown in Telegram's menu."""

from __future__ import annotations

from bot.i18n import Translate
from bot.render.html import escape
from bot.subscribing import USAGE

READER_COMMANDS = (
    ("start", "Start receiving news"),
    ("subscribe", "Choose what news you get"),
    ("unsubscribe", "Stop some or all news"),
    ("mysubs", "Your subscriptions, with buttons to remove them"),
    ("digest", "One message a day at HH:MM, or off"),
    ("quiet", "Quiet hours HH:MM-HH:MM, or off"),
    ("timezone", "Your timezone, e.g. Europe/Istanbul"),
    ("settings", "Sound, link preview, photo, short or long items"),
    ("latest", "The newest items"),
    ("summary", "Summary of an article: /summary ID or URL"),
    ("related", "Related reads: /related ID or URL"),
    ("search", "Search the news: /search WORDS"),
    ("export", "This chat's subscriptions and settings as a file"),
    ("forget", "Delete everything the bot keeps about this chat"),
    ("help", "How to use the bot"),
)
ADMIN_COMMANDS = (
    ("stats", "Delivery statistics"),
    ("sources", "News sources and their health"),
    ("source_add", "Add a source: /source_add URL [name]"),
    ("source_remove", "Remove a source and its articles: /source_remove ID"),
    ("source_pause", "Stop polling a source: /source_pause ID"),
    ("source_resume", "Poll a paused source again: /source_resume ID"),
    ("import", "Add the sources of an OPML file: /import, then send the file"),
    ("export sources", "Every source as an OPML file (plain /export is the chat's own data)"),
    ("channels", "Channels the bot posts to"),
    ("channel_add", "Post to a channel: /channel_add @name [key=value ...]"),
    ("channel_remove", "Stop posting to a channel: /channel_remove @name"),
    ("broadcast", "Send a message to every chat: /broadcast TEXT"),
    ("admins", "Owners, admins and moderators"),
    ("promote", "Give a role: /promote USER admin|moderator"),
    ("demote", "Take a role away: /demote USER"),
    ("audit", "The newest audit entries: /audit [N]"),
)
MODERATOR_COMMANDS = (
    ("queue", "Items held for review"),
    ("approve", "Approve a held item: /approve ID"),
    ("reject", "Reject a held item: /reject ID"),
    ("blocklist", "Hold items with these words: /blocklist add|remove|list WORDS"),
    ("takedown", "Retract a story everywhere: /takedown ARTICLE_ID [reason]"),
    ("ban", "Ignore a user and stop their news: /ban USER [reason]"),
    ("unban", "Lift a ban: /unban USER"),
    ("banned", "Banned users"),
)


def welcome_text(_: Translate, *, is_admin: bool, is_moderator: bool = False) -> str:
    return _(
        "<b>Welcome!</b> I bring you the newest stories as they are published.\n\n"
        "Send /subscribe to choose what you receive (/subscribe all for everything),"
        " or /subscribe category Sport, "
        "/subscribe keyword Baku to narrow it down. /latest shows what is new right now."
    ) + (
        "\n\n" + help_text(_, is_admin=is_admin, is_moderator=is_moderator)
        if is_admin or is_moderator
        else ""
    )


def help_text(_: Translate, *, is_admin: bool, is_moderator: bool = False) -> str:
    lines = [_("<b>Commands</b>")]
    lines += [f"/{name} — {_(description)}" for name, description in READER_COMMANDS]
    lines += ["", _("Subscribe to:"), f"<code>{escape(USAGE)}</code>"]
    if is_admin or is_moderator:
        lines += ["", _("<b>Moderation</b>")] + [
            f"/{name} — {escape(_(description))}" for name, description in MODERATOR_COMMANDS
        ]
    if is_admin:
        lines += ["", _("<b>Admin</b>")] + [
            f"/{name} — {escape(_(description))}" for name, description in ADMIN_COMMANDS
        ]
    return "\n".join(lines)
