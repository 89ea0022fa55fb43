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
    ("latest", "The newest items"),
    ("summary", "Summary of an article: /summary ID or URL"),
    ("related", "Related reads: /related ID or URL"),
    ("search", "Search the news: /search WORDS"),
    ("help", "How to use the bot"),
)
ADMIN_COMMANDS = (
    ("stats", "Delivery statistics"),
    ("sources", "News sources and their health"),
    ("source_add", "Add a source: /source_add URL [name]"),
    ("source_remove", "Remove a source and its articles: /source_remove ID"),
    ("source_pause", "Stop polling a source: /source_pause ID"),
    ("source_resume", "Poll a paused source again: /source_resume ID"),
)


def welcome_text(_: Translate, *, is_admin: bool) -> str:
    return _(
        "<b>Welcome!</b> I bring you the newest stories as they are published.\n\n"
        "Send /subscribe to choose what you receive (/subscribe all for everything),"
        " or /subscribe category Sport, "
        "/subscribe keyword Baku to narrow it down. /latest shows what is new right now."
    ) + ("\n\n" + help_text(_, is_admin=is_admin) if is_admin else "")


def help_text(_: Translate, *, is_admin: bool) -> str:
    lines = [_("<b>Commands</b>")]
    lines += [f"/{name} — {_(description)}" for name, description in READER_COMMANDS]
    lines += ["", _("Subscribe to:"), f"<code>{escape(USAGE)}</code>"]
    if is_admin:
        lines += ["", _("<b>Admin</b>")] + [
            f"/{name} — {_(description)}" for name, description in ADMIN_COMMANDS
        ]
    return "\n".join(lines)
