"""Callback data as a small codec: ``prefix:arg``, at most 64 bytes, stable across restarts.

Buttons outlive the process that drew them, so the data names what to do (a subscription to
add, the id of one to remove) rather than pointing into memory. Anyone can send any data with
a forged press, so decoding trusts nothing: whatever is not exactly what ``encode`` makes
raises ``CallbackDataError``, and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.models import PUSH_OPTIONS

LIMIT = 64  # bytes; Telegram answers BUTTON_DATA_INVALID above it
MAX_ID = 2**63 - 1  # SQLite's largest integer; a bigger "id" is forged

# What each prefix means; handlers route on these.
SUBSCRIBE = "sub"  # arg: "all", "category:NAME" or "source:ID"
REMOVE = "unsub"  # arg: the subscription's id, or ALL for every subscription of the chat (topic)
SOURCE_ADD = "srcadd"  # arg: "ok:ID" or "no:ID", the id of a pending source (bot.storage.pending)
ALL = "*"
# Reading (issue 9). An article is named by its id and a tag of its address, so a button whose
# id was reused by another article is recognised rather than obeyed.
SUMMARY = "sm"  # arg: "ID:TAG:MODE", MODE "x" expand in place, "c" collapse, "r" reply with it
RELATED = "rl"  # arg: "ID:TAG"
SEARCH_PAGE = "sp"  # arg: "SEARCH_ID:PAGE", the search saved in storage
REVIEW = "rv"  # arg: "a:ID" approve, "r:ID" reject, "e:ID" edit a review card
BROADCAST = "bc"  # arg: "send:ID" or "cancel:ID", a broadcast draft
# /settings (issue 12). The button names the value it sets, not a flip: a press that arrives
# twice, or on an old message, sets what the reader saw on it rather than undoing itself.
OPTION = "opt"  # arg: "NAME:1" or "NAME:0", NAME one of bot.models.PUSH_OPTIONS
FORGET = "fg"  # arg: "ok:STAMP" or "no:STAMP", STAMP naming the chat row /forget was asked for
LANGUAGE = "lang"  # arg: a language code we have a catalog for ("en", "ru", "az", "tr")
PREFIXES = frozenset(
    {
        SUBSCRIBE,
        REMOVE,
        SOURCE_ADD,
        SUMMARY,
        RELATED,
        SEARCH_PAGE,
        REVIEW,
        BROADCAST,
        OPTION,
        FORGET,
        LANGUAGE,
    }
)
REVIEW_ACTIONS = {"a": "approve", "r": "reject", "e": "edit"}
_SUBSCRIBE_KINDS = frozenset({"category", "source"})


class CallbackDataError(ValueError):
    """Data that is not ours, or would not fit in a button."""


@dataclass(frozen=True, slots=True)
class Callback:
    prefix: str
    arg: str


def _size(data: str) -> int:
    # A lone surrogate has no UTF-8 form; such data cannot have come from us.
    try:
        return len(data.encode())
    except UnicodeEncodeError:
        raise CallbackDataError("callback data is not valid text") from None


def encode(prefix: str, arg: str = "") -> str:
    """Pack a button's action; refuse an unknown prefix or more than 64 bytes."""
    if prefix not in PREFIXES:
        raise CallbackDataError(f"unknown prefix {prefix!r}")
    data = f"{prefix}:{arg}"
    if (size := _size(data)) > LIMIT:
        raise CallbackDataError(f"callback data is {size} bytes, the limit is {LIMIT}")
    return data


def fits(prefix: str, arg: str) -> bool:
    """Whether a button with this action can be drawn at all."""
    try:
        encode(prefix, arg)
    except CallbackDataError:
        return False
    return True


def decode(data: object) -> Callback:
    """Unpack button data; anything we did not produce raises CallbackDataError."""
    if not isinstance(data, str) or not data or _size(data) > LIMIT or ":" not in data:
        raise CallbackDataError("not newsbot callback data")
    prefix, arg = data.split(":", 1)
    if prefix not in PREFIXES:
        raise CallbackDataError(f"unknown prefix {prefix[:16]!r}")
    if not arg or not arg.isprintable():
        raise CallbackDataError("empty or unprintable argument")
    return Callback(prefix, arg)


def subscription_choice(callback: Callback) -> tuple[str, str]:
    """The (kind, value) a SUBSCRIBE button asks for: ("all", "") or ("category"|"source", NAME)."""
    if callback.prefix != SUBSCRIBE:
        raise CallbackDataError("not a subscribe button")
    if callback.arg == "all":
        return "all", ""
    kind, sep, value = callback.arg.partition(":")
    if not sep or kind not in _SUBSCRIBE_KINDS or not value.strip():
        raise CallbackDataError("malformed subscribe button")
    return kind, value


def removal_target(callback: Callback) -> int | None:
    """The subscription id a REMOVE button names, or None for "all of them"."""
    if callback.prefix != REMOVE:
        raise CallbackDataError("not a remove button")
    if callback.arg == ALL:
        return None
    # ASCII digits only: str.isdigit() also accepts "²" and other digits int() refuses.
    if not (callback.arg.isascii() and callback.arg.isdigit()) or len(callback.arg) > 19:
        raise CallbackDataError("malformed subscription id")
    value = int(callback.arg)
    if not 1 <= value <= MAX_ID:
        raise CallbackDataError("subscription id out of range")
    return value


def review_action(callback: Callback) -> tuple[str, int]:
    """The (action, review id) a review card's button names."""
    if callback.prefix != REVIEW:
        raise CallbackDataError("not a review button")
    action, sep, number = callback.arg.partition(":")
    digits = number.isascii() and number.isdigit() and len(number) <= 19
    if not sep or action not in REVIEW_ACTIONS or not digits:
        raise CallbackDataError("malformed review button")
    value = int(number)
    if not 1 <= value <= MAX_ID:
        raise CallbackDataError("review id out of range")
    return REVIEW_ACTIONS[action], value


def broadcast_action(callback: Callback) -> tuple[str, int]:
    """The ("send" | "cancel", draft id) a broadcast confirmation button names."""
    if callback.prefix != BROADCAST:
        raise CallbackDataError("not a broadcast button")
    action, sep, number = callback.arg.partition(":")
    digits = number.isascii() and number.isdigit() and len(number) <= 19
    if not sep or action not in ("send", "cancel") or not digits or not 1 <= int(number) <= MAX_ID:
        raise CallbackDataError("malformed broadcast button")
    return action, int(number)


def pending_source_choice(callback: Callback) -> tuple[bool, int]:
    """What a SOURCE_ADD button asks: (confirm?, the pending source's id)."""
    if callback.prefix != SOURCE_ADD:
        raise CallbackDataError("not a source button")
    verb, sep, raw_id = callback.arg.partition(":")
    if not sep or verb not in ("ok", "no") or not (raw_id.isascii() and raw_id.isdigit()) or len(raw_id) > 19:
        raise CallbackDataError("malformed source button")
    value = int(raw_id)
    if not 1 <= value <= MAX_ID:
        raise CallbackDataError("pending source id out of range")
    return verb == "ok", value


def option_choice(callback: Callback) -> tuple[str, bool]:
    """The (option name, new value) an OPTION button sets."""
    if callback.prefix != OPTION:
        raise CallbackDataError("not a settings button")
    name, sep, value = callback.arg.partition(":")
    if not sep or name not in PUSH_OPTIONS or value not in ("0", "1"):
        raise CallbackDataError("malformed settings button")
    return name, value == "1"


def forget_choice(callback: Callback) -> tuple[bool, int]:
    """What a FORGET button asks: (confirm?, the stamp of the chat row it was drawn for)."""
    if callback.prefix != FORGET:
        raise CallbackDataError("not a forget button")
    verb, sep, raw = callback.arg.partition(":")
    if not sep or verb not in ("ok", "no") or not (raw.isascii() and raw.isdigit()) or len(raw) > 19:
        raise CallbackDataError("malformed forget button")
    value = int(raw)
    if not 0 <= value <= MAX_ID:
        raise CallbackDataError("forget stamp out of range")
    return verb == "ok", value


def language_choice(callback: Callback) -> str:
    """The language code a /language button names (the caller checks we still speak it)."""
    code = callback.arg
    if callback.prefix != LANGUAGE or len(code) > 16 or not code.replace("-", "").isalpha():
        raise CallbackDataError("not a language button")
    return code
