"""/language and its buttons: the language the bot speaks in a chat."""

from __future__ import annotations

import time

from telegram import Chat, Message, Update

from bot.context import NewsContext
from bot.i18n import NATIVE_NAMES, _, supported
from bot.render import callbacks
from bot.render.language import language_keyboard, language_text
from bot.storage import chats
from handlers.common import may_configure, refresh_staff_menu, remember, role_of

NOT_ADMIN = _("Only the group's administrators can change its language.")
NOT_CHANNEL_ADMIN = _("Only the channel's administrators can change its language.")
GONE = _("This button no longer works.")


def _not_admin(update: Update) -> str:
    channel = update.effective_chat is not None and update.effective_chat.type == Chat.CHANNEL
    return NOT_CHANNEL_ADMIN if channel else NOT_ADMIN


async def language(update: Update, context: NewsContext) -> None:
    """Offer every language we speak as a button, each named in itself."""
    message = update.effective_message
    if message is None:
        return
    tr = context.translate()
    if not await may_configure(update, context):
        await message.reply_text(tr(_not_admin(update)))
        return
    await message.reply_text(language_text(tr), reply_markup=language_keyboard(tr.language))


async def on_language_button(update: Update, context: NewsContext) -> None:
    """Store the pressed language for this chat and redraw the buttons in it; always answer."""
    query, chat = update.callback_query, update.effective_chat
    if query is None:
        return
    message = query.message if isinstance(query.message, Message) else None
    try:
        code = supported(callbacks.language_choice(callbacks.decode(query.data)))
    except callbacks.CallbackDataError:
        code = None
    if code is None or chat is None or message is None:
        await query.answer(context.translate()(GONE))
        return
    if not await may_configure(update, context):
        await query.answer(context.translate()(_not_admin(update)), show_alert=True)
        return
    await remember(update, context)  # a chat first met through this button still gets its row
    await chats.set_language(context.db, chat_id=chat.id, language=code, now=time.time())
    context.chat_language = code
    tr = context.translate()
    if chat.type == Chat.PRIVATE and await role_of(context, query.from_user.id) is not None:
        await refresh_staff_menu(context, query.from_user.id)  # their menu follows their language
    await query.answer(tr("Language set: {language}.").format(language=NATIVE_NAMES.get(code, code)))
    await message.edit_text(language_text(tr), reply_markup=language_keyboard(code))
