"""The texts of /start and /help, and the command list shown in Telegram's menu."""

from __future__ import annotations

from bot.i18n import Translate, _
from bot.render.html import escape
from bot.subscribing import USAGE

READER_COMMANDS = (
    ("start", _("Start receiving news")),
    ("subscribe", _("Choose what news you get")),
    ("unsubscribe", _("Stop some or all news")),
    ("mysubs", _("Your subscriptions, with buttons to remove them")),
    ("digest", _("One message a day at HH:MM, or off")),
    ("quiet", _("Quiet hours HH:MM-HH:MM, or off")),
    ("timezone", _("Your timezone, e.g. Europe/Istanbul")),
    ("settings", _("Sound, link preview, photo, short or long items")),
    ("latest", _("The newest items")),
    ("summary", _("Summary of an article: /summary ID or URL")),
    ("related", _("Related reads: /related ID or URL")),
    ("search", _("Search the news: /search WORDS")),
    ("language", _("The language I speak in this chat")),
    ("export", _("This chat's subscriptions and settings as a file")),
    ("forget", _("Delete everything the bot keeps about this chat")),
    ("help", _("How to use the bot")),
)
ADMIN_COMMANDS = (
    ("stats", _("Delivery statistics")),
    ("sources", _("News sources and their health")),
    ("source_add", _("Add a source: /source_add URL [name]")),
    ("source_remove", _("Remove a source and its articles: /source_remove ID")),
    ("source_pause", _("Stop polling a source: /source_pause ID")),
    ("source_resume", _("Poll a paused source again: /source_resume ID")),
    ("import", _("Add the sources of an OPML file: /import, then send the file")),
    ("channels", _("Channels the bot posts to")),
    ("channel_add", _("Post to a channel: /channel_add @name [key=value ...]")),
    ("channel_remove", _("Stop posting to a channel: /channel_remove @name")),
    ("broadcast", _("Send a message to every chat: /broadcast TEXT")),
    ("admins", _("Owners, admins and moderators")),
    ("promote", _("Give a role: /promote USER admin|moderator")),
    ("demote", _("Take a role away: /demote USER")),
    ("audit", _("The newest audit entries: /audit [N]")),
)
# A command with an argument, so not a menu entry (a menu command is one word): /help alone shows it.
ADMIN_HELP_ONLY = (
    ("export sources", _("Every source as an OPML file (plain /export is the chat's own data)")),
)
MODERATOR_COMMANDS = (
    ("queue", _("Items held for review")),
    ("approve", _("Approve a held item: /approve ID")),
    ("reject", _("Reject a held item: /reject ID")),
    ("blocklist", _("Hold items with these words: /blocklist add|remove|list WORDS")),
    ("takedown", _("Retract a story everywhere: /takedown ARTICLE_ID [reason]")),
    ("ban", _("Ignore a user and stop their news: /ban USER [reason]")),
    ("unban", _("Lift a ban: /unban USER")),
    ("banned", _("Banned users")),
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
            f"/{name} — {escape(_(description))}" for name, description in (*ADMIN_COMMANDS, *ADMIN_HELP_ONLY)
        ]
    return "\n".join(lines)
