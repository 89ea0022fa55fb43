"""Callback data as a small codec: ``prefix:arg``, at most 64 bytes, stable across restarts.

Buttons outlive the process that drew them, so the data names what to do (a subscription to
add, the id of one to remove) rather than pointing into memory.
"""

from __future__ import annotations

from dataclasses import dataclass

LIMIT = 64  # bytes; Telegram answers BUTTON_DATA_INVALID above it

# What each prefix means; handlers route on these.
SUBSCRIBE = "sub"  # arg: "all", "category:NAME" or "source:ID"
REMOVE = "unsub"  # arg: the subscription's id, or ALL for every subscription of the chat (topic)
SOURCE_ADD = "srcadd"  # arg: "ok:ID" or "no:ID", the id of a pending source (bot.storage.pending)
ALL = "*"
PREFIXES = frozenset({SUBSCRIBE, REMOVE, SOURCE_ADD})


class CallbackDataError(ValueError):
    """Data that is not ours, or would not fit in a button."""


@dataclass(frozen=True, slots=True)
class Callback:
    prefix: str
    arg: str


def encode(prefix: str, arg: str = "") -> str:
    """Pack a button's action; refuse an unknown prefix or more than 64 bytes."""
    if prefix not in PREFIXES:
        raise CallbackDataError(f"unknown prefix {prefix!r}")
    data = f"{prefix}:{arg}"
    if len(data.encode()) > LIMIT:
        raise CallbackDataError(f"callback data is {len(data.encode())} bytes, the limit is {LIMIT}")
    return data


def fits(prefix: str, arg: str) -> bool:
    """Whether a button with this action can be drawn at all."""
    try:
        encode(prefix, arg)
    except CallbackDataError:
        return False
    return True


def decode(data: str | None) -> Callback:
    """Unpack button data; anything we did not produce raises CallbackDataError."""
    if not data or len(data.encode()) > LIMIT or ":" not in data:
        raise CallbackDataError("not newsbot callback data")
    prefix, arg = data.split(":", 1)
    if prefix not in PREFIXES:
        raise CallbackDataError(f"unknown prefix {prefix!r}")
    return Callback(prefix, arg)
