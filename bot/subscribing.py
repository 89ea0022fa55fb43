"""What a reader can ask for with /subscribe and /unsubscribe, parsed from command arguments."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from bot.i18n import ExplainedError, _
from bot.models import SubscriptionKind
from bot.text import collapse_spaces, fold

USAGE = "/subscribe [all | category NAME | source ID | keyword WORDS | not category NAME | not keyword WORDS]"
MAX_VALUE = 64
MAX_ARGS_CHARS = 512  # a reader's arguments longer than this are refused before any parsing
SHOWN_CHOICES = 25
_KINDS: dict[str, SubscriptionKind] = {
    "all": "all",
    "everything": "all",
    "category": "category",
    "cat": "category",
    "source": "source",
    "keyword": "keyword",
    "kw": "keyword",
}
_NEGATIONS = {"not", "no", "except", "-"}


class UsageError(ExplainedError):
    """The arguments do not form a subscription; the reader gets the usage line."""


class NothingLeft(UsageError):
    """Excluding everything ("not all") would leave nothing to receive."""


class UnknownChoice(UsageError):
    """A category or source that does not exist; carries the valid choices and the closest one."""

    def __init__(self, kind: str, typed: str, choices: Sequence[str], closest: str | None) -> None:
        super().__init__(_("unknown {kind} “{typed}”"), kind=kind, typed=typed)
        self.kind = kind
        self.typed = typed
        self.choices = tuple(choices)
        self.closest = closest


@dataclass(frozen=True, slots=True)
class Wanted:
    kind: SubscriptionKind
    value: str  # folded, what matching compares
    label: str  # as typed, what the reader sees
    exclude: bool = False


def parse_wanted(args: Sequence[str]) -> Wanted:
    """Parse ``[not] KIND VALUE...``; no arguments means everything."""
    if sum(len(a) for a in args) > MAX_ARGS_CHARS:
        raise UsageError(_("at most {n} characters"), n=MAX_VALUE)
    words = [w for w in args if w]
    exclude = False
    if words and fold(words[0]) in _NEGATIONS:
        exclude = True
        words = words[1:]
    if not words:
        if exclude:
            raise UsageError(_("say what to leave out"))
        return Wanted("all", "", "")
    kind = _KINDS.get(fold(words[0]))
    if kind is None:
        raise UsageError(_("unknown kind “{kind}”"), kind=words[0][:MAX_VALUE])
    label = collapse_spaces(" ".join(words[1:])).strip("\"'«»“”")
    if kind == "all":
        if exclude:
            raise NothingLeft(_("“not all” leaves nothing"))
        if label:
            raise UsageError(_("“all” takes nothing after it"))
        return Wanted("all", "", "")
    if not label:
        raise UsageError(_("{kind} needs a value"), kind=kind)
    if len(label) > MAX_VALUE:
        raise UsageError(_("at most {n} characters"), n=MAX_VALUE)
    if not label.isprintable():
        raise UsageError(_("control characters are not allowed"))
    value = label.lower() if kind == "source" else fold(label)
    return Wanted(kind, value, label, exclude)


def _closest(typed: str, names: Iterable[str]) -> str | None:
    by_fold = {fold(n): n for n in names}
    found = difflib.get_close_matches(fold(typed), list(by_fold), n=1, cutoff=0.6)
    return by_fold[found[0]] if found else None


def resolve(wanted: Wanted, *, categories: Sequence[str], sources: Sequence[tuple[str, str]]) -> Wanted:
    """Check a category or source against those that exist; keywords and "all" pass as they are.

    ``sources`` are (id, name) pairs; a source may be named by its id or its name, whatever the
    case. The result carries the canonical spelling. Raises UnknownChoice otherwise.
    """
    if wanted.kind == "category":
        known = {fold(c): c for c in categories}
        if wanted.value in known:
            return replace(wanted, label=known[wanted.value])
        names = sorted(known.values(), key=fold)
        raise UnknownChoice("category", wanted.label, names, _closest(wanted.label, names))
    if wanted.kind == "source":
        for source_id, name in sources:
            if wanted.value == source_id.lower() or fold(wanted.label) == fold(name):
                return replace(wanted, value=source_id, label=name)
        ids = [source_id for source_id, _ in sources]
        by_name = _closest(wanted.label, [name for _, name in sources])
        closest = _closest(wanted.label, ids) or next((i for i, n in sources if n == by_name), None)
        raise UnknownChoice("source", wanted.label, [f"{i} ({n})" for i, n in sources], closest)
    return wanted
