"""Bot API methods of the emulator: validate like Telegram, update the state, build Telegram's answers."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bot.emulator.entities import EntityParseError, parse_html, plain_entities, utf16_len
from bot.emulator.state import CHAT_FAULTS, JSON, PHOTO_URL_REFUSED, ApiError, Chat, Emulator, StoredMessage
from bot.emulator.webhook import is_loopback_url

__all__ = ["METHODS", "NOT_FOUND", "dispatch", "member_dict", "message_dict"]

logger = logging.getLogger(__name__)

Handler = Callable[[Emulator, JSON], Awaitable[Any]]

# lowercase name -> (canonical name, handler, counts as a message send for faults and limits)
METHODS: dict[str, tuple[str, Handler, bool]] = {}
NOT_FOUND: JSON = {"ok": False, "error_code": 404, "description": "Not Found"}

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
UPLOAD_LIMIT = 50 * 1024 * 1024  # what a bot may upload with sendDocument
DOWNLOAD_LIMIT = 20 * 1024 * 1024  # what getFile lets a bot download
CALLBACK_DATA_LIMIT = 64
BUTTONS_LIMIT = 100
ROW_LIMIT = 8
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_ADMIN_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_pin_messages",
    "can_manage_topics",
)
_RESTRICTED_FLAGS = (
    "can_change_info",
    "can_invite_users",
    "can_pin_messages",
    "can_send_messages",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
    "can_manage_topics",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_edit_tag",
)


DELETE_WINDOW = 48 * 3600
_WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)


def _method(name: str, *, send: bool = False) -> Callable[[Handler], Handler]:
    """Register a Bot API method under its case-insensitive name."""

    def register(handler: Handler) -> Handler:
        METHODS[name.lower()] = (name, handler, send)
        return handler

    return register


async def dispatch(emulator: Emulator, name: str, params: JSON) -> tuple[str, int, JSON]:
    """Run one Bot API call; return (canonical method name, HTTP status, JSON body)."""
    entry = METHODS.get(name.lower())
    if entry is None:
        return name, 404, NOT_FOUND
    canonical, handler, is_send = entry
    delay = 0.0
    try:
        if is_send and emulator.global_faults:
            delay, error = emulator.take_send_fault(_peek_chat_id(params))
            if error is not None:
                raise error
        result = await handler(emulator, params)
        status, body = 200, {"ok": True, "result": result}
    except ApiError as exc:
        status, body = exc.status, exc.body()
    except Exception:
        # An emulator bug must look like a server failure to the bot, and be loud in the log.
        logger.exception("emulator failed on %s", canonical)
        status, body = 500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}
    if delay > 0:
        # The send already happened: a slow answer is what makes a client time out on a delivered message.
        await asyncio.sleep(delay)
    return canonical, status, body


# --- parameters ---------------------------------------------------------------------------------


def _peek_chat_id(params: JSON) -> int | None:
    value = params.get("chat_id")
    return value if isinstance(value, int) else None


def _int(params: JSON, name: str, *, empty: str | None = None) -> int | None:
    """Return an integer parameter; raise `empty` when it is required and missing."""
    value = params.get(name)
    if value is None or value == "":
        if empty is not None:
            raise ApiError(400, empty)
        return None
    if isinstance(value, bool):
        raise ApiError(400, f"Bad Request: invalid {name} specified")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        pass
    try:
        # PTB may send durations such as getUpdates' timeout as floats ("10.0").
        return int(float(str(value).strip()))
    except ValueError:
        raise ApiError(400, f"Bad Request: invalid {name} specified") from None


def _bool(params: JSON, name: str) -> bool:
    value = params.get(name)
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return bool(value)


def _json(params: JSON, name: str, error: str) -> Any:
    value = params.get(name)
    if isinstance(value, str):
        if value == "":
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise ApiError(400, error) from None
    return value


def _chat(emulator: Emulator, params: JSON) -> Chat:
    """Resolve chat_id (an id or @username) to a known chat."""
    ref = params.get("chat_id")
    if ref is None or ref == "":
        raise ApiError(400, "Bad Request: chat_id is empty")
    chat: Chat | None = None
    if isinstance(ref, int) and not isinstance(ref, bool):
        chat = emulator.chats.get(ref)
    elif isinstance(ref, str):
        text = ref.strip()
        if text.lstrip("-").isdigit():
            chat = emulator.chats.get(int(text))
        elif text.startswith("@"):
            chat = emulator.find_chat(text)
    if chat is None:
        raise ApiError(400, "Bad Request: chat not found")
    return chat


def _check_fault(chat: Chat) -> None:
    """Answer a send the way Telegram does for a chat that blocked, left or migrated."""
    if chat.fault is None:
        return
    status, description = CHAT_FAULTS[chat.fault]
    if chat.fault == "migrate":
        raise ApiError(status, description, {"migrate_to_chat_id": chat.migrate_to})
    if chat.fault == "no_rights" and chat.type == "channel":
        description = "Bad Request: need administrator rights in the channel chat"
    if chat.fault in ("kicked", "left"):
        place = "channel chat" if chat.type == "channel" else f"{chat.type} chat"
        description = description.replace("group chat", place)
    raise ApiError(status, description)


def _target(emulator: Emulator, params: JSON) -> Chat:
    chat = _chat(emulator, params)
    _check_fault(chat)
    return chat


def _render(text: Any, parse_mode: Any, entities: Any, limit: int, too_long: str) -> tuple[str, list[JSON]]:
    """Turn text plus parse mode into (plain text, entities), enforcing the length limit."""
    source = "" if text is None else str(text)
    mode = str(parse_mode or "").lower()
    if mode == "html":
        try:
            plain, found = parse_html(source)
        except EntityParseError as exc:
            raise ApiError(400, f"Bad Request: can't parse entities: {exc.reason}") from None
    elif mode in ("markdownv2", "markdown"):
        plain, found = source, []  # documented leniency: Markdown is accepted as is
    elif mode == "":
        plain, found = (
            source,
            plain_entities(_json({"e": entities}, "e", "Bad Request: can't parse entities")),
        )
    else:
        raise ApiError(400, "Bad Request: unsupported parse_mode")
    if utf16_len(plain) > limit:
        raise ApiError(400, too_long)
    return plain, found


def _markup(params: JSON) -> JSON | None:
    """Validate reply_markup like Telegram; return the decoded markup."""
    bad_json = "Bad Request: can't parse reply keyboard markup JSON object"
    markup = _json(params, "reply_markup", bad_json)
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise ApiError(400, bad_json)
    if "inline_keyboard" not in markup:
        if not {"keyboard", "remove_keyboard", "force_reply"} & markup.keys():
            raise ApiError(400, bad_json)
        return markup
    rows = markup["inline_keyboard"]
    not_array = (
        'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
    )
    if not isinstance(rows, list):
        raise ApiError(400, not_array)
    total = 0
    for row in rows:
        if not isinstance(row, list):
            raise ApiError(400, not_array)
        if len(row) > ROW_LIMIT:
            raise ApiError(400, "Bad Request: reply markup is too long")
        total += len(row)
        for button in row:
            _check_button(button)
    if total > BUTTONS_LIMIT:
        raise ApiError(400, "Bad Request: reply markup is too long")
    return markup


def _check_button(button: Any) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise ApiError(
            400, 'Bad Request: can\'t parse inline keyboard button: Field "text" must be of type String'
        )
    if not any(key in button for key in _BUTTON_ACTIONS):
        raise ApiError(
            400,
            "Bad Request: can't parse inline keyboard button: "
            "Text buttons are unallowed in the inline keyboard",
        )
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= CALLBACK_DATA_LIMIT:
            raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    if "url" in button:
        url = button["url"]
        if not isinstance(url, str) or not url.lower().startswith(("http://", "https://", "tg://")):
            raise ApiError(400, f"Bad Request: inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")


def _inline(markup: JSON | None) -> JSON | None:
    """Return the part of a markup Telegram echoes in Message objects (inline keyboards only)."""
    return markup if markup is not None and "inline_keyboard" in markup else None


def _thread(chat: Chat, params: JSON) -> int | None:
    """Check message_thread_id: in a forum it must name a topic; elsewhere it is ignored."""
    thread = _int(params, "message_thread_id")
    if thread is None or not chat.is_forum:
        return None
    if thread not in chat.topics:
        raise ApiError(400, "Bad Request: message thread not found")
    return thread


def _reply_to(chat: Chat, params: JSON) -> int | None:
    """Check the message a send replies to; Telegram refuses a missing one unless told otherwise."""
    reply = _json(params, "reply_parameters", "Bad Request: can't parse reply parameters JSON object")
    allow_missing = _bool(params, "allow_sending_without_reply")
    target: int | None
    if isinstance(reply, dict) and "message_id" in reply:
        target = _int(reply, "message_id")
        allow_missing = allow_missing or bool(reply.get("allow_sending_without_reply"))
    else:
        target = _int(params, "reply_to_message_id")
    if target is None:
        return None
    found = chat.messages.get(target)
    if found is None or found.deleted:
        if allow_missing:
            return None
        raise ApiError(400, "Bad Request: message to be replied not found")
    return target


def _message(chat: Chat, params: JSON, not_found: str) -> StoredMessage:
    message_id = _int(params, "message_id", empty="Bad Request: message identifier is not specified")
    assert message_id is not None
    message = chat.messages.get(message_id)
    if message is None or message.deleted:
        raise ApiError(400, not_found)
    return message


# --- objects ------------------------------------------------------------------------------------


def message_dict(emulator: Emulator, chat: Chat, message: StoredMessage, *, nested: bool = True) -> JSON:
    """Build the Bot API Message object for a stored message."""
    result: JSON = {"message_id": message.message_id, "date": message.date, "chat": chat.to_dict()}
    if message.from_bot:
        if chat.type == "channel":
            result["sender_chat"] = result["chat"]
        else:
            result["from"] = emulator.bot_user()
    elif chat.type == "channel":
        # Posted as the channel; a channel that shows its authors also names who wrote it.
        result["sender_chat"] = result["chat"]
        if message.author_signature is not None:
            result["author_signature"] = message.author_signature
        if message.user_id is not None:
            result["from"] = emulator.ensure_user(message.user_id)
    elif message.user_id is not None:
        result["from"] = emulator.ensure_user(message.user_id)
    if message.message_thread_id is not None:
        result["message_thread_id"] = message.message_thread_id
        result["is_topic_message"] = True
    if message.photo is not None or message.document is not None:
        if message.photo is not None:
            result["photo"] = message.photo
        else:
            result["document"] = message.document
        if message.text:
            result["caption"] = message.text
            if message.entities:
                result["caption_entities"] = message.entities
    else:
        result["text"] = message.text or ""
        if message.entities:
            result["entities"] = message.entities
    inline = _inline(message.reply_markup)
    if inline is not None:
        result["reply_markup"] = inline
    if message.edit_date is not None:
        result["edit_date"] = message.edit_date
    if nested and message.reply_to_message_id is not None:
        replied = chat.messages.get(message.reply_to_message_id)
        if replied is not None:
            result["reply_to_message"] = message_dict(emulator, chat, replied, nested=False)
    return result


def member_dict(user: JSON, status: str, chat_type: str = "supergroup", *, can_post: bool = True) -> JSON:
    """Build a ChatMember object of the given status that PTB's ChatMember.de_json accepts."""
    member: JSON = {"user": user, "status": status}
    if status == "creator":
        member["is_anonymous"] = False
    elif status == "administrator":
        member.update({"can_be_edited": False, "is_anonymous": False})
        member.update(dict.fromkeys(_ADMIN_RIGHTS, True))
        if chat_type == "channel":
            member.update({"can_post_messages": can_post, "can_edit_messages": can_post})
    elif status == "kicked":
        member["until_date"] = 0
    elif status == "restricted":
        member.update({"is_member": True, "until_date": 0})
        member.update(dict.fromkeys(_RESTRICTED_FLAGS, False))
    elif status not in ("member", "left"):
        raise ValueError(f"unknown chat member status {status!r}")
    return member


def _photo_sizes(emulator: Emulator, source: str | None) -> list[JSON]:
    """Return the PhotoSize list Telegram makes from one upload (a known file id is reused)."""
    base = source if source is not None and source in emulator.file_ids else emulator.new_file_id("AgAC")
    return [
        {"file_id": base, "file_unique_id": f"u{base[-12:]}s", "width": 90, "height": 60, "file_size": 1200},
        {
            "file_id": base,
            "file_unique_id": f"u{base[-12:]}m",
            "width": 800,
            "height": 533,
            "file_size": 48000,
        },
    ]


# --- sending and editing ------------------------------------------------------------------------


def _admit_send(
    emulator: Emulator, chat: Chat, params: JSON, arrived: float
) -> tuple[JSON | None, int | None, int | None]:
    """Check what every new message shares (markup, topic, reply, rate) and count the send."""
    markup = _markup(params)
    thread = _thread(chat, params)
    reply_to = _reply_to(chat, params)
    emulator.check_rate(chat.id, arrived)
    emulator.record_send(chat.id, arrived)
    emulator.sent += 1
    return markup, thread, reply_to


_BAD_PREVIEW = "Bad Request: can't parse link preview options JSON object"


@_method("sendMessage", send=True)
async def send_message(emulator: Emulator, params: JSON) -> JSON:
    """Send a text message."""
    arrived = time.monotonic()
    chat = _target(emulator, params)
    text = params.get("text")
    if text is None or not str(text).strip():
        raise ApiError(400, "Bad Request: message text is empty")
    plain, entities = _render(
        text, params.get("parse_mode"), params.get("entities"), TEXT_LIMIT, "Bad Request: message is too long"
    )
    if not plain.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    preview = _json(params, "link_preview_options", _BAD_PREVIEW)
    if preview is not None and not isinstance(preview, dict):
        raise ApiError(400, _BAD_PREVIEW)
    markup, thread, reply_to = _admit_send(emulator, chat, params, arrived)
    message = emulator.new_message(
        chat,
        from_bot=True,
        method="sendMessage",
        now=time.time(),
        text=plain,
        html=str(text),
        entities=entities,
        reply_markup=markup,
        message_thread_id=thread,
        reply_to_message_id=reply_to,
        silent=_bool(params, "disable_notification"),
        link_preview_options=preview,
    )
    return message_dict(emulator, chat, message)


@_method("sendPhoto", send=True)
async def send_photo(emulator: Emulator, params: JSON) -> JSON:
    """Send a photo given as URL, file id or multipart upload."""
    arrived = time.monotonic()
    chat = _target(emulator, params)
    photo = params.get("photo")
    if isinstance(photo, str) and photo.startswith("attach://"):
        photo = params.get(photo[len("attach://") :])
    known: str | None = None
    if isinstance(photo, dict) and "_upload" in photo:
        pass  # a multipart upload: always fine
    elif isinstance(photo, str) and photo.strip():
        if photo in emulator.file_ids:
            known = photo
        elif not photo.lower().startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        elif emulator.take_photo_fault(chat.id):
            raise ApiError(400, PHOTO_URL_REFUSED)  # Telegram could not download the address
    else:
        raise ApiError(400, "Bad Request: there is no photo in the request")
    return _send_captioned(
        emulator, chat, params, arrived, method="sendPhoto", photo=_photo_sizes(emulator, known)
    )


@_method("sendDocument", send=True)
async def send_document(emulator: Emulator, params: JSON) -> JSON:
    """Send a file given as multipart upload, file id or URL; uploads are kept for getFile."""
    arrived = time.monotonic()
    chat = _target(emulator, params)
    document = params.get("document")
    if isinstance(document, str) and document.startswith("attach://"):
        document = params.get(document[len("attach://") :])
    if isinstance(document, dict) and "_upload" in document:
        data = document.get("_data")
        if not isinstance(data, bytes) or not data:
            raise ApiError(400, "Bad Request: file must be non-empty")
        if len(data) > UPLOAD_LIMIT:
            raise ApiError(413, "Request Entity Too Large")
        name = str(document.get("_upload") or "file")
        mime = document.get("mime_type")
        sent = emulator.store_file(data, file_name=name, mime_type=str(mime) if mime else None).document()
    elif isinstance(document, str) and document in emulator.files:
        sent = emulator.files[document].document()
    elif isinstance(document, str) and document.lower().startswith(("http://", "https://")):
        sent = {"file_id": emulator.new_file_id("BQAC"), "file_unique_id": "AgADurl", "file_size": 0}
    else:
        raise ApiError(400, "Bad Request: there is no document in the request")
    return _send_captioned(emulator, chat, params, arrived, method="sendDocument", document=sent)


def _send_captioned(
    emulator: Emulator, chat: Chat, params: JSON, arrived: float, *, method: str, **media: Any
) -> JSON:
    """The rest of a sendPhoto or sendDocument once its media is checked: caption, limits, message."""
    caption = params.get("caption")
    plain, entities = _render(
        caption,
        params.get("parse_mode"),
        params.get("caption_entities"),
        CAPTION_LIMIT,
        "Bad Request: message caption is too long",
    )
    markup, thread, reply_to = _admit_send(emulator, chat, params, arrived)
    message = emulator.new_message(
        chat,
        from_bot=True,
        method=method,
        now=time.time(),
        text=plain,
        html=None if caption is None else str(caption),
        entities=entities,
        reply_markup=markup,
        message_thread_id=thread,
        reply_to_message_id=reply_to,
        silent=_bool(params, "disable_notification"),
        **media,
    )
    return message_dict(emulator, chat, message)


@_method("getFile")
async def get_file(emulator: Emulator, params: JSON) -> JSON:
    """Name the path a file is downloaded from (``/file/bot<token>/<file_path>``)."""
    file_id = params.get("file_id")
    if not isinstance(file_id, str) or not file_id:
        raise ApiError(400, "Bad Request: file_id is empty")
    stored = emulator.files.get(file_id)
    if stored is None:
        raise ApiError(400, "Bad Request: invalid file_id")
    if len(stored.data) > DOWNLOAD_LIMIT:
        raise ApiError(400, "Bad Request: file is too big")
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": len(stored.data),
        "file_path": stored.file_path,
    }


def _editable(emulator: Emulator, params: JSON) -> tuple[Chat, StoredMessage]:
    if params.get("inline_message_id"):
        raise ApiError(400, "Bad Request: MESSAGE_ID_INVALID")  # inline messages are not emulated
    chat = _target(emulator, params)
    message = _message(chat, params, "Bad Request: message to edit not found")
    if not message.from_bot:
        raise ApiError(400, "Bad Request: message can't be edited")
    return chat, message


def _apply_edit(emulator: Emulator, chat: Chat, message: StoredMessage, arrived: float | None) -> JSON:
    if arrived is not None:
        emulator.record_send(chat.id, arrived)
    now = time.time()
    message.edited += 1
    message.edit_date = int(now)
    emulator.edits += 1
    return message_dict(emulator, chat, message)


@_method("editMessageText", send=True)
async def edit_message_text(emulator: Emulator, params: JSON) -> JSON:
    """Replace the text (and keyboard: omitting reply_markup removes it, as on Telegram)."""
    arrived = time.monotonic()
    chat, message = _editable(emulator, params)
    if message.photo is not None:
        raise ApiError(400, "Bad Request: there is no text in the message to edit")
    text = params.get("text")
    if text is None or not str(text).strip():
        raise ApiError(400, "Bad Request: message text is empty")
    plain, entities = _render(
        text, params.get("parse_mode"), params.get("entities"), TEXT_LIMIT, "Bad Request: message is too long"
    )
    if not plain.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    markup = _inline(_markup(params))
    if plain == message.text and entities == message.entities and markup == _inline(message.reply_markup):
        raise ApiError(400, _NOT_MODIFIED)
    emulator.check_rate(chat.id, arrived)
    message.text, message.html, message.entities, message.reply_markup = plain, str(text), entities, markup
    return _apply_edit(emulator, chat, message, arrived)


@_method("editMessageCaption", send=True)
async def edit_message_caption(emulator: Emulator, params: JSON) -> JSON:
    """Replace a photo's caption (and keyboard)."""
    arrived = time.monotonic()
    chat, message = _editable(emulator, params)
    if message.photo is None:
        raise ApiError(400, "Bad Request: there is no caption in the message to edit")
    caption = params.get("caption")
    plain, entities = _render(
        caption,
        params.get("parse_mode"),
        params.get("caption_entities"),
        CAPTION_LIMIT,
        "Bad Request: message caption is too long",
    )
    markup = _inline(_markup(params))
    if plain == message.text and entities == message.entities and markup == _inline(message.reply_markup):
        raise ApiError(400, _NOT_MODIFIED)
    emulator.check_rate(chat.id, arrived)
    html = None if caption is None else str(caption)
    message.text, message.html, message.entities, message.reply_markup = plain, html, entities, markup
    return _apply_edit(emulator, chat, message, arrived)


@_method("editMessageReplyMarkup")
async def edit_message_reply_markup(emulator: Emulator, params: JSON) -> JSON:
    """Replace or remove a message's inline keyboard."""
    chat, message = _editable(emulator, params)
    markup = _inline(_markup(params))
    if markup == _inline(message.reply_markup):
        raise ApiError(400, _NOT_MODIFIED)
    message.reply_markup = markup
    # Keyboard-only edits are not flood-limited here: the brief limits text and caption edits.
    return _apply_edit(emulator, chat, message, None)


@_method("deleteMessage")
async def delete_message(emulator: Emulator, params: JSON) -> bool:
    """Mark a message deleted (kept for tests to inspect)."""
    chat = _chat(emulator, params)
    message = _message(chat, params, "Bad Request: message to delete not found")
    if message.deleted:
        raise ApiError(400, "Bad Request: message to delete not found")
    if time.time() - message.date > DELETE_WINDOW:
        # Telegram lets a bot delete a message for 48 hours after it was sent.
        raise ApiError(400, "Bad Request: message can't be deleted for everyone")
    message.deleted = True
    emulator.deletes += 1
    return True


@_method("sendChatAction")
async def send_chat_action(emulator: Emulator, params: JSON) -> bool:
    """Accept a typing indicator."""
    _target(emulator, params)
    if not params.get("action"):
        raise ApiError(400, "Bad Request: action is empty")
    return True


@_method("answerCallbackQuery")
async def answer_callback_query(emulator: Emulator, params: JSON) -> bool:
    """Record the bot's answer to a callback query; a query can be answered once."""
    query_id = str(params.get("callback_query_id") or "")
    record = emulator.callbacks.get(query_id)
    if record is None or record.answered:
        raise ApiError(
            400, "Bad Request: query is too old and response timeout expired or query ID is invalid"
        )
    text = params.get("text")
    if text is not None and len(str(text)) > 200:
        raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
    record.answered = True
    record.answer_text = None if text is None else str(text)
    record.show_alert = _bool(params, "show_alert")
    return True


_INLINE_TYPES = frozenset({"article", "photo", "gif", "mpeg4_gif", "video", "audio", "voice", "document"})


def _check_inline_result(result: Any, seen: set[str]) -> JSON:
    if not isinstance(result, dict):
        raise ApiError(400, "Bad Request: RESULT_TYPE_INVALID")
    if result.get("type") not in _INLINE_TYPES:
        raise ApiError(400, "Bad Request: RESULT_TYPE_INVALID")
    result_id = str(result.get("id") or "")
    if not result_id or len(result_id.encode()) > 64 or result_id in seen:
        raise ApiError(
            400,
            "Bad Request: RESULT_ID_INVALID" if result_id not in seen else "Bad Request: RESULT_ID_DUPLICATE",
        )
    seen.add(result_id)
    if result["type"] == "article":
        if not str(result.get("title") or "").strip():
            raise ApiError(400, "Bad Request: RESULT_TITLE_EMPTY")
        content = result.get("input_message_content")
        if not isinstance(content, dict) or not str(content.get("message_text") or "").strip():
            raise ApiError(400, "Bad Request: MESSAGE_EMPTY")
        # The message the reader would send must itself be valid: length and markup.
        _render(
            content["message_text"],
            content.get("parse_mode"),
            content.get("entities"),
            TEXT_LIMIT,
            "Bad Request: MESSAGE_TOO_LONG",
        )
    if result.get("reply_markup") is not None:
        _markup({"reply_markup": result["reply_markup"]})
    return result


@_method("answerInlineQuery")
async def answer_inline_query(emulator: Emulator, params: JSON) -> bool:
    """Record the bot's answer to an inline query: at most 50 results, once per query."""
    query_id = str(params.get("inline_query_id") or "")
    record = emulator.inline_queries.get(query_id)
    if record is None or record.answered:
        raise ApiError(
            400, "Bad Request: query is too old and response timeout expired or query ID is invalid"
        )
    results = _json(params, "results", "Bad Request: can't parse inline query results")
    if not isinstance(results, list):
        raise ApiError(400, "Bad Request: can't parse inline query results")
    if len(results) > 50:
        raise ApiError(400, "Bad Request: RESULTS_TOO_MUCH")
    next_offset = str(params.get("next_offset") or "")
    if len(next_offset.encode()) > 64:
        raise ApiError(400, "Bad Request: NEXT_OFFSET_INVALID")
    seen: set[str] = set()
    record.results = [_check_inline_result(r, seen) for r in results]
    record.next_offset = next_offset
    record.answered = True
    return True


# --- chats --------------------------------------------------------------------------------------


@_method("getChat")
async def get_chat(emulator: Emulator, params: JSON) -> JSON:
    """Return a ChatFullInfo object."""
    chat = _chat(emulator, params)
    info = chat.to_dict()
    info.update(
        {
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }
    )
    return info


def _member(emulator: Emulator, chat: Chat, user_id: int) -> JSON:
    if user_id == emulator.bot_id:
        status = "member" if chat.type == "private" else (chat.bot_status or "administrator")
        return member_dict(emulator.bot_user(), status, chat.type, can_post=chat.bot_can_post)
    if chat.type == "private" and user_id != chat.id:
        raise ApiError(400, "Bad Request: user not found")
    user = emulator.ensure_user(user_id)
    if chat.type != "private" and chat.admins:
        if user_id == chat.admins[0]:
            return member_dict(user, "creator", chat.type)
        if user_id in chat.admins:
            return member_dict(user, "administrator", chat.type)
    return member_dict(user, "member", chat.type)


@_method("getChatMember")
async def get_chat_member(emulator: Emulator, params: JSON) -> JSON:
    """Return a member's status: the first listed admin is the creator, the bot an administrator."""
    chat = _chat(emulator, params)
    user_id = _int(params, "user_id", empty="Bad Request: user_id is empty")
    assert user_id is not None
    return _member(emulator, chat, user_id)


@_method("getChatAdministrators")
async def get_chat_administrators(emulator: Emulator, params: JSON) -> list[JSON]:
    """List the creator, the administrators and the bot."""
    chat = _chat(emulator, params)
    if chat.type == "private":
        raise ApiError(400, "Bad Request: there are no administrators in the private chat")
    members = [_member(emulator, chat, user_id) for user_id in chat.admins]
    members.append(_member(emulator, chat, emulator.bot_id))
    return members


@_method("leaveChat")
async def leave_chat(emulator: Emulator, params: JSON) -> bool:
    """Leave a group; later sends answer 403 "bot is not a member"."""
    chat = _chat(emulator, params)
    if chat.type == "private":
        raise ApiError(400, "Bad Request: chat member status can't be changed in private chats")
    chat.fault = "left"
    return True


@_method("pinChatMessage")
async def pin_chat_message(emulator: Emulator, params: JSON) -> bool:
    """Accept pinning an existing message."""
    chat = _target(emulator, params)
    _message(chat, params, "Bad Request: message to pin not found")
    return True


@_method("unpinChatMessage")
async def unpin_chat_message(emulator: Emulator, params: JSON) -> bool:
    """Accept unpinning."""
    _target(emulator, params)
    return True


# --- the bot itself -----------------------------------------------------------------------------


@_method("getMe")
async def get_me(emulator: Emulator, params: JSON) -> JSON:
    """Return the bot's User object with the bot-only flags."""
    return {
        **emulator.bot_user(),
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


@_method("logOut")
async def log_out(emulator: Emulator, params: JSON) -> bool:
    """Accept logOut."""
    return True


@_method("close")
async def close(emulator: Emulator, params: JSON) -> bool:
    """Accept close."""
    return True


_SCOPES = {
    "default": (),
    "all_private_chats": (),
    "all_group_chats": (),
    "all_chat_administrators": (),
    "chat": ("chat_id",),
    "chat_administrators": ("chat_id",),
    "chat_member": ("chat_id", "user_id"),
}


def commands_key(scope: JSON | None, language_code: str | None) -> str:
    """Where a command list is kept: its scope (only the fields Telegram reads) and language."""
    scope = scope or {"type": "default"}
    kept = {"type": scope["type"]} | {f: int(scope[f]) for f in _SCOPES[scope["type"]]}
    return json.dumps([kept, language_code or ""], sort_keys=True)


def _commands_key(params: JSON) -> str:
    scope = _json(params, "scope", "Bad Request: can't parse BotCommandScope JSON object") or {
        "type": "default"
    }
    if not isinstance(scope, dict) or scope.get("type") not in _SCOPES:
        raise ApiError(400, "Bad Request: wrong parameter scope")
    for field in _SCOPES[scope["type"]]:
        if not isinstance(scope.get(field), int | str) or not str(scope[field]).lstrip("-").isdigit():
            raise ApiError(400, "Bad Request: chat not found")
    language = params.get("language_code") or ""
    # Telegram takes a two-letter ISO 639-1 code or nothing (all users without a dedicated list).
    if language and not (len(language) == 2 and language.isascii() and language.isalpha()):
        raise ApiError(400, "Bad Request: invalid language code specified")
    return commands_key(scope, language)


@_method("setMyCommands")
async def set_my_commands(emulator: Emulator, params: JSON) -> bool:
    """Store the command list for a scope and language."""
    commands = _json(params, "commands", "Bad Request: can't parse commands JSON object")
    if not isinstance(commands, list):
        raise ApiError(400, "Bad Request: can't parse commands JSON object")
    if len(commands) > 100:
        raise ApiError(400, "Bad Request: too many commands specified")
    for command in commands:
        if not isinstance(command, dict) or not _COMMAND_RE.fullmatch(str(command.get("command", ""))):
            raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        description = str(command.get("description", ""))
        if not description.strip():
            raise ApiError(400, "Bad Request: command description is empty")
        if len(description) > 256:
            raise ApiError(400, "Bad Request: command description is too long")
    emulator.commands[_commands_key(params)] = commands
    return True


@_method("getMyCommands")
async def get_my_commands(emulator: Emulator, params: JSON) -> list[JSON]:
    """Return the stored command list."""
    return emulator.commands.get(_commands_key(params), [])


@_method("deleteMyCommands")
async def delete_my_commands(emulator: Emulator, params: JSON) -> bool:
    """Forget the command list."""
    emulator.commands.pop(_commands_key(params), None)
    return True


def _store_setting(name: str) -> Handler:
    async def store(emulator: Emulator, params: JSON) -> bool:
        emulator.bot_settings[name] = dict(params)
        return True

    store.__doc__ = f"Store {name} parameters."
    return store


for _name in (
    "setMyDescription",
    "setMyShortDescription",
    "setMyName",
    "setChatMenuButton",
    "setMyDefaultAdministratorRights",
):
    _method(_name)(_store_setting(_name))


# --- updates ------------------------------------------------------------------------------------


@_method("setWebhook")
async def set_webhook(emulator: Emulator, params: JSON) -> bool:
    """Set the webhook updates are then POSTed to (loopback only); getUpdates answers 409 meanwhile."""
    url = str(params.get("url") or "")
    if url and not url.lower().startswith(("http://", "https://")):
        raise ApiError(400, "Bad Request: bad webhook: invalid webhook URL specified")
    if url and not is_loopback_url(url):
        # Telegram calls any public address; the emulator never reaches off the machine.
        raise ApiError(400, "Bad Request: bad webhook: the emulator calls only 127.0.0.1, ::1 or localhost")
    secret = params.get("secret_token")
    if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
        raise ApiError(400, "Bad Request: secret token contains unallowed characters")
    hook: JSON = {"url": url} if url else {}
    if url:
        for key in ("secret_token", "max_connections", "allowed_updates"):
            if params.get(key) is not None:
                hook[key] = params[key]
    allowed = _json(params, "allowed_updates", "Bad Request: can't parse allowed updates")
    if isinstance(allowed, list):
        # One setting of the bot, shared with getUpdates, as on Telegram.
        emulator.allowed_updates = {str(kind) for kind in allowed} or None
    if _bool(params, "drop_pending_updates"):
        emulator.updates.clear()
    emulator.set_webhook(hook)
    return True


@_method("deleteWebhook")
async def delete_webhook(emulator: Emulator, params: JSON) -> bool:
    """Remove the webhook; optionally drop pending updates."""
    if _bool(params, "drop_pending_updates"):
        emulator.updates.clear()
    emulator.set_webhook({})
    return True


@_method("getWebhookInfo")
async def get_webhook_info(emulator: Emulator, params: JSON) -> JSON:
    """Describe the webhook: where it points, what waits for it and why the last delivery failed."""
    info: JSON = {
        "url": emulator.webhook.get("url", ""),
        "has_custom_certificate": False,
        "pending_update_count": len(emulator.updates),
    }
    for key in ("max_connections", "allowed_updates", "last_error_date", "last_error_message"):
        if key in emulator.webhook:
            info[key] = emulator.webhook[key]
    return info


@_method("getUpdates")
async def get_updates(emulator: Emulator, params: JSON) -> list[JSON]:
    """Long-poll for updates; offset confirms earlier ones, a newer poller ends this one with 409."""
    if emulator.webhook.get("url"):
        raise ApiError(409, _WEBHOOK_ACTIVE)
    offset = _int(params, "offset") or 0
    limit = min(100, max(1, _int(params, "limit") or 100))
    timeout = max(0, _int(params, "timeout") or 0)
    allowed = _json(params, "allowed_updates", "Bad Request: can't parse allowed updates")
    if isinstance(allowed, list):
        # An empty list means "the default set", like on Telegram.
        emulator.allowed_updates = {str(kind) for kind in allowed} or None
    emulator.confirm_updates(offset)
    emulator.poll_generation += 1
    generation = emulator.poll_generation
    emulator.wake_pollers()
    result = emulator.pending_updates(limit)
    if result or timeout == 0:
        return result
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not result and not emulator.closing:
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        try:
            await asyncio.wait_for(emulator.update_event().wait(), remaining)
        except TimeoutError:
            break
        if generation != emulator.poll_generation:
            raise ApiError(
                409,
                "Conflict: terminated by other getUpdates request; "
                "make sure that only one bot instance is running",
            )
        if emulator.webhook.get("url"):
            raise ApiError(409, _WEBHOOK_ACTIVE)
        result = emulator.pending_updates(limit)
    return result
