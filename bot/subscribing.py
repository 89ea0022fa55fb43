"""What a reader can ask for with /subscribe and /unsubscribe, parsed from command arguments."""

from __future__ import annotations

from dataclasses import dataclass

from bot.models import SubscriptionKind
from bot.text import collapse_spaces, fold

USAGE = "/subscribe [all | category NAME | source ID | keyword WORDS | not category NAME | not keyword WORDS]"
MAX_VALUE = 64
_KINDS: dict[str, SubscriptionKind] = {
    "all": "all",
    "everything": "all",
    "category": "category",
    "cat": "category",
    "source": "source",
    "keyword": "keyword",
    "kw": "keyword",
}


class UsageError(ValueError):
    """The arguments do not form a subscription; the reader gets the usage line."""


@dataclass(frozen=True, slots=True)
class Wanted:
    kind: SubscriptionKind
    value: str  # folded, what matching compares
    label: str  # as typed, what the reader sees
    exclude: bool = False


def parse_wanted(args: list[str]) -> Wanted:
    """Parse ``[not] KIND VALUE...``; no arguments means everything."""
    words = [w for w in args if w]
    exclude = False
    if words and fold(words[0]) in {"not", "no", "except", "-"}:
        exclude = True
        words = words[1:]
    if not words:
        if exclude:
            raise UsageError("say what to leave out")
        return Wanted("all", "", "")
    kind = _KINDS.get(fold(words[0]))
    if kind is None:
        raise UsageError(f"unknown kind {words[0]!r}")
    label = collapse_spaces(" ".join(words[1:])).strip("\"'«»“”")
    if kind == "all":
        if exclude or label:
            raise UsageError("'all' takes nothing after it")
        return Wanted("all", "", "")
    if not label:
        raise UsageError(f"{kind} needs a value")
    if len(label) > MAX_VALUE:
        raise UsageError(f"at most {MAX_VALUE} characters")
    value = label.lower() if kind == "source" else fold(label)
    return Wanted(kind, value, label, exclude)
