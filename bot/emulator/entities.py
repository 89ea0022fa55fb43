"""Parse Telegram's HTML parse mode into plain text and message entities, as strictly as the server."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["EntityParseError", "parse_html", "plain_entities", "utf16_len"]

# Tag name -> entity type; anything else is "Unsupported start tag" like Telegram answers.
_TAGS: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPECIAL = re.compile(r"[<&]")
_ENTITY = re.compile(r"&(?:#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,7})|([A-Za-z][A-Za-z0-9]*));")
_SPACE = " \t\n\r\f\v"
_URL_SCHEMES = ("http://", "https://", "tg://", "ton://")


class EntityParseError(ValueError):
    """Markup Telegram would refuse with "can't parse entities"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class _Open:
    tag: str
    argument: str
    offset: int
    expandable: bool


def utf16_len(text: str) -> int:
    """Return the length of text in UTF-16 code units, the unit of Telegram's offsets and limits."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def plain_entities(entities: Any) -> list[dict[str, Any]]:
    """Return the entities a client passed explicitly, keeping only well-formed ones."""
    if not isinstance(entities, list):
        return []
    return [e for e in entities if isinstance(e, dict) and {"type", "offset", "length"} <= e.keys()]


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode("utf-8"))


def _decode_entity(source: str, pos: int) -> tuple[str, int] | None:
    """Decode the character reference at pos; None when it is not one Telegram understands."""
    match = _ENTITY.match(source, pos)
    if match is None:
        return None
    dec, hexa, name = match.groups()
    if name is not None:
        char = _NAMED.get(name)
        if char is None:
            return None
        return char, match.end()
    code = int(dec) if dec is not None else int(hexa, 16)
    if code == 0 or code >= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code), match.end()


def _attribute_value(source: str, i: int, n: int) -> tuple[str, int]:
    """Read a quoted attribute value; entities inside are decoded leniently as Telegram does."""
    quote = source[i]
    i += 1
    out: list[str] = []
    while i < n and source[i] != quote:
        if source[i] == "&":
            decoded = _decode_entity(source, i)
            if decoded is not None:
                out.append(decoded[0])
                i = decoded[1]
                continue
        out.append(source[i])
        i += 1
    if i < n:
        i += 1
    return "".join(out), i


def _valid_url(url: str) -> bool:
    lowered = url.lower()
    return lowered.startswith(_URL_SCHEMES) and len(url) > lowered.index("//") + 2


def _parse_start_tag(source: str, begin: int, n: int) -> tuple[str, str, bool, int]:
    """Parse the start tag at begin; return (tag, argument, expandable, index after ">")."""
    i = begin + 1
    while i < n and source[i] not in _SPACE and source[i] != ">":
        i += 1
    if i >= n:
        raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(source, begin)}")
    tag = source[begin + 1 : i].lower()
    if tag not in _TAGS:
        raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {_byte_offset(source, begin)}')
    argument = ""
    expandable = False
    while True:
        while i < n and source[i] in _SPACE:
            i += 1
        if i >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(source, begin)}")
        if source[i] == ">":
            break
        name_start = i
        while i < n and source[i] not in _SPACE and source[i] not in "=>":
            i += 1
        name = source[name_start:i].lower()
        while i < n and source[i] in _SPACE:
            i += 1
        if i >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(source, begin)}")
        if source[i] != "=":
            # A bare attribute: only <blockquote expandable> means something.
            if tag == "blockquote" and name == "expandable":
                expandable = True
            continue
        i += 1
        while i < n and source[i] in _SPACE:
            i += 1
        if i >= n:
            raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {_byte_offset(source, begin)}')
        if source[i] in "'\"":
            value, i = _attribute_value(source, i, n)
        else:
            token_start = i
            while i < n and (source[i].isalnum() or source[i] in ".-"):
                i += 1
            value = source[token_start:i].lower()
            if i >= n or (source[i] not in _SPACE and source[i] != ">"):
                raise EntityParseError(
                    f"Unexpected end of name token at byte offset {_byte_offset(source, token_start)}"
                )
        if tag == "a" and name == "href":
            argument = value
        elif tag == "code" and name == "class" and value.startswith("language-"):
            argument = value[len("language-") :]
        elif tag == "span" and name == "class" and value.startswith("tg-"):
            argument = value[len("tg-") :]
        elif tag == "tg-emoji" and name == "emoji-id":
            argument = value
    if tag == "span" and argument != "spoiler":
        raise EntityParseError(
            f'Tag "span" must have class "tg-spoiler" at byte offset {_byte_offset(source, begin)}'
        )
    return tag, argument, expandable, i + 1


def _make_entity(open_tag: _Open, end: int, text: str, entities: list[dict[str, Any]]) -> None:
    """Append the entity a closed tag produced (or merge <pre><code class=...>)."""
    length = end - open_tag.offset
    kind = _TAGS[open_tag.tag]
    entity: dict[str, Any] = {"type": kind, "offset": open_tag.offset, "length": length}
    if kind == "text_link":
        url = open_tag.argument or text
        if not _valid_url(url):
            return  # Telegram silently drops links it cannot parse
        entity["url"] = url
    elif kind == "code" and open_tag.argument:
        entity["language"] = open_tag.argument
    elif kind == "pre":
        last = entities[-1] if entities else None
        if (
            last is not None
            and last["type"] == "code"
            and last["offset"] == open_tag.offset
            and last["length"] == length
        ):
            entities.pop()
            if "language" in last:
                entity["language"] = last["language"]
    elif kind == "blockquote" and open_tag.expandable:
        entity["type"] = "expandable_blockquote"
    elif kind == "custom_emoji":
        if not open_tag.argument.isdigit():
            raise EntityParseError("Invalid custom emoji identifier specified")
        entity["custom_emoji_id"] = open_tag.argument
    entities.append(entity)


def _drop_inside_code(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Remove entities nested in code/pre: Telegram renders those blocks verbatim."""
    blocks = [(e["offset"], e["offset"] + e["length"]) for e in entities if e["type"] in ("code", "pre")]
    if not blocks:
        return entities
    kept = []
    for entity in entities:
        start, stop = entity["offset"], entity["offset"] + entity["length"]
        inside = any(
            b_start <= start and stop <= b_stop and entity["type"] not in ("code", "pre")
            for b_start, b_stop in blocks
        )
        if not inside:
            kept.append(entity)
    return kept


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Return (plain text, entities) for an HTML parse-mode text, or raise EntityParseError."""
    out: list[str] = []
    utf16 = 0
    stack: list[_Open] = []
    entities: list[dict[str, Any]] = []
    n = len(source)
    i = 0
    while i < n:
        match = _SPECIAL.search(source, i)
        stop = n if match is None else match.start()
        if stop > i:
            chunk = source[i:stop]
            out.append(chunk)
            utf16 += utf16_len(chunk)
            i = stop
            if match is None:
                break
        if source[i] == "&":
            decoded = _decode_entity(source, i)
            if decoded is None:
                # Stricter than Telegram on purpose: a bare "&" is a rendering bug waiting to bite.
                end = source.find(";", i, i + 12)
                shown = source[i : end + 1] if end != -1 else "&"
                raise EntityParseError(
                    f'Unsupported HTML entity "{shown}" at byte offset {_byte_offset(source, i)}'
                )
            char, i = decoded
            out.append(char)
            utf16 += 2 if ord(char) > 0xFFFF else 1
            continue
        begin = i
        if i + 1 < n and source[i + 1] == "/":
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {_byte_offset(source, begin)}")
            j = i + 2
            while j < n and source[j] not in _SPACE and source[j] != ">":
                j += 1
            end_name = source[i + 2 : j].lower()
            while j < n and source[j] in _SPACE:
                j += 1
            if j >= n or source[j] != ">":
                raise EntityParseError(f"Unclosed end tag at byte offset {_byte_offset(source, begin)}")
            top = stack[-1]
            if end_name and end_name != top.tag:
                raise EntityParseError(
                    f"Unmatched end tag at byte offset {_byte_offset(source, begin)}, "
                    f'expected "</{top.tag}>", found "</{end_name}>"'
                )
            stack.pop()
            if utf16 > top.offset:
                # <a> without href links its own text, so only then is the text needed.
                text = _tail_text(out, utf16 - top.offset) if top.tag == "a" and not top.argument else ""
                _make_entity(top, utf16, text, entities)
            i = j + 1
            continue
        tag, argument, expandable, i = _parse_start_tag(source, begin, n)
        if tag == "blockquote" and any(o.tag == "blockquote" for o in stack):
            raise EntityParseError(
                f"Blockquotes can't be nested at byte offset {_byte_offset(source, begin)}"
            )
        stack.append(_Open(tag, argument, utf16, expandable))
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    entities = _drop_inside_code(entities)
    for entity in entities:
        if entity["type"] == "code":
            entity.pop("language", None)  # only pre entities carry a language
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _tail_text(out: list[str], units: int) -> str:
    """Return the last `units` UTF-16 code units of the text produced so far."""
    text = "".join(out)
    encoded = text.encode("utf-16-le")
    return encoded[len(encoded) - 2 * units :].decode("utf-16-le", "replace")
