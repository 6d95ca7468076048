"""Hypothesis strategies for testing code built on promptkit tasks (needs ``hypothesis`` installed).

- :func:`valid_outputs` draws instances of a task's output model: every
  supported field type, within its constraints (bounds, lengths, patterns,
  formats), recursive models a few levels deep;
- :func:`model_replies` draws ``(reply_text, expected)`` pairs: a valid output
  written the messy ways models write it (code fences, prose around it, a
  wrapper object, trailing commas, single quotes, unquoted keys, comments,
  Python literals and tuples, a truncated tail, null-words, enum case
  changes and aliases, numbers as strings or with thousands separators,
  dates written out, maps as key/value pairs, keys by alias or by name, a
  scalar for a one-item list), with the value :func:`promptkit.parse` must
  turn it into;
- :func:`inputs` draws valid inputs of a task.

Import it only in tests: hypothesis is a development dependency of promptkit.
A string equal to a null-word (``"N/A"``, ``"none"``...) is never drawn for a
nullable field, since the parser reads those as null by design.
"""

from __future__ import annotations

import datetime
import decimal
import json
import re
import uuid
from typing import Any, Literal, TypeVar, cast

from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter

from promptkit.notation import unrolled
from promptkit.output.coerce import is_null_word
from promptkit.output.enums import match_enum
from promptkit.output.scanner import LITERAL_WORDS
from promptkit.schema import Shape, shape_of
from promptkit.task import InT, Task

_DEPTH = 2
_SAFE_WORDS = re.compile(r"[A-Za-z][A-Za-z ]{0,30}[A-Za-z]")
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NULL_SPELLINGS = ("N/A", "none", "-", "", "Not Applicable", "null")
_PREFIXES = ("", "Here is the JSON:\n", "Sure! ", "Answer: ", "<json>")
_SUFFIXES = ("", "\nHope this helps.", " Let me know if you need anything else.", "</json>")
_DURATION = TypeAdapter(datetime.timedelta)

M = TypeVar("M", bound=BaseModel)


def _model(into: Task[Any, M] | type[M]) -> type[M]:
    return into.output_model if isinstance(into, Task) else into


def json_values(shape: Shape) -> st.SearchStrategy[Any]:
    """Draw JSON-mode values that fit ``shape``: objects keyed by field name, dates as text."""
    inner = _non_null(shape)
    if shape.nullable and shape.kind != "null":
        return st.one_of(st.none(), inner)
    return inner


def _non_null(shape: Shape) -> st.SearchStrategy[Any]:
    kind = shape.kind
    c = shape.constraints
    if kind == "object":
        return st.fixed_dictionaries({spec.name: json_values(spec.shape) for spec in shape.fields})
    if kind in ("array", "map"):
        assert shape.item is not None
        low, high = (
            c.get("minItems", c.get("minProperties", 0)),
            c.get("maxItems", c.get("maxProperties", 3)),
        )
        if kind == "array":
            return st.lists(json_values(shape.item), min_size=low, max_size=max(low, min(high, 3)))
        keys = _keys(shape.key)
        return st.dictionaries(
            keys, json_values(shape.item), min_size=low, max_size=max(low, min(high, 3))
        )
    if kind == "tuple":
        return st.tuples(*(json_values(option) for option in shape.options)).map(list)
    if kind == "union":
        return st.one_of(*(json_values(option) for option in shape.options))
    if kind == "enum":
        return st.sampled_from(shape.values)
    if kind == "integer":
        return _integers(c)
    if kind == "number":
        return _decimals(c) if shape.format == "decimal" else _floats(c)
    if kind == "boolean":
        return st.booleans()
    if kind == "any":
        return _any_json()
    if kind == "null":
        return st.none()
    return _strings(shape)


def _keys(key: Shape | None) -> st.SearchStrategy[str]:
    """A map's keys as JSON writes them: strings, an enum's values, or integers' digits."""
    if key is None:
        return st.text(max_size=8)
    if key.kind == "integer":
        return st.integers(-999, 999).map(str)
    return st.sampled_from(key.values)


def _integers(c: Any) -> st.SearchStrategy[int]:
    low = c.get("minimum", c["exclusiveMinimum"] + 1 if "exclusiveMinimum" in c else -(10**7))
    high = c.get("maximum", c["exclusiveMaximum"] - 1 if "exclusiveMaximum" in c else 10**7)
    step = c.get("multipleOf", 1)
    return st.integers(-(-low // step), high // step).map(lambda n: n * step)


def _floats(c: Any) -> st.SearchStrategy[float]:
    if "multipleOf" in c:
        return _integers(c).map(float)
    return st.floats(
        min_value=c.get("minimum", c.get("exclusiveMinimum")),
        max_value=c.get("maximum", c.get("exclusiveMaximum")),
        exclude_min="exclusiveMinimum" in c,
        exclude_max="exclusiveMaximum" in c,
        allow_nan=False,
        allow_infinity=False,
    )


def _decimals(c: Any) -> st.SearchStrategy[str]:
    places = c.get("decimal_places", 2)
    digits = c.get("max_digits", 12)
    bound = decimal.Decimal(10) ** (digits - places) - 1
    low = max(decimal.Decimal(str(c.get("minimum", -bound))), -bound)
    high = min(decimal.Decimal(str(c.get("maximum", bound))), bound)
    return st.decimals(low, high, places=places, allow_nan=False, allow_infinity=False).map(str)


def _strings(shape: Shape) -> st.SearchStrategy[str]:
    form = shape.format
    c = shape.constraints
    if form == "date":
        return _dates(c.get("when")).map(datetime.date.isoformat)
    if form == "date-time":
        return _datetimes(c.get("when"), c.get("timezone")).map(datetime.datetime.isoformat)
    if form == "time":
        return st.times().map(datetime.time.isoformat)
    if form == "duration":
        spans = st.timedeltas(datetime.timedelta(days=-999), datetime.timedelta(days=999))
        return spans.map(lambda span: _DURATION.dump_python(span, mode="json"))
    if form == "uuid":
        return _uuids(c.get("uuid_version")).map(str)
    if form == "regex":
        return st.from_regex(r"\^?[a-z]{1,6}(\[0-9\]\+|\\d\{2\}|\.\*)?\$?", fullmatch=True)
    if form in ("ipv4", "ipv6", "ip"):
        version: Literal[4, 6] | None = 4 if form == "ipv4" else 6 if form == "ipv6" else None
        return st.ip_addresses(v=version).map(str)
    if form == "email":
        return st.from_regex(
            r"[a-z]{1,10}(\.[a-z]{1,8})?@[a-z]{2,10}\.(com|org|net)", fullmatch=True
        )
    if form == "uri":
        return st.from_regex(
            r"https?://[a-z]{1,12}\.(com|org)(/[a-z0-9_-]{1,8}){0,3}", fullmatch=True
        )
    if form == "path":
        return st.from_regex(r"/?[A-Za-z0-9_-]{1,8}(/[A-Za-z0-9_.-]{1,8}){0,3}", fullmatch=True)
    low, high = c.get("minLength", 0), c.get("maxLength", 24)
    if "pattern" in c:
        pattern = st.from_regex(c["pattern"], fullmatch=True)
        text = pattern.filter(lambda value: low <= len(value) <= high)
    else:
        text = st.text(
            st.characters(exclude_categories=["Cs"]), min_size=low, max_size=max(low, high)
        )
    return (
        text.filter(lambda value: value == "" or not is_null_word(value))
        if shape.nullable
        else text
    )


# A past or future value keeps this margin from today, so that it stays so while a test runs.
_MARGIN = datetime.timedelta(days=2)


def _dates(when: str | None) -> st.SearchStrategy[datetime.date]:
    today = datetime.date.today()
    if when == "past":
        return st.dates(max_value=today - _MARGIN)
    if when == "future":
        return st.dates(min_value=today + _MARGIN)
    return st.dates()


def _datetimes(when: str | None, timezone: bool | None) -> st.SearchStrategy[datetime.datetime]:
    now = datetime.datetime.combine(datetime.date.today(), datetime.time())  # fixed all day
    low, high = datetime.datetime.min, datetime.datetime.max
    if when == "past":
        high = now - _MARGIN
    elif when == "future":
        low = now + _MARGIN
    if timezone:  # an offset in whole quarter hours, as real zones have
        offsets = st.integers(-48, 56).map(lambda q: datetime.timedelta(minutes=15 * q))
        return st.datetimes(low, high, timezones=offsets.map(datetime.timezone))
    return st.datetimes(low, high)


def _uuids(version: int | None) -> st.SearchStrategy[uuid.UUID]:
    """UUIDs, of one version when asked (hypothesis draws versions 1 to 5 only)."""
    if version is None or version <= 5:
        return st.uuids(version=version)  # type: ignore[arg-type]  # checked by pydantic
    # RFC 9562: the version in bits 76-79, the variant 0b10 in bits 62-63
    mask = ~((0xF << 76) | (0x3 << 62)) & (2**128 - 1)
    return st.integers(0, 2**128 - 1).map(
        lambda n: uuid.UUID(int=(n & mask) | (version << 76) | (0x2 << 62))
    )


def _any_json() -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=8)
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.text(max_size=5), children, max_size=3)
        ),
        max_leaves=6,
    )


def valid_outputs(into: Task[Any, M] | type[M]) -> st.SearchStrategy[M]:
    """Draw valid instances of a task's (or model's) output model."""
    model = _model(into)
    return json_values(unrolled(shape_of(model), _DEPTH)).map(lambda data: _validated(model, data))


def inputs(task: Task[InT, Any]) -> st.SearchStrategy[InT]:
    """Draw valid inputs of a task."""
    model = task.input_model_class
    return json_values(unrolled(shape_of(model), _DEPTH)).map(lambda data: _validated(model, data))


def _validated(model: type[M], data: Any) -> M:
    return model.model_validate(data, by_alias=False, by_name=True)


def model_replies(into: Task[Any, M] | type[M]) -> st.SearchStrategy[tuple[str, M]]:
    """Draw ``(reply_text, expected)``: a valid output written messily, and its parse."""
    model = _model(into)
    shape = unrolled(shape_of(model), _DEPTH)
    return cast(st.SearchStrategy[tuple[str, M]], _replies(model, shape))


@st.composite
def _replies(draw: st.DrawFn, model: type[BaseModel], shape: Shape) -> tuple[str, BaseModel]:
    data = draw(json_values(shape))
    style = draw(_styles())
    messy = draw(_messy(data, shape))
    members = list(messy.items())
    cut = draw(_cut_point(shape, data)) if style["truncate"] else None
    if cut is None:
        text = _write_object(members, style)
        if style["wrapper"]:
            text = '{"result": ' + text + "}"
        expected = _validated(model, data)
    else:
        index, fraction = cut
        text = _write_truncated(members, index, fraction, style)
        kept = {spec.name: data[spec.name] for spec in shape.fields[:index]}
        expected = _validated(model, kept)
    fence = style["fence"]
    if fence:
        text = f"{fence}\n{text}" + ("" if cut is not None else "\n```")
    suffix = "" if cut is not None else style["suffix"]
    return style["prefix"] + text + suffix, expected


@st.composite
def _styles(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "key_quote": draw(st.sampled_from(['"', "'", ""])),
        "quote": draw(st.sampled_from(['"', "'"])),
        "python": draw(st.booleans()),
        "trailing_comma": draw(st.booleans()),
        "comment": draw(st.booleans()),
        "newlines": draw(st.booleans()),
        "unquoted_values": draw(st.booleans()),
        "wrapper": draw(st.booleans()),
        "truncate": draw(st.integers(0, 4)) == 0,
        "fence": draw(st.sampled_from([None, "```json", "```", "```JSON"])),
        "prefix": draw(st.sampled_from(_PREFIXES)),
        "suffix": draw(st.sampled_from(_SUFFIXES)),
    }


class _Tuple(list[Any]):
    """A list written as a Python tuple, ``(1, 2)``, in the Python style."""


@st.composite
def _messy(draw: st.DrawFn, value: Any, shape: Shape) -> Any:
    """Write a value the way models get it slightly wrong, keeping what it means."""
    if value is None:
        spellings = [
            word for word in _NULL_SPELLINGS if word or shape.kind not in ("string", "union")
        ]
        if shape.nullable and shape.kind not in ("object", "any") and draw(st.integers(0, 3)) == 0:
            return draw(st.sampled_from(spellings))
        return None
    kind = shape.kind
    if kind == "object":
        written = {}
        for spec in shape.fields:
            key = draw(st.sampled_from(spec.names)) if draw(st.integers(0, 3)) == 0 else spec.key
            written[key] = draw(_messy(value[spec.name], spec.shape))
        return written
    if kind == "array":
        assert shape.item is not None
        items = [draw(_messy(item, shape.item)) for item in value]
        scalar = len(items) == 1 and shape.item.kind in ("integer", "number", "boolean", "enum")
        return items[0] if scalar and items[0] is not None and draw(st.booleans()) else items
    if kind == "tuple":
        items = [
            draw(_messy(item, option)) for item, option in zip(value, shape.options, strict=True)
        ]
        return _Tuple(items) if draw(st.booleans()) else items
    if kind == "map":
        assert shape.item is not None
        members = {key: draw(_messy(member, shape.item)) for key, member in value.items()}
        pairs = [{"key": key, "value": member} for key, member in members.items()]
        return pairs if members and draw(st.integers(0, 3)) == 0 else members
    return draw(st.sampled_from(_spellings(value, shape)))


def _spellings(value: Any, shape: Shape) -> list[Any]:
    """Ways to write a scalar that parse back to it."""
    kind = shape.kind
    if kind == "enum" and isinstance(value, str):
        options = [
            value.upper(),
            value.title(),
            f"{value} - as stated",
            *shape.aliases.get(value, ()),
        ]
        return [value, *(option for option in options if match_enum(option, shape) == value)]
    if kind == "integer" and not isinstance(value, bool):
        return [value, str(value), f"{value:,}", float(value)]
    if kind == "boolean":
        return [value, "yes" if value else "no", str(value).lower()]
    if kind == "string" and shape.format == "date":
        day = datetime.date.fromisoformat(value)
        return [value, f"{day:%B} {day.day}, {day.year:04d}"] if day.year >= 1000 else [value]
    return [value]


def _scalar(value: Any, style: dict[str, Any]) -> str:
    if value is None:
        return "None" if style["python"] else "null"
    if isinstance(value, bool):
        return ("True" if value else "False") if style["python"] else json.dumps(value)
    if isinstance(value, str):
        if (
            style["unquoted_values"]
            and _SAFE_WORDS.fullmatch(value)
            and value.split()[0] not in LITERAL_WORDS
            and not is_null_word(value)
        ):
            return value
        return _quoted(value, style["quote"])
    return json.dumps(value)


def _quoted(text: str, quote: str) -> str:
    encoded = json.dumps(text, ensure_ascii=False)
    if quote == '"':
        return encoded
    inner = re.sub(r"\\(.)", lambda m: '"' if m.group(1) == '"' else m.group(0), encoded[1:-1])
    return "'" + inner.replace("'", "\\'") + "'"


def _write(value: Any, style: dict[str, Any]) -> str:
    if isinstance(value, dict):
        return _write_object(list(value.items()), style)
    if isinstance(value, _Tuple) and style["python"]:
        return (
            "("
            + ", ".join(_write(item, style) for item in value)
            + ("," if len(value) == 1 else "")
            + ")"
        )
    if isinstance(value, list):
        return "[" + ", ".join(_write(item, style) for item in value) + "]"
    return _scalar(value, style)


def _member(name: str, value: Any, style: dict[str, Any]) -> str:
    quote = style["key_quote"]
    if quote == '"' or not _PLAIN_KEY.fullmatch(name):
        key = json.dumps(name, ensure_ascii=False)
    else:
        key = f"{quote}{name}{quote}"
    return f"{key}: {_write(value, style)}"


def _write_object(members: list[tuple[str, Any]], style: dict[str, Any]) -> str:
    parts = [_member(name, value, style) for name, value in members]
    separator = ",\n  " if style["newlines"] else ", "
    body = separator.join(parts)
    if style["trailing_comma"] and parts:
        body += ","
    if style["comment"] and parts:
        body += " // as the search says\n"
    return "{" + body + "}"


@st.composite
def _cut_point(draw: st.DrawFn, shape: Shape, data: dict[str, Any]) -> tuple[int, float] | None:
    """Choose a member to cut off: it and all after it must have defaults and hold scalars."""
    fields = shape.fields
    required = [i for i, spec in enumerate(fields) if spec.required]
    first = (max(required) + 1) if required else 0
    options = [
        i for i in range(first, len(fields)) if not isinstance(data[fields[i].name], list | dict)
    ]
    if not options:
        return None
    return draw(st.sampled_from(options)), draw(st.floats(0.05, 0.95))


def _write_truncated(
    members: list[tuple[str, Any]], index: int, fraction: float, style: dict[str, Any]
) -> str:
    plain = dict(style, trailing_comma=False, comment=False)
    kept = _write_object(members[:index], plain)[:-1]
    partial = _member(*members[index], plain)
    cut = partial[: max(1, min(len(partial) - 1, int(len(partial) * fraction)))]
    # A cut right after a closer inside a string reads as a string whose closing quote is
    # missing ({"key": "value}), which it may well be: a cut reply ends elsewhere.
    cut = cut[:1] + cut[1:].rstrip("}])")
    return kept + (", " if index else "") + cut
