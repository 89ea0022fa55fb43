"""HTTP face of the emulator: the Bot API under /bot<token>/<method> and the control API under /control.

Point PTB at it with ``ApplicationBuilder().base_url(running.base_url)``; tests, the demo and
benchmarks drive it through the control API (``EmulatorClient`` wraps every endpoint).

Bot API
    ``/bot<digits>:<secret>/<method>``, any HTTP verb; parameters from the query string, a form
    (urlencoded or multipart, non-strings JSON-encoded as PTB sends them) or a JSON body. Method
    names are case-insensitive. Answers ``{"ok": true, "result": ...}`` or
    ``{"ok": false, "error_code": N, "description": "...", "parameters": {...}}`` with HTTP status N.
    A malformed token answers 401 "Unauthorized", an unknown method 404 "Not Found".

Control API (JSON in and out; errors are ``{"ok": false, "error": "..."}`` with 400/404)
    ``GET  /control/health`` -> ``{"ok": true}``
    ``POST /control/chats`` ``{id, type: private|group|supergroup|channel, title?, first_name?,
        username?, is_forum?, admins?: [user ids, the first is the creator]}`` -> the chat
    ``GET  /control/chats`` -> ``[chat, ...]`` (with ``fault``, ``topics``, ``messages`` count)
    ``POST /control/chats/{id}/topics`` ``{message_thread_id, name}`` -> the chat (forums only)
    ``POST /control/updates/message`` ``{chat_id, user_id?, text, chat_type?, message_thread_id?,
        first_name?, username?, language_code?}`` -> ``{update_id, message_id}``; a text starting
        with "/" gets a ``bot_command`` entity; unknown chats and users are created; a message
        from a user who blocked the bot first queues the unblocking ``my_chat_member`` update.
        In a channel it is a ``channel_post`` sent as the channel (``sender_chat``); with
        ``signed: true`` it also carries ``author_signature`` and ``from`` (the author ``user_id``),
        as a channel that shows its authors' profiles sends it.
        ``reply_to_message_id`` makes the message a reply (to the bot's prompt, say).
    ``POST /control/updates/document`` ``{chat_id, user_id?, file_name, content (base64),
        mime_type?, caption?, reply_to_message_id?}`` -> ``{update_id, message_id, file_id}``: a
        reader uploads a file; a caption starting with "/" gets a ``bot_command`` caption entity.
        The bot reads it with getFile and ``GET /file/bot<token>/<file_path>`` (20 MB at most).
    ``GET  /control/files/{file_id}`` -> the bytes of a file (one the bot sent with sendDocument)
    ``POST /control/updates/callback`` ``{chat_id, user_id?, message_id, data, force?}`` ->
        ``{update_id, callback_query_id}``; ``data`` must be one of the message's buttons unless
        ``force`` is true.
    ``POST /control/updates/my_chat_member`` ``{chat_id, user_id?, old_status, new_status,
        chat_type?, can_post?}`` -> ``{update_id}``; private ``kicked`` blocks the chat (sends
        answer 403), ``member`` unblocks it; in groups ``kicked``/``left`` make sends answer 403.
        In a channel anything but ``administrator`` with ``can_post`` (default true) or
        ``creator`` makes sends answer 400 "need administrator rights in the channel chat", and
        getChatMember reports the bot's status and right as set here.
    ``POST /control/updates`` a raw update dict -> ``{update_id}`` (chats it names become known)
    ``GET  /control/messages?chat_id=&since=`` -> messages the bot delivered after message seq
        ``since``: ``[{seq, chat_id, message_id, message_thread_id, kind: text|photo, text (plain,
        or the caption), html (as sent), entities, reply_markup, reply_to_message_id, date, t
        (time.time()), edited (count), deleted, method, silent (sent with disable_notification),
        link_preview_options (as sent, text only), document}, ...]``; ``kind`` is ``document``
        for sendDocument, whose ``document`` holds ``file_id``, ``file_name``, ``mime_type``
    ``POST /control/messages/backdate`` ``{chat_id, seconds, message_id?}`` -> ``{changed}``
        ages a chat's messages (or one); deleteMessage refuses messages older than 48 hours.
    ``GET  /control/transcript?since=N`` -> every Bot API call after seq N: ``[{seq, t, method,
        params (decoded), status, ok, description?}, ...]`` (the last 200,000 are kept)
    ``POST /control/updates/inline`` ``{user_id, query, offset?, chat_type?}`` ->
        ``{update_id, inline_query_id}``: a reader typing ``@bot query`` in any chat.
    ``GET  /control/inline`` -> ``[{id, user_id, query, offset, t, answered, results, next_offset}]``.
    ``GET  /control/callbacks`` -> ``[{id, chat_id, message_id, user_id, data, t, answered,
        answer_text, show_alert}, ...]``
    ``GET  /control/stats`` -> ``{requests, sent, "429", "429_by_scope": {global, chat, group,
        flood}, errors: {"400": n, "403": n, ...}, by_method, edits, deletes, messages, callbacks,
        callbacks_answered, callbacks_unanswered, updates_queued, updates_pending, webhook_deliveries,
        webhook_failures, chats, limits, faults}``
    ``POST /control/faults`` ``{kind, chat_id?, new_chat_id?, count?, status?, delay?,
        retry_after?}`` -> the chat or the fault. Chat kinds (need chat_id, last until cleared):
        blocked, deactivated, kicked, left, not_found, no_rights, migrate (groups only; creates
        the supergroup ``new_chat_id``, default -100<id>). Global kinds (``chat_id`` narrows them
        to one chat, ``count`` limits them to the next N sends, else until cleared): delay
        (``delay`` seconds before answering each send, which is still delivered), server_error
        (``status``, default 502; nothing delivered), flood (429 with ``retry_after``, default 5),
        photo_url (sendPhoto by URL answers 400 "failed to get HTTP URL content", as when
        Telegram cannot download the picture; other sends are unaffected).
        "Sends" are sendMessage, sendPhoto, sendDocument, editMessageText and editMessageCaption.
        Kinds of every Bot API call (getMe and getUpdates too; ``count`` limits them): unauthorized
        (401 "Unauthorized", as for a revoked token), bad_gateway (502 with an HTML body that
        echoes the request path, token included, as a failing proxy does).
    ``DELETE /control/faults?chat_id=`` -> ``{"ok": true}`` clears one chat's faults, or all
    ``POST /control/limits`` ``{global_per_second?, chat_per_second?, group_per_minute?,
        chat_burst?}`` -> the limits; a missing key gets Telegram's figure (30, 1, 20, 5), null
        lifts that limit
    ``POST /control/reset`` -> ``{"ok": true}`` clears messages, transcript, callbacks and
        counters (chats, limits and faults stay)

Limits are sliding windows at request arrival over sends (as above): all chats ``global_per_second``
per second, a private chat ``chat_per_second`` per second after a burst of ``chat_burst`` (a
token bucket: the short burst Telegram tolerates), a group, supergroup or channel
``group_per_minute`` per minute. A refused send answers 429 with ``retry_after`` = whole seconds
until the window frees a slot, is not delivered and uses no quota.

Deliberate simplifications: ``message_thread_id`` is checked only in forums and ignored elsewhere;
Markdown parse modes are accepted as is; HTML mode is stricter than Telegram about a bare "&" (it
must be an entity) and requires the ";" of entities.

Webhooks: after setWebhook (loopback URLs only: 127.0.0.1, ::1, localhost; http allowed) each
queued update is POSTed as JSON to the URL, one at a time in order, with
``X-Telegram-Bot-Api-Secret-Token`` when a ``secret_token`` was set; a non-2xx answer or a failed
connection is retried with back-off (``Emulator(webhook_backoff=(first, cap))``) and shown by
getWebhookInfo's ``pending_update_count``, ``last_error_date`` and ``last_error_message``.
getUpdates answers 409 Conflict while a webhook is set; deleteWebhook goes back to polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import signal
from types import TracebackType
from typing import Any

from aiohttp import web

from bot.emulator.api import dispatch
from bot.emulator.control import (
    ControlError,
    backdate,
    inject_callback,
    inject_chat_member,
    inject_document,
    inject_inline_query,
    inject_message,
    inject_raw,
)
from bot.emulator.state import JSON, Emulator
from bot.emulator.webhook import deliver_webhooks

__all__ = ["EMULATOR_KEY", "RunningEmulator", "create_app", "serve"]

logger = logging.getLogger(__name__)

EMULATOR_KEY: web.AppKey[Emulator] = web.AppKey("emulator", Emulator)
_TOKEN_RE = re.compile(r"(\d+):.+")
_JSON_KEYS = frozenset(
    {
        "reply_markup",
        "allowed_updates",
        "entities",
        "caption_entities",
        "commands",
        "scope",
        "reply_parameters",
        "link_preview_options",
        "menu_button",
        "rights",
        "media",
    }
)
_INT_KEYS = frozenset(
    {"message_id", "message_thread_id", "offset", "limit", "timeout", "user_id", "reply_to_message_id"}
)
_UNAUTHORIZED = {"ok": False, "error_code": 401, "description": "Unauthorized"}


def _dumps(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _respond(status: int, body: Any) -> web.Response:
    return web.Response(status=status, body=_dumps(body), content_type="application/json")


def _decode(key: str, value: str) -> Any:
    """Undo PTB's form encoding for the parameters whose type is not a string."""
    if key in _JSON_KEYS:
        try:
            return json.loads(value)
        except ValueError:
            return value  # the method answers Telegram's "can't parse" error
    if key in _INT_KEYS or key == "chat_id":
        stripped = value.strip()
        if stripped.lstrip("-").isdigit():
            return int(stripped)
    return value


async def _read_params(request: web.Request) -> JSON:
    params: JSON = {k: _decode(k, v) for k, v in request.query.items()} if request.query_string else {}
    if not request.body_exists:
        return params
    content_type = request.content_type
    if content_type == "application/json":
        try:
            data = await request.json()
        except ValueError:
            data = None
        if isinstance(data, dict):
            params.update(data)
    elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                # The bytes go to the method (sendDocument keeps them for getFile), never to the
                # transcript: name, type and size are enough there.
                data = value.file.read()
                params[key] = {
                    "_upload": value.filename,
                    "size": len(data),
                    "mime_type": value.content_type,
                    "_data": data,
                }
            elif isinstance(value, str):
                params[key] = _decode(key, value)
            else:
                params[key] = _decode(key, bytes(value).decode("utf-8", "replace"))
    return params


async def _bot_api(request: web.Request) -> web.Response:
    emulator = request.app[EMULATOR_KEY]
    emulator.requests += 1
    method = request.match_info["method"]
    match = _TOKEN_RE.fullmatch(request.match_info["token"])
    if match is None:
        emulator.record_call(method, {}, 401, "Unauthorized")
        return _respond(401, _UNAUTHORIZED)
    emulator.bot_id = int(match.group(1))
    fault = emulator.take_api_fault()
    if fault == "unauthorized":
        emulator.record_call(method, {}, 401, "Unauthorized")
        return _respond(401, _UNAUTHORIZED)
    if fault == "bad_gateway":
        emulator.record_call(method, {}, 502, "Bad Gateway")
        page = f"<html><body><h1>502 Bad Gateway</h1><p>upstream failed: {request.path}</p></body></html>"
        return web.Response(status=502, text=page, content_type="text/html")
    params = await _read_params(request)
    name, status, body = await dispatch(emulator, method, params)
    logged = {
        k: {f: x for f, x in v.items() if f != "_data"} if isinstance(v, dict) and "_data" in v else v
        for k, v in params.items()
    }
    emulator.record_call(name, logged, status, None if status == 200 else body.get("description"))
    return _respond(status, body)


async def _download(request: web.Request) -> web.Response:
    """A file getFile named, under /file/bot<token>/<file_path>, as Telegram serves it."""
    emulator = request.app[EMULATOR_KEY]
    if _TOKEN_RE.fullmatch(request.match_info["token"]) is None:
        return _respond(401, _UNAUTHORIZED)
    stored = emulator.file_by_path(request.match_info["path"])
    if stored is None:
        return _respond(404, {"ok": False, "error_code": 404, "description": "Not Found"})
    return web.Response(body=stored.data, content_type="application/octet-stream")


async def _not_found(request: web.Request) -> web.Response:
    return _respond(404, {"ok": False, "error_code": 404, "description": "Not Found"})


# --- control API --------------------------------------------------------------------------------


async def _body(request: web.Request) -> JSON:
    if not request.body_exists:
        return {}
    try:
        data = await request.json()
    except ValueError:
        raise ControlError(400, "the body must be JSON") from None
    if not isinstance(data, dict):
        raise ControlError(400, "the body must be a JSON object")
    return data


def _query_int(request: web.Request, key: str) -> int | None:
    value = request.query.get(key)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise ControlError(400, f"{key} must be an integer") from None


@web.middleware
async def _control_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Turn control mistakes into JSON answers; the Bot API path never raises these."""
    try:
        response: web.StreamResponse = await handler(request)
    except ControlError as exc:
        return _respond(exc.status, {"ok": False, "error": exc.reason})
    except (ValueError, TypeError, KeyError) as exc:
        if not request.path.startswith("/control"):
            raise
        return _respond(400, {"ok": False, "error": f"{type(exc).__name__}: {exc}"})
    return response


async def _health(request: web.Request) -> web.Response:
    return _respond(200, {"ok": True})


async def _add_chat(request: web.Request) -> web.Response:
    body = await _body(request)
    if "id" not in body:
        raise ControlError(400, "id is required")
    chat = request.app[EMULATOR_KEY].add_chat(
        int(body["id"]),
        body.get("type"),
        title=body.get("title"),
        first_name=body.get("first_name"),
        username=body.get("username"),
        is_forum=bool(body.get("is_forum", False)),
        admins=[int(a) for a in body.get("admins") or []],
    )
    return _respond(200, chat.to_control())


async def _backdate(request: web.Request) -> web.Response:
    return _respond(200, backdate(request.app[EMULATOR_KEY], await _body(request)))


async def _list_chats(request: web.Request) -> web.Response:
    return _respond(200, [c.to_control() for c in request.app[EMULATOR_KEY].chats.values()])


async def _add_topic(request: web.Request) -> web.Response:
    emulator = request.app[EMULATOR_KEY]
    chat = emulator.chats.get(int(request.match_info["chat_id"]))
    if chat is None:
        raise ControlError(404, "chat not found")
    if not chat.is_forum:
        raise ControlError(400, "topics exist only in forum supergroups (create the chat with is_forum)")
    body = await _body(request)
    thread = int(body["message_thread_id"])
    chat.topics[thread] = str(body.get("name") or f"Topic {thread}")
    return _respond(200, chat.to_control())


async def _inject_message(request: web.Request) -> web.Response:
    return _respond(200, inject_message(request.app[EMULATOR_KEY], await _body(request)))


async def _inject_document(request: web.Request) -> web.Response:
    return _respond(200, inject_document(request.app[EMULATOR_KEY], await _body(request)))


async def _file_content(request: web.Request) -> web.Response:
    stored = request.app[EMULATOR_KEY].files.get(request.match_info["file_id"])
    if stored is None:
        raise ControlError(404, "no such file")
    return web.Response(body=stored.data, content_type="application/octet-stream")


async def _inject_callback(request: web.Request) -> web.Response:
    return _respond(200, inject_callback(request.app[EMULATOR_KEY], await _body(request)))


async def _inject_inline_query(request: web.Request) -> web.Response:
    return _respond(200, inject_inline_query(request.app[EMULATOR_KEY], await _body(request)))


async def _inline_queries(request: web.Request) -> web.Response:
    emulator = request.app[EMULATOR_KEY]
    return _respond(200, [q.to_control() for q in emulator.inline_queries.values()])


async def _inject_chat_member(request: web.Request) -> web.Response:
    return _respond(200, inject_chat_member(request.app[EMULATOR_KEY], await _body(request)))


async def _inject_raw(request: web.Request) -> web.Response:
    return _respond(200, inject_raw(request.app[EMULATOR_KEY], await _body(request)))


async def _messages(request: web.Request) -> web.Response:
    emulator = request.app[EMULATOR_KEY]
    view = emulator.messages_view(_query_int(request, "chat_id"), _query_int(request, "since") or 0)
    return _respond(200, view)


async def _transcript(request: web.Request) -> web.Response:
    emulator = request.app[EMULATOR_KEY]
    return _respond(200, emulator.transcript_view(_query_int(request, "since") or 0))


async def _callbacks(request: web.Request) -> web.Response:
    emulator = request.app[EMULATOR_KEY]
    return _respond(200, [c.to_control() for c in emulator.callbacks.values()])


async def _stats(request: web.Request) -> web.Response:
    return _respond(200, request.app[EMULATOR_KEY].stats())


async def _set_fault(request: web.Request) -> web.Response:
    body = await _body(request)
    kind = body.get("kind")
    if not isinstance(kind, str):
        raise ControlError(400, "kind is required")

    def opt_int(key: str) -> int | None:
        return None if body.get(key) is None else int(body[key])

    result = request.app[EMULATOR_KEY].set_fault(
        kind,
        chat_id=opt_int("chat_id"),
        new_chat_id=opt_int("new_chat_id"),
        count=opt_int("count"),
        status=opt_int("status"),
        delay=None if body.get("delay") is None else float(body["delay"]),
        retry_after=opt_int("retry_after"),
    )
    return _respond(200, result)


async def _clear_faults(request: web.Request) -> web.Response:
    request.app[EMULATOR_KEY].clear_faults(_query_int(request, "chat_id"))
    return _respond(200, {"ok": True})


async def _set_limits(request: web.Request) -> web.Response:
    body = await _body(request)
    emulator = request.app[EMULATOR_KEY]
    unknown = set(body) - {"global_per_second", "chat_per_second", "group_per_minute", "chat_burst"}
    if unknown:
        raise ControlError(400, f"unknown limits: {', '.join(sorted(unknown))}")
    emulator.set_limits(
        global_per_second=body.get("global_per_second", 30),
        chat_per_second=body.get("chat_per_second", 1),
        group_per_minute=body.get("group_per_minute", 20),
        chat_burst=body.get("chat_burst", 5),
    )
    return _respond(200, emulator.limits)


async def _reset(request: web.Request) -> web.Response:
    request.app[EMULATOR_KEY].reset()
    return _respond(200, {"ok": True})


def create_app(emulator: Emulator) -> web.Application:
    """Build the aiohttp application serving the Bot API and the control API for emulator."""
    # Uploads of a few MB must fit; Telegram allows 10 MB photos.
    app = web.Application(middlewares=[_control_errors], client_max_size=20 * 1024 * 1024)
    app[EMULATOR_KEY] = emulator
    app.router.add_get("/control/health", _health)
    app.router.add_post("/control/chats", _add_chat)
    app.router.add_get("/control/chats", _list_chats)
    app.router.add_post("/control/chats/{chat_id}/topics", _add_topic)
    app.router.add_post("/control/updates/message", _inject_message)
    app.router.add_post("/control/updates/document", _inject_document)
    app.router.add_get("/control/files/{file_id}", _file_content)
    app.router.add_post("/control/updates/callback", _inject_callback)
    app.router.add_post("/control/updates/my_chat_member", _inject_chat_member)
    app.router.add_post("/control/updates", _inject_raw)
    app.router.add_get("/control/messages", _messages)
    app.router.add_post("/control/messages/backdate", _backdate)
    app.router.add_get("/control/transcript", _transcript)
    app.router.add_get("/control/callbacks", _callbacks)
    app.router.add_post("/control/updates/inline", _inject_inline_query)
    app.router.add_get("/control/inline", _inline_queries)
    app.router.add_get("/control/stats", _stats)
    app.router.add_post("/control/faults", _set_fault)
    app.router.add_delete("/control/faults", _clear_faults)
    app.router.add_post("/control/limits", _set_limits)
    app.router.add_post("/control/reset", _reset)
    app.router.add_route("*", "/bot{token}/{method}", _bot_api)
    app.router.add_get("/file/bot{token}/{path:.+}", _download)
    app.router.add_route("*", "/{tail:.*}", _not_found)
    return app


class RunningEmulator:
    """Serve an Emulator on a loopback port for the duration of an ``async with`` block."""

    def __init__(self, emulator: Emulator | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = emulator if emulator is not None else Emulator()
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._pusher: asyncio.Task[None] | None = None

    @property
    def base_url(self) -> str:
        """Return the Bot API base URL to give PTB (the token and method are appended)."""
        return f"http://{self.host}:{self.port}/bot"

    @property
    def control_url(self) -> str:
        """Return the control API base URL."""
        return f"http://{self.host}:{self.port}/control"

    async def start(self) -> None:
        """Bind the port and start serving."""
        self.emulator.closing = False
        # No access log: one line per request would dominate the emulator's CPU in benchmarks.
        runner = web.AppRunner(
            create_app(self.emulator), access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, backlog=1024)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        self._pusher = asyncio.create_task(deliver_webhooks(self.emulator), name="emulator-webhook")
        logger.info("emulator listening on http://%s:%d", self.host, self.port)

    async def stop(self) -> None:
        """Answer pending long polls and close the server."""
        self.emulator.closing = True
        self.emulator.wake_pollers()
        if self._pusher is not None:
            self._pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pusher
            self._pusher = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> RunningEmulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


async def _serve_forever(emulator: Emulator, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with RunningEmulator(emulator, host=host, port=port) as running:
        print(f"emulator listening on http://{running.host}:{running.port}", flush=True)
        await stop.wait()


def serve(*, host: str = "127.0.0.1", port: int = 8081, **limits: Any) -> None:
    """Run the emulator until SIGINT/SIGTERM; limits and bot_username go to Emulator()."""
    asyncio.run(_serve_forever(Emulator(**limits), host, port))
