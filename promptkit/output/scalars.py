"""Scalar coercion: numbers, booleans, strings, dates and times as models write them.

Every converter returns the converted value or :data:`NO_MATCH`; none
guesses. A number is read whole or not at all: ``"12,111"`` is 12111,
``"-2,000.00"`` is -2000.0, ``"12.111,123"`` (a decimal comma) is 12111.123,
``"82_461_110"`` is 82461110, ``"1/5"`` is 0.2; ``"12.5"`` is no int and
``"10-20"`` no number; a full stop after a number is the sentence's
(``"12.11."`` is 12.11). A number in prose is none (``"1 cup butter"``, ``"5
million"``, ``"Room 101"``). A boolean is read from prose only where it stands
alone at its start or end (``"False. The statement..."``, ``"Answer:
**True**"``, ``"The answer is true"``), and never when the prose names both
or negates it (``"true or false"``, ``"not true"``). A date written
``03/05/2024`` is refused (March or May?) unless one part is over 12.
"""

from __future__ import annotations

import datetime
import decimal
import math
import re
from typing import Any

from promptkit.output.enums import NO_MATCH

_TRUE = frozenset({"true", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "no", "n", "off", "0"})
_SIGN = r"[-+\u2212]?"
_PLAIN = re.compile(_SIGN + r"(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_UNDERSCORED = re.compile(
    _SIGN + r"\d+(?:_\d+)+(?:\.\d+(?:_\d+)*)?|" + _SIGN + r"\d+\.\d+(?:_\d+)+"
)
_THOUSANDS = re.compile(_SIGN + r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_DOT_THOUSANDS = re.compile(_SIGN + r"\d{1,3}(?:\.\d{3})+,\d+")
_DECIMAL_COMMA = re.compile(_SIGN + r"\d+,\d+")
_FRACTION = re.compile(_SIGN + r"(\d+)\s*/\s*(\d+)")
_BOOL_IN_TEXT = re.compile(r"\b(?:true|false)\b", re.I)
_MARKS = r"[*_`\"'\s]*"  # markdown emphasis, quotes and spaces around a word
_BOOL_ALONE = re.compile(
    rf"^{_MARKS}(true|false){_MARKS}(?:[.!?:;,\n]|$)"  # False. The statement is wrong
    rf"|(?:^|[.?:;\n])(?:\s*[\w']+){{0,2}}\s+is{_MARKS}(true|false){_MARKS}[.!]?{_MARKS}$"
    rf"|(?:^|[.?:;\n]){_MARKS}(true|false){_MARKS}[.!]?{_MARKS}$",  # The answer is true; A: True
    re.I,
)
_NEGATED_BOOL = re.compile(
    r"(?:\b(?:not|never|cannot|nothing|neither|nor|nobody|whether|if|doubt|unsure|unclear)|n't)"
    r"\W+(?:\w+\W+){0,2}(?:true|false)\b",
    re.I,
)
_CURRENCY = re.compile(r"^[$\u20ac\u00a3\u00a5]\s*|\s*[$\u20ac\u00a3\u00a5]$")
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_MONTH = "(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_WRITTEN_DATES = (
    (re.compile(rf"{_MONTH}\s+{_DAY},?\s+(\d{{4}})", re.I), (3, 1, 2)),
    (re.compile(rf"{_DAY}\s+(?:of\s+)?{_MONTH},?\s+(\d{{4}})", re.I), (3, 2, 1)),
    (re.compile(r"(\d{4})[/.](\d{1,2})[/.](\d{1,2})"), (1, 2, 3)),
)
_NUMERIC_DATE = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")
_CLOCK = re.compile(r"(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?\s*([ap])\.?\s*m\.?", re.I)
_DURATION_PART = re.compile(
    r"(\d+(?:\.\d+)?)\s*(weeks?|w|days?|d|hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)\b", re.I
)
_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def read_number(text: str) -> decimal.Decimal | None:
    """Read a written number whole (see the module), or return ``None``."""
    text = _CURRENCY.sub("", text.strip()).replace("\u2212", "-")
    if text.endswith(".") and not text.endswith("..") and not _PLAIN.fullmatch(text):
        text = text[:-1]  # 12.11. (a sentence's full stop)
    if _PLAIN.fullmatch(text):
        cleaned = text
    elif _UNDERSCORED.fullmatch(text):
        cleaned = text.replace("_", "")
    elif _THOUSANDS.fullmatch(text):
        cleaned = text.replace(",", "")
    elif _DOT_THOUSANDS.fullmatch(text):
        cleaned = text.replace(".", "").replace(",", ".")
    elif _DECIMAL_COMMA.fullmatch(text):
        cleaned = text.replace(",", ".")
    else:
        fraction = _FRACTION.fullmatch(text)
        if fraction is None or int(fraction.group(2)) == 0:
            return None
        sign = -1 if text.startswith("-") else 1
        return sign * decimal.Decimal(fraction.group(1)) / decimal.Decimal(fraction.group(2))
    try:
        number = decimal.Decimal(cleaned)
    except decimal.InvalidOperation:
        return None
    return number if number.is_finite() else None


def to_int(value: Any) -> Any:
    if isinstance(value, bool):
        return NO_MATCH
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else NO_MATCH
    if isinstance(value, str):
        number = read_number(value)
        if number is not None and number == number.to_integral_value():
            return int(number)
    return NO_MATCH


def to_float(value: Any) -> Any:
    if isinstance(value, bool):
        return NO_MATCH
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        number = read_number(value)
        if number is not None:
            result = float(number)
            return result if math.isfinite(result) else NO_MATCH
    return NO_MATCH


def to_decimal(value: Any) -> Any:
    """A decimal is written as its exact text (the JSON validator reads a numeric string)."""
    if isinstance(value, bool):
        return NO_MATCH
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else NO_MATCH
    if isinstance(value, str):
        number = read_number(value)
        return NO_MATCH if number is None else str(number)
    return NO_MATCH


def to_bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):  # 1, 0, 1.0, 0.0
        return bool(value)
    if isinstance(value, str):
        word = value.strip().casefold().rstrip(".!")
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        named = {found.casefold() for found in _BOOL_IN_TEXT.findall(value)}
        if len(named) == 1 and _BOOL_ALONE.search(value) and not _NEGATED_BOOL.search(value):
            return named == {"true"}
    return NO_MATCH


def to_str(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return value if isinstance(value, str) else NO_MATCH


def to_token(value: Any) -> Any:
    """A string written one way (a UUID, a URL, an address): the spaces around it dropped."""
    text = to_str(value)
    return text.strip() if isinstance(text, str) else text


# -- dates and times -------------------------------------------------------------------


def to_date(value: Any) -> Any:
    if not isinstance(value, str):
        return NO_MATCH
    text = value.strip()
    try:
        return datetime.date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    found = _written_date(text)
    if found is not None and found[1].strip(" ,T") == "":
        return found[0].isoformat()
    moment = _iso_datetime(text)
    return moment.date().isoformat() if moment is not None else NO_MATCH


def to_datetime(value: Any) -> Any:
    if not isinstance(value, str):
        return NO_MATCH
    text = value.strip()
    if _iso_datetime(text) is not None:
        return text
    try:
        day = datetime.date.fromisoformat(text)
        return datetime.datetime.combine(day, datetime.time()).isoformat()
    except ValueError:
        pass
    found = _written_date(text)
    if found is None:
        return NO_MATCH
    day, rest = found
    rest = rest.strip(" ,T").removeprefix("at ").strip()
    clock = to_time(rest) if rest else datetime.time().isoformat()
    if clock is NO_MATCH:
        return NO_MATCH
    return f"{day.isoformat()}T{clock}"


def to_time(value: Any) -> Any:
    if not isinstance(value, str):
        return NO_MATCH
    text = value.strip()
    try:
        return datetime.time.fromisoformat(text).isoformat()
    except ValueError:
        pass
    match = _CLOCK.fullmatch(text)
    if match is None:
        return NO_MATCH
    hour, minute, second = (int(part or 0) for part in match.groups()[:3])
    if not 1 <= hour <= 12 or minute > 59 or second > 59:
        return NO_MATCH
    hour = hour % 12 + (12 if match.group(4).lower() == "p" else 0)
    return datetime.time(hour, minute, second).isoformat()


def to_duration(value: Any) -> Any:
    """Seconds as a number, or ``1h 30m``/``2 days``/``90 minutes``, as an ISO 8601 duration."""
    if isinstance(value, bool):
        return NO_MATCH
    if isinstance(value, int | float):
        return _iso_duration(float(value)) if math.isfinite(value) else NO_MATCH
    if not isinstance(value, str):
        return NO_MATCH
    text = value.strip()
    parts = list(_DURATION_PART.finditer(text))
    leftover = _DURATION_PART.sub("", text).replace(",", "").replace("and", "").strip()
    if not parts or leftover:
        return NO_MATCH
    seconds = sum(float(part.group(1)) * _SECONDS[part.group(2)[0].lower()] for part in parts)
    return _iso_duration(seconds)


def _iso_duration(seconds: float) -> str:
    sign = "-" if seconds < 0 else ""
    whole = datetime.timedelta(seconds=abs(seconds))
    days, rest = whole.days, whole.seconds + whole.microseconds / 1e6
    hours, rest = divmod(rest, 3600)
    minutes, rest = divmod(rest, 60)
    clock = "".join(
        f"{number:g}{unit}"
        for number, unit in ((hours, "H"), (minutes, "M"), (rest, "S"))
        if number
    )
    return (
        f"{sign}P{days}D" + (f"T{clock}" if clock else "") if days else f"{sign}PT{clock or '0S'}"
    )


def _iso_datetime(text: str) -> datetime.datetime | None:
    if len(text) < 11 or not text[:4].isdigit():
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _written_date(text: str) -> tuple[datetime.date, str] | None:
    """Read a date at the start of ``text``; return it with what follows."""
    for pattern, (year, month, day) in _WRITTEN_DATES:
        match = pattern.match(text)
        if match is not None:
            month_text = match.group(month)
            number = _MONTHS.get(month_text.lower().rstrip("."))
            month_number = number if number is not None else int(month_text)
            found = _date(int(match.group(year)), month_number, int(match.group(day)))
            return None if found is None else (found, text[match.end() :])
    match = _NUMERIC_DATE.match(text)
    if match is None:
        return None
    first, second, year = (int(part) for part in match.groups())
    if first > 12 >= second:
        found = _date(year, second, first)
    elif second > 12 >= first:
        found = _date(year, first, second)
    else:
        return None  # 03/05/2024: March or May? Not guessed.
    return None if found is None else (found, text[match.end() :])


def _date(year: int, month: int, day: int) -> datetime.date | None:
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return None


SCALARS = {
    ("integer", ""): to_int,
    ("number", ""): to_float,
    ("number", "decimal"): to_decimal,
    ("boolean", ""): to_bool,
    ("string", ""): to_str,
    ("string", "uuid"): to_token,
    ("string", "uri"): to_token,
    ("string", "ipv4"): to_token,
    ("string", "ipv6"): to_token,
    ("string", "ip"): to_token,
    ("string", "email"): to_token,
    ("string", "path"): to_str,
    ("string", "regex"): to_str,
    ("string", "date"): to_date,
    ("string", "date-time"): to_datetime,
    ("string", "time"): to_time,
    ("string", "duration"): to_duration,
}
"""The converter for each (kind, format) of a scalar shape."""
