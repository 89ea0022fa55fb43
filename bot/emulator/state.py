"""In-memory state of the emulated Telegram: chats, messages, updates, limits, faults and counters."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

__all__ = ["ApiError", "CallbackRecord", "Chat", "Emulator", "GlobalFault", "StoredMessage"]

logger = logging.getLogger(__name__)

JSON = dict[str, Any]

TRANSCRIPT_SIZE = 200_000
CHAT_TYPES = ("private", "group", "supergroup", "channel")
# Statuses a chat can be put in; each maps to the error Telegram answers a send with.
CHAT_FAULTS: dict[str, tuple[int, str]] = {
    "blocked": (403, "Forbidden: bot was blocked by the user"),
    "deactivated": (403, "Forbidden: user is deactivated"),
    "kicked": (403, "Forbidden: bot was kicked from the group chat"),
    "left": (403, "Forbidden: bot is not a member of the group chat"),
    "not_found": (400, "Bad Request: chat not found"),
    "no_rights": (400, "Bad Request: not enough rights to send text messages to the chat"),
    "migrate": (400, "Bad Request: group chat was upgraded to a supergroup chat"),
}
GLOBAL_FAULTS = ("delay", "server_error", "flood", "photo_url")
# What Telegram answers when it cannot download a photo given by URL (the photo_url fault).
PHOTO_URL_REFUSED = "Bad Request: failed to get HTTP URL content"
# Faults of every Bot API call, getMe and getUpdates included: a revoked token, a broken proxy.
API_FAULTS = ("unauthorized", "bad_gateway")
# Update kinds Telegram only sends when allowed_updates names them.
OPT_IN_UPDATES = ("chat_member", "message_reaction", "message_reaction_count")
_SERVER_ERRORS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class ApiError(Exception):
    """A Bot API error answer: HTTP status, description and optional response parameters."""

    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> JSON:
        """Return the JSON body Telegram sends for this error."""
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


@dataclass(slots=True)
class StoredMessage:
    """A message in a chat, as the emulator remembers it (bot messages are what readers received)."""

    seq: int
    chat_id: int
    message_id: int
    date: int
    t: float
    from_bot: bool
    method: str
    text: str | None = None
    html: str | None = None
    entities: list[JSON] = field(default_factory=list)
    reply_markup: JSON | None = None
    message_thread_id: int | None = None
    photo: list[JSON] | None = None
    document: JSON | None = None  # a Document object (file_id, file_name, mime_type, file_size)
    reply_to_message_id: int | None = None
    user_id: int | None = None
    author_signature: str | None = None  # a signed channel post
    edited: int = 0
    edit_date: int | None = None
    deleted: bool = False
    silent: bool = False  # sent with disable_notification: the reader's client made no sound
    link_preview_options: JSON | None = None  # as sent (text messages only)

    def to_control(self) -> JSON:
        """Return the control API view of this message."""
        return {
            "seq": self.seq,
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "message_thread_id": self.message_thread_id,
            "kind": "photo" if self.photo is not None else "document" if self.document else "text",
            "text": self.text,
            "html": self.html,
            "entities": self.entities,
            "reply_markup": self.reply_markup,
            "reply_to_message_id": self.reply_to_message_id,
            "date": self.date,
            "t": self.t,
            "edited": self.edited,
            "deleted": self.deleted,
            "method": self.method,
            "silent": self.silent,
            "link_preview_options": self.link_preview_options,
            "document": self.document,
        }


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file the emulator holds: a document a reader uploaded, or one the bot sent."""

    file_id: str
    file_unique_id: str
    file_name: str | None
    mime_type: str | None
    data: bytes
    file_path: str  # relative, as getFile answers it

    def document(self) -> JSON:
        """The Bot API Document object of this file."""
        result: JSON = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
        }
        if self.file_name is not None:
            result["file_name"] = self.file_name
        if self.mime_type is not None:
            result["mime_type"] = self.mime_type
        return result


@dataclass(slots=True)
class Chat:
    """A chat the emulator knows, with its messages, topics and injected fault."""

    id: int
    type: str
    title: str | None = None
    first_name: str | None = None
    username: str | None = None
    is_forum: bool = False
    admins: list[int] = field(default_factory=list)
    topics: dict[int, str] = field(default_factory=dict)
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    next_message_id: int = 1
    fault: str | None = None
    migrate_to: int | None = None
    # The bot's own membership as the last my_chat_member set it; None: an administrator.
    bot_status: str | None = None
    bot_can_post: bool = True  # a channel administrator's "Post messages" right

    def to_dict(self) -> JSON:
        """Return the Bot API Chat object."""
        chat: JSON = {"id": self.id, "type": self.type}
        if self.type == "private":
            chat["first_name"] = self.first_name or f"User {self.id}"
        else:
            chat["title"] = self.title or f"Chat {self.id}"
        if self.username:
            chat["username"] = self.username
        if self.is_forum:
            chat["is_forum"] = True
        return chat

    def to_control(self) -> JSON:
        """Return the control API view of this chat."""
        return {
            **self.to_dict(),
            "admins": list(self.admins),
            "topics": {str(k): v for k, v in self.topics.items()},
            "fault": self.fault,
            "migrate_to_chat_id": self.migrate_to,
            "messages": sum(1 for m in self.messages.values() if m.from_bot),
        }


@dataclass(slots=True)
class InlineQueryRecord:
    """An inline query injected for the bot, and the answer it gave (results as sent)."""

    id: str
    user_id: int
    query: str
    offset: str
    t: float
    answered: bool = False
    results: list[JSON] = field(default_factory=list)
    next_offset: str = ""

    def to_control(self) -> JSON:
        """Return the control API view of this inline query."""
        return {
            "id": self.id,
            "user_id": self.user_id,
            "query": self.query,
            "offset": self.offset,
            "t": self.t,
            "answered": self.answered,
            "results": self.results,
            "next_offset": self.next_offset,
        }


@dataclass(slots=True)
class CallbackRecord:
    """A callback query injected for the bot, and whether the bot answered it."""

    id: str
    chat_id: int
    message_id: int
    user_id: int
    data: str
    t: float
    answered: bool = False
    answer_text: str | None = None
    show_alert: bool = False

    def to_control(self) -> JSON:
        """Return the control API view of this callback query."""
        return {
            "id": self.id,
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "user_id": self.user_id,
            "data": self.data,
            "t": self.t,
            "answered": self.answered,
            "answer_text": self.answer_text,
            "show_alert": self.show_alert,
        }


@dataclass(slots=True)
class GlobalFault:
    """A server-wide fault: slow answers, 5xx answers or forced flood control."""

    kind: str
    remaining: int | None = None
    status: int = 502
    delay: float = 0.0
    retry_after: int = 5
    chat_id: int | None = None

    def to_control(self) -> JSON:
        """Return the control API view of this fault."""
        return {
            "kind": self.kind,
            "remaining": self.remaining,
            "status": self.status,
            "delay": self.delay,
            "retry_after": self.retry_after,
            "chat_id": self.chat_id,
        }


class _Window:
    """A sliding-window limit: at most `capacity` events in any `period` seconds."""

    __slots__ = ("capacity", "period")

    def __init__(self, limit: float, period: float) -> None:
        if limit <= 0:
            raise ValueError("a limit must be positive (use None to lift it)")
        # A fractional limit below 1 means one event per (period / limit) seconds.
        self.capacity = int(limit) if limit >= 1 else 1
        self.period = period if limit >= 1 else period / limit

    def retry_after(self, hits: deque[float], now: float) -> int | None:
        """Return whole seconds to wait when the window is full, else None; prunes old hits."""
        horizon = now - self.period
        while hits and hits[0] <= horizon:
            hits.popleft()
        if len(hits) < self.capacity:
            return None
        frees_at = hits[len(hits) - self.capacity] + self.period
        return max(1, math.ceil(frees_at - now))


class _Bucket:
    """A token bucket: `capacity` events at once, refilled at `rate` a second."""

    __slots__ = ("capacity", "rate")

    def __init__(self, capacity: int, rate: float) -> None:
        if capacity < 1 or rate <= 0:
            raise ValueError("a bucket needs a capacity of at least 1 and a positive rate")
        self.capacity = capacity
        self.rate = rate

    def level(self, state: list[float], now: float) -> float:
        """Tokens at `now`; `state` is [tokens, when] and is brought up to date."""
        tokens, when = state
        state[0] = min(float(self.capacity), tokens + max(0.0, now - when) * self.rate)
        state[1] = max(when, now)
        return state[0]

    def retry_after(self, state: list[float], now: float) -> int | None:
        """Return whole seconds until a token is free when the bucket is empty, else None."""
        tokens = self.level(state, now)
        if tokens >= 1.0:
            return None
        return max(1, math.ceil((1.0 - tokens) / self.rate))


def chat_type_for(chat_id: int) -> str:
    """Guess a chat type from its id as Telegram lays ids out."""
    if chat_id > 0:
        return "private"
    if chat_id <= -1_000_000_000_000:
        return "supergroup"
    return "group"


class Emulator:
    """The state of one emulated Bot API server; create_app() serves it over HTTP."""

    def __init__(
        self,
        *,
        global_per_second: float | None = 30,
        chat_per_second: float | None = 1,
        group_per_minute: float | None = 20,
        chat_burst: int = 5,
        bot_username: str = "newsbot_demo_bot",
        webhook_backoff: tuple[float, float] = (0.25, 8.0),
    ) -> None:
        self.bot_username = bot_username
        # A failed webhook delivery waits the first figure, doubling up to the second.
        self.webhook_backoff = webhook_backoff
        self.bot_first_name = "Newsbot Demo"
        self.bot_id = 1
        self.chats: dict[int, Chat] = {}
        self.users: dict[int, JSON] = {}
        self.webhook: JSON = {}
        self.commands: dict[str, list[JSON]] = {}
        self.bot_settings: JSON = {}
        self.file_ids: set[str] = set()
        self.files: dict[str, StoredFile] = {}
        self.global_faults: list[GlobalFault] = []
        self.api_faults: list[GlobalFault] = []
        self.updates: deque[JSON] = deque()
        self.allowed_updates: set[str] | None = None
        self.poll_generation = 0
        self.closing = False
        self._update_event: asyncio.Event | None = None
        self._webhook_event: asyncio.Event | None = None
        self._next_update_id = 1
        self._next_callback_id = 1
        self._next_file_id = 1
        self._global_hits: deque[float] = deque()
        self._chat_hits: dict[int, deque[float]] = {}
        self._chat_buckets: dict[int, list[float]] = {}  # private chat -> [tokens, when]
        self._global_limit: _Window | None = None
        self._chat_limit: _Bucket | None = None
        self._group_limit: _Window | None = None
        self.set_limits(
            global_per_second=global_per_second,
            chat_per_second=chat_per_second,
            group_per_minute=group_per_minute,
            chat_burst=chat_burst,
        )
        self._reset_records()

    def _reset_records(self) -> None:
        self.delivered: list[StoredMessage] = []
        self.transcript: deque[JSON] = deque(maxlen=TRANSCRIPT_SIZE)
        self.callbacks: dict[str, CallbackRecord] = {}
        self.inline_queries: dict[str, InlineQueryRecord] = {}
        self.seq = 0
        self.message_seq = 0
        self.requests = 0
        self.sent = 0
        self.edits = 0
        self.deletes = 0
        self.too_many = 0
        self.too_many_by_scope: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.by_method: Counter[str] = Counter()
        self.updates_queued = 0
        self.webhook_deliveries = 0
        self.webhook_failures = 0

    # --- limits -------------------------------------------------------------------------------

    def set_limits(
        self,
        *,
        global_per_second: float | None = 30,
        chat_per_second: float | None = 1,
        group_per_minute: float | None = 20,
        chat_burst: int = 5,
    ) -> None:
        """Replace the rate limits; None lifts a limit, omitted ones get Telegram's figure.

        A private chat is a token bucket: ``chat_burst`` messages at once, refilled at
        ``chat_per_second``; the same sustained rate, with the short burst Telegram tolerates
        (a reader's quick commands answered at once), and a 429 for anything faster for longer.
        """
        if chat_burst < 1:
            raise ValueError("chat_burst must be at least 1")
        self._global_limit = None if global_per_second is None else _Window(global_per_second, 1.0)
        self._chat_limit = None if chat_per_second is None else _Bucket(chat_burst, chat_per_second)
        self._group_limit = None if group_per_minute is None else _Window(group_per_minute, 60.0)
        self.limits = {
            "global_per_second": global_per_second,
            "chat_per_second": chat_per_second,
            "group_per_minute": group_per_minute,
            "chat_burst": chat_burst,
        }

    def check_rate(self, chat_id: int, now: float) -> None:
        """Raise a 429 when a send to chat_id at `now` would break a limit; consume nothing."""
        if self._global_limit is not None:
            wait = self._global_limit.retry_after(self._global_hits, now)
            if wait is not None:
                self._flood("global", wait)
        if chat_id > 0:
            state = self._chat_buckets.get(chat_id)
            if self._chat_limit is not None and state is not None:
                wait = self._chat_limit.retry_after(state, now)
                if wait is not None:
                    self._flood("chat", wait)
        elif self._group_limit is not None:
            hits = self._chat_hits.get(chat_id)
            if hits is not None:
                wait = self._group_limit.retry_after(hits, now)
                if wait is not None:
                    self._flood("group", wait)

    def record_send(self, chat_id: int, now: float) -> None:
        """Count a successful send against the windows."""
        if self._global_limit is not None:
            self._global_hits.append(now)
        if chat_id > 0:
            if self._chat_limit is not None:
                state = self._chat_buckets.setdefault(chat_id, [float(self._chat_limit.capacity), now])
                self._chat_limit.level(state, now)
                state[0] -= 1.0
        elif self._group_limit is not None:
            hits = self._chat_hits.get(chat_id)
            if hits is None:
                hits = self._chat_hits[chat_id] = deque()
            hits.append(now)

    def _flood(self, scope: str, retry_after: int) -> None:
        self.too_many += 1
        self.too_many_by_scope[scope] += 1
        raise ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})

    # --- faults -------------------------------------------------------------------------------

    def set_fault(
        self,
        kind: str,
        *,
        chat_id: int | None = None,
        new_chat_id: int | None = None,
        count: int | None = None,
        status: int | None = None,
        delay: float | None = None,
        retry_after: int | None = None,
    ) -> JSON:
        """Inject a fault; chat kinds need chat_id, global kinds may be narrowed to one chat."""
        if kind in API_FAULTS:
            api_fault = GlobalFault(kind=kind, remaining=count, status=401 if kind == "unauthorized" else 502)
            self.api_faults.append(api_fault)
            return api_fault.to_control()
        if kind in GLOBAL_FAULTS:
            if kind == "server_error" and status is not None and not 500 <= status <= 599:
                raise ValueError("server_error status must be 5xx")
            fault = GlobalFault(
                kind=kind,
                remaining=count,
                status=status or 502,
                delay=float(delay or 0.0),
                retry_after=max(1, int(retry_after or 5)),
                chat_id=chat_id,
            )
            if kind == "delay" and fault.delay <= 0:
                raise ValueError("delay fault needs delay > 0")
            self.global_faults.append(fault)
            return fault.to_control()
        if kind not in CHAT_FAULTS:
            raise ValueError(f"unknown fault kind {kind!r}")
        if chat_id is None:
            raise ValueError(f"fault {kind!r} needs chat_id")
        chat = self.ensure_chat(chat_id)
        chat.fault = kind
        if kind == "migrate":
            if chat.type != "group":
                raise ValueError("only a group can migrate to a supergroup")
            target = new_chat_id if new_chat_id is not None else int(f"-100{abs(chat_id)}")
            chat.migrate_to = target
            self.add_chat(target, "supergroup", title=chat.title, username=chat.username, admins=chat.admins)
        return chat.to_control()

    def clear_faults(self, chat_id: int | None = None) -> None:
        """Remove injected faults (of one chat, or all)."""
        if chat_id is not None:
            chat = self.chats.get(chat_id)
            if chat is not None:
                chat.fault = None
                chat.migrate_to = None
            self.global_faults = [f for f in self.global_faults if f.chat_id != chat_id]
            return
        for chat in self.chats.values():
            chat.fault = None
            chat.migrate_to = None
        self.global_faults = []
        self.api_faults = []

    def take_api_fault(self) -> str | None:
        """Consume the first fault that applies to every Bot API call: its kind, or None."""
        if not self.api_faults:
            return None
        fault = self.api_faults[0]
        if fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining <= 0:
                self.api_faults.pop(0)
        return fault.kind

    def take_photo_fault(self, chat_id: int) -> bool:
        """Consume a photo_url fault that applies to this chat: True when the photo must be refused."""
        for fault in self.global_faults:
            if fault.kind != "photo_url" or (fault.chat_id is not None and fault.chat_id != chat_id):
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.global_faults.remove(fault)
            return True
        return False

    def take_send_fault(self, chat_id: int | None) -> tuple[float, ApiError | None]:
        """Consume the global faults that apply to a send: (delay seconds, error to answer)."""
        delay = 0.0
        error: ApiError | None = None
        for fault in self.global_faults:
            if fault.chat_id is not None and fault.chat_id != chat_id:
                continue
            if fault.kind == "delay":
                delay += fault.delay
            elif error is None and fault.kind == "server_error":
                error = ApiError(fault.status, _SERVER_ERRORS.get(fault.status, "Internal Server Error"))
            elif error is None and fault.kind == "flood":
                self.too_many += 1
                self.too_many_by_scope["flood"] += 1
                error = ApiError(
                    429,
                    f"Too Many Requests: retry after {fault.retry_after}",
                    {"retry_after": fault.retry_after},
                )
            else:
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
        if any(f.remaining is not None and f.remaining <= 0 for f in self.global_faults):
            self.global_faults = [f for f in self.global_faults if f.remaining is None or f.remaining > 0]
        return delay, error

    # --- chats and users ----------------------------------------------------------------------

    def add_chat(
        self,
        chat_id: int,
        chat_type: str | None = None,
        *,
        title: str | None = None,
        first_name: str | None = None,
        username: str | None = None,
        is_forum: bool = False,
        admins: list[int] | None = None,
    ) -> Chat:
        """Create or replace a chat (its messages are kept when it already existed)."""
        kind = chat_type or chat_type_for(chat_id)
        if kind not in CHAT_TYPES:
            raise ValueError(f"chat type must be one of {', '.join(CHAT_TYPES)}")
        if (kind == "private") != (chat_id > 0):
            raise ValueError("private chats have positive ids, other chats negative ones")
        if is_forum and kind != "supergroup":
            raise ValueError("only supergroups can be forums")
        old = self.chats.get(chat_id)
        chat = Chat(
            id=chat_id,
            type=kind,
            title=title,
            first_name=first_name,
            username=username.lstrip("@") if username else None,
            is_forum=is_forum,
            admins=list(admins or []),
        )
        if old is not None:
            chat.messages = old.messages
            chat.next_message_id = old.next_message_id
            chat.topics = old.topics
        self.chats[chat_id] = chat
        if kind == "private":
            self.ensure_user(chat_id, first_name=first_name, username=chat.username)
        return chat

    def ensure_chat(self, chat_id: int, chat_type: str | None = None, **details: Any) -> Chat:
        """Return the chat, creating it from what an update tells about it."""
        chat = self.chats.get(chat_id)
        if chat is None:
            chat = self.add_chat(chat_id, chat_type, **details)
        return chat

    def ensure_user(
        self,
        user_id: int,
        *,
        first_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
    ) -> JSON:
        """Return the Bot API User object for a reader, creating or updating it."""
        user = self.users.get(user_id)
        if user is None:
            user = {"id": user_id, "is_bot": False, "first_name": first_name or f"User {user_id}"}
            self.users[user_id] = user
        elif first_name:
            user["first_name"] = first_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        return user

    def bot_user(self) -> JSON:
        """Return the bot's own User object."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def find_chat(self, ref: int | str) -> Chat | None:
        """Find a chat by id or @username."""
        if isinstance(ref, str):
            name = ref.lstrip("@").lower()
            return next((c for c in self.chats.values() if (c.username or "").lower() == name), None)
        return self.chats.get(ref)

    def new_message(
        self,
        chat: Chat,
        *,
        from_bot: bool,
        method: str,
        now: float,
        **fields: Any,
    ) -> StoredMessage:
        """Store a new message in chat with the next message id."""
        self.message_seq += 1
        message = StoredMessage(
            seq=self.message_seq,
            chat_id=chat.id,
            message_id=chat.next_message_id,
            date=int(now),
            t=now,
            from_bot=from_bot,
            method=method,
            **fields,
        )
        chat.next_message_id += 1
        chat.messages[message.message_id] = message
        if from_bot:
            self.delivered.append(message)
        return message

    def new_file_id(self, prefix: str) -> str:
        """Issue a file id the bot may send again later."""
        file_id = f"{prefix}{self._next_file_id:08d}EMU"
        self._next_file_id += 1
        self.file_ids.add(file_id)
        return file_id

    def store_file(self, data: bytes, *, file_name: str | None, mime_type: str | None) -> StoredFile:
        """Keep a document's bytes under a new file id, for getFile and the file download path."""
        file_id = self.new_file_id("BQAC")
        suffix = ""
        if file_name and "." in file_name:
            suffix = "." + "".join(c for c in file_name.rsplit(".", 1)[1] if c.isalnum())[:10]
        stored = StoredFile(
            file_id=file_id,
            file_unique_id=f"AgAD{file_id[4:16]}",
            file_name=file_name,
            mime_type=mime_type,
            data=data,
            file_path=f"documents/file_{len(self.files)}{suffix}",
        )
        self.files[file_id] = stored
        return stored

    def file_by_path(self, file_path: str) -> StoredFile | None:
        """The file getFile gave this path."""
        return next((f for f in self.files.values() if f.file_path == file_path), None)

    def new_callback_id(self) -> str:
        """Issue a callback query id."""
        callback_id = str(4_000_000_000_000_000 + self._next_callback_id)
        self._next_callback_id += 1
        return callback_id

    # --- updates ------------------------------------------------------------------------------

    def push_update(self, update: JSON) -> int:
        """Queue an update for getUpdates and wake long pollers; return its update_id."""
        update_id = self._next_update_id
        self._next_update_id += 1
        update["update_id"] = update_id
        self.updates.append(update)
        self.updates_queued += 1
        self.wake_pollers()
        return update_id

    def wake_pollers(self) -> None:
        """Wake every waiting getUpdates call."""
        if self._update_event is not None:
            self._update_event.set()
            self._update_event = None

    def update_event(self) -> asyncio.Event:
        """Return the event the next update (or a newer poller) will set."""
        if self._update_event is None:
            self._update_event = asyncio.Event()
        return self._update_event

    def set_webhook(self, hook: JSON) -> None:
        """Replace the webhook settings ({} deletes it) and wake whoever waits on the old ones."""
        self.webhook = hook
        if self._webhook_event is not None:
            self._webhook_event.set()
            self._webhook_event = None
        self.wake_pollers()

    def webhook_changed(self) -> asyncio.Event:
        """Return the event the next setWebhook or deleteWebhook will set."""
        if self._webhook_event is None:
            self._webhook_event = asyncio.Event()
        return self._webhook_event

    def confirm_updates(self, offset: int) -> None:
        """Forget updates below offset; a negative offset keeps only the last -offset ones."""
        if offset < 0:
            while len(self.updates) > -offset:
                self.updates.popleft()
            return
        while self.updates and self.updates[0]["update_id"] < offset:
            self.updates.popleft()

    def pending_updates(self, limit: int) -> list[JSON]:
        """Return up to limit queued updates of the allowed types."""
        allowed = self.allowed_updates
        result: list[JSON] = []
        for update in self.updates:
            if allowed is not None:
                if not any(key in allowed for key in update if key != "update_id"):
                    continue
            elif any(key in update for key in OPT_IN_UPDATES):
                continue
            result.append(update)
            if len(result) >= limit:
                break
        return result

    # --- control views ------------------------------------------------------------------------

    def record_call(self, method: str, params: JSON, status: int, description: str | None) -> None:
        """Append one Bot API call to the transcript and count it."""
        self.seq += 1
        entry: JSON = {
            "seq": self.seq,
            "t": time.time(),
            "method": method,
            "params": params,
            "status": status,
            "ok": status == 200,
        }
        if description is not None:
            entry["description"] = description
            if status != 429:
                self.errors[str(status)] += 1
        self.transcript.append(entry)
        self.by_method[method] += 1

    def messages_view(self, chat_id: int | None = None, since: int = 0) -> list[JSON]:
        """Return the messages the bot delivered (optionally in one chat) after seq `since`."""
        if chat_id is not None:
            chat = self.chats.get(chat_id)
            if chat is None:
                return []
            found = [m for m in chat.messages.values() if m.from_bot and m.seq > since]
            found.sort(key=lambda m: m.seq)
            return [m.to_control() for m in found]
        return [m.to_control() for m in self.delivered if m.seq > since]

    def transcript_view(self, since: int = 0) -> list[JSON]:
        """Return the recorded Bot API calls after seq `since`."""
        if not self.transcript:
            return []
        # Seqs are consecutive, so the start index is arithmetic; islice avoids deque's O(n) indexing.
        start = max(0, since - self.transcript[0]["seq"] + 1)
        return list(islice(self.transcript, start, None))

    def stats(self) -> JSON:
        """Return the counters tests and benchmarks read."""
        answered = sum(1 for c in self.callbacks.values() if c.answered)
        return {
            "requests": self.requests,
            "sent": self.sent,
            "429": self.too_many,
            "429_by_scope": dict(self.too_many_by_scope),
            "errors": dict(self.errors),
            "by_method": dict(self.by_method),
            "edits": self.edits,
            "deletes": self.deletes,
            "messages": len(self.delivered),
            "callbacks": len(self.callbacks),
            "callbacks_answered": answered,
            "callbacks_unanswered": len(self.callbacks) - answered,
            "updates_queued": self.updates_queued,
            "updates_pending": len(self.updates),
            "webhook_deliveries": self.webhook_deliveries,
            "webhook_failures": self.webhook_failures,
            "chats": len(self.chats),
            "limits": dict(self.limits),
            "faults": [f.to_control() for f in [*self.api_faults, *self.global_faults]]
            + [{"kind": c.fault, "chat_id": c.id} for c in self.chats.values() if c.fault],
        }

    def reset(self) -> None:
        """Clear messages, transcript, callbacks and counters; chats, limits and faults stay."""
        for chat in self.chats.values():
            chat.messages.clear()
        self._global_hits.clear()
        self._chat_hits.clear()
        self._chat_buckets.clear()
        self._reset_records()
