"""Dates as news sites write them, in many languages ("Seg, 24 Set 2022 10:00", "16 ноября 2022").

One linear pass: a bounded regular expression finds the time and offset, then words and numbers
are read as tokens and month names are looked up in one table. Weekday names and other words
("de", "г.") are ignored. Shared by feeds and HTML pages, so every reader agrees on a date.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo

MAX_DATE_TEXT = 200

# Month names and abbreviations, lower-cased, by language. An abbreviation with a trailing dot is
# matched without it ("sept." -> "sept").
_MONTH_NAMES: dict[int, tuple[str, ...]] = {
    1: (
        "jan", "january", "janeiro", "gen", "gennaio", "ene", "enero", "janv", "janvier", "januar",
        "jänner", "jän", "янв", "январь", "января", "yan", "yanvar", "oca", "ocak",
    ),
    2: (
        "feb", "february", "fev", "fevereiro", "febbraio", "febrero", "févr", "fevr", "fév", "février",
        "fevrier", "februar", "фев", "февр", "февраль", "февраля", "fevral", "şub", "şubat", "sub", "subat",
    ),
    3: (
        "mar", "march", "março", "marco", "marzo", "mars", "märz", "mär", "maerz", "mrz", "мар", "март",
        "марта", "mart",
    ),
    4: (
        "apr", "april", "abr", "abril", "aprile", "avr", "avril", "апр", "апрель", "апреля", "aprel",
        "nis", "nisan",
    ),
    5: (
        "may", "maio", "mai", "mag", "maggio", "mayo", "май", "мая", "mayıs", "mayis",
    ),
    6: (
        "jun", "june", "junho", "giu", "giugno", "junio", "juin", "juni", "июн", "июнь", "июня", "iyn",
        "iyun", "haz", "haziran",
    ),
    7: (
        "jul", "july", "julho", "lug", "luglio", "julio", "juil", "juillet", "juli", "июл", "июль",
        "июля", "iyl", "iyul", "tem", "temmuz",
    ),
    8: (
        "aug", "august", "ago", "agosto", "août", "aout", "авг", "август", "августа", "avq", "avqust",
        "ağu", "ağustos", "agu", "agustos",
    ),
    9: (
        "sep", "sept", "september", "set", "setembro", "settembre", "septiembre", "setiembre",
        "septembre", "сен", "сент", "сентябрь", "сентября", "sen", "sentyabr", "eyl", "eylül", "eylul",
    ),
    10: (
        "oct", "october", "out", "outubro", "ott", "ottobre", "octubre", "octobre", "okt", "oktober",
        "окт", "октябрь", "октября", "oktyabr", "eki", "ekim",
    ),
    11: (
        "nov", "november", "novembro", "novembre", "noviembre", "ноя", "нояб", "ноябрь", "ноября", "noy",
        "noyabr", "kas", "kasım", "kasim",
    ),
    12: (
        "dec", "december", "dez", "dezembro", "dic", "dicembre", "diciembre", "déc", "décembre",
        "decembre", "dezember", "дек", "декабрь", "декабря", "dek", "dekabr", "ara", "aralık", "aralik",
    ),
}  # fmt: skip
MONTHS: dict[str, int] = {name: number for number, names in _MONTH_NAMES.items() for name in names}

# Weekday abbreviations that are also month names ("mar" is Italian/Spanish/French Tuesday and
# March): when both appear, the other word is the month.
_ALSO_WEEKDAY = frozenset({"mar", "sen", "sab", "dom", "set"})

_RELATIVE = frozenset(
    {"ago", "second", "seconds", "minute", "minutes", "min", "mins", "hour", "hours", "day", "days", "week"}
)

# Named zones that feeds really use; anything else is ignored (the caller's zone applies).
_ZONES: dict[str, int] = {
    "z": 0, "ut": 0, "utc": 0, "gmt": 0, "wet": 0, "bst": 60, "cet": 60, "cest": 120, "mez": 60,
    "mesz": 120, "eet": 120, "eest": 180, "msk": 180, "мск": 180, "trt": 180, "azt": 240,
    "ist": 330, "jst": 540, "kst": 540, "est": -300, "edt": -240, "cst": -360, "cdt": -300,
    "mst": -420, "mdt": -360, "pst": -480, "pdt": -420,
}  # fmt: skip

# Bounded quantifiers only: each match costs a constant, the scan is linear in the text.
# "10:30", "10h30" (French); a dot is not a time separator, "24.09.2022" is a date.
_TIME = re.compile(
    r"(?<!\d)(\d{1,2})[:h](\d{2})(?::(\d{2}))?(?:[.,]\d{1,9})?(?!\d)\s{0,3}(am|pm|a\.m\.|p\.m\.)?", re.I
)
_OFFSET = re.compile(r"^\s*(?:gmt|utc)?\s*([+-−])(\d{1,2})(?::?(\d{2}))?(?!\d)", re.I)
_TOKEN = re.compile(r"\d+|[^\W\d_]+")
_ISO = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d{1,9})?)?)?")


def parse_date(text: str | None, *, tz: tzinfo = UTC, now: datetime | None = None) -> datetime | None:
    """Read a written date; return it aware, in the offset it was written with (else ``tz``), or None.

    A date without a year takes the latest year that does not put it more than two days after
    ``now``. A date without a time is taken at midnight.
    """
    if not text:
        return None
    text = text.strip()[:MAX_DATE_TEXT]
    iso = _parse_iso(text)
    if iso is not None:
        return iso
    # Turkish dotted capital I lower-cases to "i" plus a combining dot; month names use plain "i".
    lowered = text.replace("İ", "i").lower()
    hour = minute = second = 0
    zone: tzinfo | None = None
    date_part = lowered
    found_time = _TIME.search(lowered)
    if found_time is not None:
        hour, minute = int(found_time.group(1)), int(found_time.group(2))
        second = int(found_time.group(3) or 0)
        meridian = (found_time.group(4) or "").replace(".", "")
        if meridian == "pm" and hour < 12:
            hour += 12
        elif meridian == "am" and hour == 12:
            hour = 0
        rest = lowered[found_time.end() :]
        zone = _zone_after(rest)
        date_part = lowered[: found_time.start()] + " " + rest
    words: list[str] = []
    numbers: list[str] = []
    for token in _TOKEN.finditer(date_part):
        value = token.group(0)
        if value.isdigit():
            numbers.append(value)
        else:
            words.append(value)
            if zone is None and value in _ZONES:
                zone = timezone(timedelta(minutes=_ZONES[value]))
    if not _RELATIVE.isdisjoint(words):
        return None  # "2 hours ago": not a calendar date ("ago" is also August in Italian)
    month = _month_of(words)
    day = year = None
    if month is not None:
        for number in numbers:
            if len(number) == 4 and year is None:
                year = int(number)
            elif len(number) <= 2 and day is None:
                day = int(number)
            elif len(number) <= 2 and year is None:
                year = 2000 + int(number)
    elif len(numbers) >= 3:
        # Numeric dates: 24.09.2022 (day first, as written outside the US) or 2022/09/24.
        first, second_, third = numbers[:3]
        if len(first) == 4:
            year, month, day = int(first), int(second_), int(third)
        elif len(third) in (2, 4) and len(first) <= 2 and len(second_) <= 2:
            day, month, year = int(first), int(second_), int(third)
            if len(third) == 2:
                year += 2000
    if month is None or day is None:
        return None
    zone = zone or tz
    try:
        if year is None:
            return _nearest_past_year(month, day, hour, minute, second, zone, now)
        return datetime(year, month, day, hour, minute, second, tzinfo=zone)
    except ValueError:
        return None


def _parse_iso(text: str) -> datetime | None:
    if not _ISO.match(text):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _month_of(words: list[str]) -> int | None:
    candidates = [word for word in words if word.rstrip(".") in MONTHS]
    if not candidates:
        return None
    preferred = [word for word in candidates if word not in _ALSO_WEEKDAY] or candidates
    return MONTHS[preferred[-1]]


def _zone_after(rest: str) -> tzinfo | None:
    found = _OFFSET.match(rest)
    if found is None:
        return None
    sign = -1 if found.group(1) in "-−" else 1
    hours, minutes = int(found.group(2)), int(found.group(3) or 0)
    if hours > 14 or minutes > 59:
        return None
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _nearest_past_year(
    month: int, day: int, hour: int, minute: int, second: int, zone: tzinfo, now: datetime | None
) -> datetime:
    reference = (now or datetime.now(UTC)).astimezone(zone)
    candidate = datetime(reference.year, month, day, hour, minute, second, tzinfo=zone)
    if candidate > reference + timedelta(days=2):
        candidate = candidate.replace(year=reference.year - 1)
    return candidate
