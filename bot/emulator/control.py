"""What a reader does, played into the emulator: messages, button presses, blocking, raw updates."""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

from bot.emulator.api import member_dict, message_dict
from bot.emulator.entities import utf16_len
from bot.emulator.state import JSON, CallbackRecord, Chat, Emulator, InlineQueryRecord

__all__ = [
    "ControlError",
    "backdate",
    "inject_callback",
    "inject_chat_member",
    "inject_inline_query",
    "inject_message",
    "inject_raw",
]


class ControlError(Exception):
    """A control request that cannot be carried out (HTTP status and reason)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _int(body: JSON, key: str, default: int | None = None) -> int:
    value = body.get(key, default)
    if value is None:
        raise ControlError(400, f"{key} is required")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ControlError(400, f"{key} must be an integer") from None


def _optional_int(body: JSON, key: str) -> int | None:
    return None if body.get(key) is None else _int(body, key)


def _chat_for(emulator: Emulator, body: JSON, chat_id: int) -> Chat:
    """Return the chat an injected update happens in, creating it on first sight."""
    try:
        return emulator.ensure_chat(
            chat_id,
            body.get("chat_type"),
            title=body.get("title"),
            first_name=body.get("first_name") if chat_id > 0 else None,
            username=body.get("chat_username"),
        )
    except ValueError as exc:
        raise ControlError(400, str(exc)) from None


def _command_entities(text: str) -> list[JSON]:
    """Return the bot_command entity a Telegram client attaches to "/cmd[@bot] args"."""
    if not text.startswith("/") or len(text) < 2 or text[1].isspace():
        return []
    command = text.split(maxsplit=1)[0]
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]


def _unblock(emulator: Emulator, chat: Chat, user: JSON) -> None:
    """Play the unblock a Telegram client sends before a blocked user can write again."""
    chat.fault = None
    bot = emulator.bot_user()
    emulator.push_update(
        {
            "my_chat_member": {
                "chat": chat.to_dict(),
                "from": user,
                "date": int(time.time()),
                "old_chat_member": member_dict(bot, "kicked", chat.type),
                "new_chat_member": member_dict(bot, "member", chat.type),
            }
        }
    )


def inject_message(emulator: Emulator, body: JSON) -> JSON:
    """Queue a message update as a reader would send it; return update_id and message_id."""
    chat_id = _int(body, "chat_id")
    text = body.get("text")
    if not isinstance(text, str) or not text:
        raise ControlError(400, "text is required")
    chat = _chat_for(emulator, body, chat_id)
    if chat.type == "channel":
        return _inject_channel_post(emulator, chat, body, text)
    user_id = _int(body, "user_id", chat_id if chat_id > 0 else None)
    user = emulator.ensure_user(
        user_id,
        first_name=body.get("first_name"),
        username=body.get("username"),
        language_code=body.get("language_code"),
    )
    if chat.type == "private" and chat.fault == "blocked":
        _unblock(emulator, chat, user)
    reply_to = _optional_int(body, "reply_to_message_id")
    if reply_to is not None and reply_to not in chat.messages:
        raise ControlError(404, "no such message to reply to in this chat")
    thread = _optional_int(body, "message_thread_id")
    if thread is not None and chat.is_forum:
        chat.topics.setdefault(thread, f"Topic {thread}")
    elif not chat.is_forum:
        thread = None
    message = emulator.new_message(
        chat,
        from_bot=False,
        method="user",
        now=time.time(),
        text=text,
        entities=_command_entities(text),
        message_thread_id=thread,
        user_id=user_id,
        reply_to_message_id=reply_to,
    )
    update_id = emulator.push_update({"message": message_dict(emulator, chat, message)})
    return {"update_id": update_id, "message_id": message.message_id}


def inject_document(emulator: Emulator, body: JSON) -> JSON:
    """Queue a message carrying a file a reader uploads; return update_id, message_id and file_id."""
    chat_id = _int(body, "chat_id")
    name, content = body.get("file_name"), body.get("content")
    if not isinstance(name, str) or not name or not isinstance(content, str):
        raise ControlError(400, "file_name and content (base64) are required")
    try:
        data = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise ControlError(400, "content must be base64") from None
    chat = _chat_for(emulator, body, chat_id)
    user_id = _int(body, "user_id", chat_id if chat_id > 0 else None)
    emulator.ensure_user(user_id, first_name=body.get("first_name"))
    reply_to = _optional_int(body, "reply_to_message_id")
    if reply_to is not None and reply_to not in chat.messages:
        raise ControlError(404, "no such message to reply to in this chat")
    mime = body.get("mime_type")
    stored = emulator.store_file(data, file_name=name, mime_type=mime if isinstance(mime, str) else None)
    caption = body.get("caption") if isinstance(body.get("caption"), str) else None
    message = emulator.new_message(
        chat,
        from_bot=False,
        method="user",
        now=time.time(),
        text=caption,
        entities=_command_entities(caption) if caption else [],
        user_id=user_id,
        reply_to_message_id=reply_to,
        document=stored.document(),
    )
    update_id = emulator.push_update({"message": message_dict(emulator, chat, message)})
    return {"update_id": update_id, "message_id": message.message_id, "file_id": stored.file_id}


def _inject_channel_post(emulator: Emulator, chat: Chat, body: JSON, text: str) -> JSON:
    """Queue a channel post: sent as the channel, or, with ``signed``, naming its author too."""
    author = _optional_int(body, "user_id") if body.get("signed") else None
    signature = None
    if author is not None:
        user = emulator.ensure_user(author, first_name=body.get("first_name"))
        signature = str(user.get("first_name") or author)
    message = emulator.new_message(
        chat,
        from_bot=False,
        method="user",
        now=time.time(),
        text=text,
        entities=_command_entities(text),
        user_id=author,
        author_signature=signature,
    )
    update_id = emulator.push_update({"channel_post": message_dict(emulator, chat, message)})
    return {"update_id": update_id, "message_id": message.message_id}


def _callback_datas(markup: JSON | None) -> set[str]:
    rows = (markup or {}).get("inline_keyboard") or []
    return {b["callback_data"] for row in rows for b in row if isinstance(b, dict) and "callback_data" in b}


def inject_callback(emulator: Emulator, body: JSON) -> JSON:
    """Queue a button press on a bot message; return update_id and callback_query_id."""
    chat_id = _int(body, "chat_id")
    message_id = _int(body, "message_id")
    data = body.get("data")
    if not isinstance(data, str) or not data:
        raise ControlError(400, "data is required")
    chat = emulator.chats.get(chat_id)
    if chat is None:
        raise ControlError(404, "chat not found")
    message = chat.messages.get(message_id)
    if message is None or message.deleted or not message.from_bot:
        raise ControlError(404, "no such bot message in this chat")
    # A reader can only press buttons that exist; "force" lets tests forge data on purpose.
    if not body.get("force") and data not in _callback_datas(message.reply_markup):
        raise ControlError(400, "the message has no button with this callback_data (pass force to forge one)")
    user_id = _int(body, "user_id", chat_id if chat_id > 0 else None)
    user = emulator.ensure_user(user_id, first_name=body.get("first_name"))
    query_id = emulator.new_callback_id()
    update_id = emulator.push_update(
        {
            "callback_query": {
                "id": query_id,
                "from": user,
                "message": message_dict(emulator, chat, message),
                "chat_instance": str((chat_id * 2_654_435_761) % (1 << 62)),
                "data": data,
            }
        }
    )
    emulator.callbacks[query_id] = CallbackRecord(
        id=query_id, chat_id=chat_id, message_id=message_id, user_id=user_id, data=data, t=time.time()
    )
    return {"update_id": update_id, "callback_query_id": query_id}


def inject_inline_query(emulator: Emulator, body: JSON) -> JSON:
    """Queue an inline query (``@bot words`` typed in any chat); return update_id and inline_query_id."""
    user_id = _int(body, "user_id")
    query = body.get("query", "")
    offset = body.get("offset", "")
    if not isinstance(query, str) or len(query) > 256:
        raise ControlError(400, "query must be a string of at most 256 characters")
    if not isinstance(offset, str):
        raise ControlError(400, "offset must be a string")
    user = emulator.ensure_user(user_id, first_name=body.get("first_name"))
    query_id = emulator.new_callback_id()
    inline: JSON = {"id": query_id, "from": user, "query": query, "offset": offset}
    if isinstance(body.get("chat_type"), str):
        inline["chat_type"] = body["chat_type"]
    update_id = emulator.push_update({"inline_query": inline})
    emulator.inline_queries[query_id] = InlineQueryRecord(
        id=query_id, user_id=user_id, query=query, offset=offset, t=time.time()
    )
    return {"update_id": update_id, "inline_query_id": query_id}


_GONE_OR_MUTED = ("kicked", "left", "no_rights")


def inject_chat_member(emulator: Emulator, body: JSON) -> JSON:
    """Queue a my_chat_member update and apply it: kicked blocks sends, member restores them."""
    chat_id = _int(body, "chat_id")
    chat = _chat_for(emulator, body, chat_id)
    user_id = _int(body, "user_id", chat_id if chat_id > 0 else None)
    user = emulator.ensure_user(user_id, first_name=body.get("first_name"))
    old_status = str(body.get("old_status") or "member")
    new_status = str(body.get("new_status") or "member")
    can_post = body.get("can_post") is not False
    bot = emulator.bot_user()
    try:
        old_member = member_dict(bot, old_status, chat.type, can_post=chat.bot_can_post)
        new_member = member_dict(bot, new_status, chat.type, can_post=can_post)
    except ValueError as exc:
        raise ControlError(400, str(exc)) from None
    if chat.type == "private":
        if new_status == "kicked":
            chat.fault = "blocked"
        elif new_status == "member" and chat.fault == "blocked":
            chat.fault = None
    elif new_status in ("kicked", "left"):
        chat.fault = new_status
    elif new_status in ("member", "administrator", "creator") and chat.fault in _GONE_OR_MUTED:
        chat.fault = None
    if chat.type != "private":
        chat.bot_status, chat.bot_can_post = new_status, can_post
        # In a channel only an administrator with "Post messages" may post.
        if (
            chat.type == "channel"
            and chat.fault is None
            and not (new_status == "creator" or (new_status == "administrator" and can_post))
        ):
            chat.fault = "no_rights"
    update_id = emulator.push_update(
        {
            "my_chat_member": {
                "chat": chat.to_dict(),
                "from": user,
                "date": int(time.time()),
                "old_chat_member": old_member,
                "new_chat_member": new_member,
            }
        }
    )
    return {"update_id": update_id}


def backdate(emulator: Emulator, body: JSON) -> JSON:
    """Make a chat's bot messages (or one of them) older by ``seconds``: the 48-hour delete rule."""
    chat_id = _int(body, "chat_id")
    seconds = _int(body, "seconds")
    chat = emulator.chats.get(chat_id)
    if chat is None:
        raise ControlError(404, "chat not found")
    wanted = _optional_int(body, "message_id")
    changed = 0
    for message in chat.messages.values():
        if wanted is None or message.message_id == wanted:
            message.date -= seconds
            changed += 1
    return {"changed": changed}


def _learn_chat(emulator: Emulator, chat: Any) -> None:
    if isinstance(chat, dict) and isinstance(chat.get("id"), int) and chat["id"] not in emulator.chats:
        try:
            emulator.add_chat(
                chat["id"],
                chat.get("type"),
                title=chat.get("title"),
                first_name=chat.get("first_name"),
                username=chat.get("username"),
                is_forum=bool(chat.get("is_forum")),
            )
        except ValueError as exc:
            raise ControlError(400, f"bad chat in update: {exc}") from None


def inject_raw(emulator: Emulator, body: JSON) -> JSON:
    """Queue a raw update (update_id assigned); chats it mentions become known."""
    if not isinstance(body, dict) or not [k for k in body if k != "update_id"]:
        raise ControlError(400, "an update needs one of message, callback_query, my_chat_member, ...")
    update = {k: v for k, v in body.items() if k != "update_id"}
    for value in update.values():
        if isinstance(value, dict):
            _learn_chat(emulator, value.get("chat"))
            message = value.get("message")
            if isinstance(message, dict):
                _learn_chat(emulator, message.get("chat"))
    return {"update_id": emulator.push_update(update)}
