"""Async client of the emulator's control API, for tests, the demo and benchmarks."""

from __future__ import annotations

import asyncio
import base64
import time
from types import TracebackType
from typing import Any, cast

import httpx

__all__ = ["ControlAPIError", "EmulatorClient"]


class ControlAPIError(RuntimeError):
    """The control API refused a request."""


class EmulatorClient:
    """Drive an emulator: create chats, play readers' actions, read what the bot sent."""

    def __init__(self, control_url: str, *, timeout: float = 10.0) -> None:
        self.control_url = control_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.control_url + "/", timeout=timeout)

    async def __aenter__(self) -> EmulatorClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.aclose()

    async def _call(
        self, verb: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        response = await self._http.request(verb, path, json=json, params=query)
        data = response.json()
        if response.status_code != 200:
            reason = data.get("error") if isinstance(data, dict) else data
            raise ControlAPIError(f"{verb} {path}: {response.status_code} {reason}")
        return data

    @staticmethod
    def _drop_none(body: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in body.items() if v is not None}

    # --- setup ----------------------------------------------------------------------------------

    async def health(self) -> bool:
        """Return True when the emulator answers."""
        return bool((await self._call("GET", "health"))["ok"])

    async def add_chat(
        self,
        chat_id: int,
        chat_type: str | None = None,
        *,
        title: str | None = None,
        first_name: str | None = None,
        username: str | None = None,
        is_forum: bool = False,
        admins: list[int] | None = None,
    ) -> dict[str, Any]:
        """Create or replace a chat; the type defaults from the id's sign and prefix."""
        body = self._drop_none(
            {
                "id": chat_id,
                "type": chat_type,
                "title": title,
                "first_name": first_name,
                "username": username,
                "is_forum": is_forum,
                "admins": admins,
            }
        )
        return cast(dict[str, Any], await self._call("POST", "chats", json=body))

    async def add_topic(self, chat_id: int, message_thread_id: int, name: str) -> dict[str, Any]:
        """Create a forum topic."""
        body = {"message_thread_id": message_thread_id, "name": name}
        return cast(dict[str, Any], await self._call("POST", f"chats/{chat_id}/topics", json=body))

    async def chats(self) -> list[dict[str, Any]]:
        """Return every known chat with its fault and message count."""
        return cast(list[dict[str, Any]], await self._call("GET", "chats"))

    # --- readers' actions -----------------------------------------------------------------------

    async def send_text(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        message_thread_id: int | None = None,
        *,
        chat_type: str | None = None,
        first_name: str | None = None,
        language_code: str | None = None,
        signed: bool | None = None,
        reply_to_message_id: int | None = None,
    ) -> int:
        """Queue a reader's message (a command when it starts with "/"); return its update_id.

        In a channel the post is sent as the channel; ``signed`` also names ``user_id`` as its author.
        """
        body = self._drop_none(
            {
                "chat_id": chat_id,
                "user_id": user_id,
                "text": text,
                "message_thread_id": message_thread_id,
                "chat_type": chat_type,
                "first_name": first_name,
                "language_code": language_code,
                "signed": signed,
                "reply_to_message_id": reply_to_message_id,
            }
        )
        return int((await self._call("POST", "updates/message", json=body))["update_id"])

    async def send_document(
        self,
        chat_id: int,
        user_id: int,
        file_name: str,
        content: bytes,
        *,
        caption: str | None = None,
        mime_type: str | None = None,
        reply_to_message_id: int | None = None,
    ) -> int:
        """Queue a reader's upload of a file (with an optional caption); return its message_id."""
        body = self._drop_none(
            {
                "chat_id": chat_id,
                "user_id": user_id,
                "file_name": file_name,
                "content": base64.b64encode(content).decode("ascii"),
                "caption": caption,
                "mime_type": mime_type,
                "reply_to_message_id": reply_to_message_id,
            }
        )
        return int((await self._call("POST", "updates/document", json=body))["message_id"])

    async def file_content(self, file_id: str) -> bytes:
        """The bytes of a file the bot sent (sendDocument)."""
        response = await self._http.get(f"files/{file_id}")
        if response.status_code != 200:
            raise ControlAPIError(f"GET files/{file_id}: {response.status_code}")
        return response.content

    async def press_button(
        self, chat_id: int, user_id: int, message_id: int, data: str, *, force: bool = False
    ) -> str:
        """Queue a press on a bot message's button; return the callback_query_id."""
        body = {
            "chat_id": chat_id,
            "user_id": user_id,
            "message_id": message_id,
            "data": data,
            "force": force,
        }
        return str((await self._call("POST", "updates/callback", json=body))["callback_query_id"])

    async def inline_query(self, user_id: int, query: str, *, offset: str = "") -> str:
        """Queue an inline query (``@bot query``); return the inline_query_id."""
        body = {"user_id": user_id, "query": query, "offset": offset}
        return str((await self._call("POST", "updates/inline", json=body))["inline_query_id"])

    async def inline_answers(self) -> list[dict[str, Any]]:
        """Return the injected inline queries with the bot's answers."""
        return cast(list[dict[str, Any]], await self._call("GET", "inline"))

    async def wait_for_inline_answer(
        self,
        query_id: str,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        """Wait until the bot answered an inline query; return the record."""
        deadline = time.monotonic() + timeout
        while True:
            for record in await self.inline_answers():
                if record["id"] == query_id and record["answered"]:
                    return record
            if time.monotonic() > deadline:
                raise TimeoutError(f"inline query {query_id} was not answered within {timeout}s")
            await asyncio.sleep(0.05)

    async def chat_member_update(
        self,
        chat_id: int,
        user_id: int,
        old_status: str,
        new_status: str,
        *,
        chat_type: str | None = None,
        can_post: bool | None = None,
    ) -> int:
        """Queue a my_chat_member update (private "kicked" means the user blocked the bot).

        In a channel, ``can_post=False`` with "administrator" takes away the right to post.
        """
        body = self._drop_none(
            {
                "chat_id": chat_id,
                "user_id": user_id,
                "old_status": old_status,
                "new_status": new_status,
                "chat_type": chat_type,
                "can_post": can_post,
            }
        )
        return int((await self._call("POST", "updates/my_chat_member", json=body))["update_id"])

    async def backdate(self, chat_id: int, seconds: int, message_id: int | None = None) -> int:
        """Age a chat's messages (or one) by ``seconds``; return how many changed."""
        body = self._drop_none({"chat_id": chat_id, "seconds": seconds, "message_id": message_id})
        return int((await self._call("POST", "messages/backdate", json=body))["changed"])

    async def inject_update(self, update: dict[str, Any]) -> int:
        """Queue a raw update; return the update_id assigned."""
        return int((await self._call("POST", "updates", json=update))["update_id"])

    # --- what happened --------------------------------------------------------------------------

    async def messages(self, chat_id: int | None = None, since: int = 0) -> list[dict[str, Any]]:
        """Return the messages the bot delivered (deleted ones flagged), oldest first."""
        params = {"chat_id": chat_id, "since": since or None}
        return cast(list[dict[str, Any]], await self._call("GET", "messages", params=params))

    async def transcript(self, since: int = 0) -> list[dict[str, Any]]:
        """Return the Bot API calls the bot made after seq `since`."""
        return cast(
            list[dict[str, Any]], await self._call("GET", "transcript", params={"since": since or None})
        )

    async def callbacks(self) -> list[dict[str, Any]]:
        """Return the injected callback queries and whether the bot answered them."""
        return cast(list[dict[str, Any]], await self._call("GET", "callbacks"))

    async def stats(self) -> dict[str, Any]:
        """Return the emulator's counters."""
        return cast(dict[str, Any], await self._call("GET", "stats"))

    # `timeout` is part of the published signature; the loop below enforces it itself.
    async def wait_for_messages(
        self,
        chat_id: int,
        count: int,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[dict[str, Any]]:
        """Poll until chat_id holds at least `count` bot messages; raise TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            found = await self.messages(chat_id)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise TimeoutError(f"chat {chat_id}: {len(found)} of {count} messages after {timeout} s")
            await asyncio.sleep(0.02)

    async def wait_for_call(
        self,
        method: str,
        since: int = 0,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        """Poll the transcript until the bot calls `method` (case-insensitive); return that entry."""
        deadline = time.monotonic() + timeout
        wanted = method.lower()
        while True:
            for entry in await self.transcript(since):
                if str(entry["method"]).lower() == wanted:
                    return entry
                since = max(since, int(entry["seq"]))
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no {method} call within {timeout} s")
            await asyncio.sleep(0.02)

    # --- faults, limits, reset ------------------------------------------------------------------

    async def set_fault(
        self,
        kind: str,
        chat_id: int | None = None,
        *,
        new_chat_id: int | None = None,
        count: int | None = None,
        status: int | None = None,
        delay: float | None = None,
        retry_after: int | None = None,
    ) -> dict[str, Any]:
        """Inject a fault (see the control API docs in bot.emulator.server)."""
        body = self._drop_none(
            {
                "kind": kind,
                "chat_id": chat_id,
                "new_chat_id": new_chat_id,
                "count": count,
                "status": status,
                "delay": delay,
                "retry_after": retry_after,
            }
        )
        return cast(dict[str, Any], await self._call("POST", "faults", json=body))

    async def clear_faults(self, chat_id: int | None = None) -> None:
        """Clear the faults of one chat, or all of them."""
        await self._call("DELETE", "faults", params={"chat_id": chat_id})

    async def set_limits(
        self,
        *,
        global_per_second: float | None = 30,
        chat_per_second: float | None = 1,
        group_per_minute: float | None = 20,
        chat_burst: int = 5,
    ) -> dict[str, Any]:
        """Replace the limits (None lifts one; the defaults are Telegram's figures)."""
        body = {
            "global_per_second": global_per_second,
            "chat_per_second": chat_per_second,
            "group_per_minute": group_per_minute,
            "chat_burst": chat_burst,
        }
        return cast(dict[str, Any], await self._call("POST", "limits", json=body))

    async def reset(self) -> None:
        """Clear messages, transcript, callbacks and counters."""
        await self._call("POST", "reset")
