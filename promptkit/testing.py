"""Hypothesis strategies for testing code built on promptkit tasks (needs ``hypothesis`` installed).

- :func:`valid_outputs` draws instances of a task's output model that respect
  its enums and optional fields;
- :func:`model_replies` draws ``(reply_text, expected)`` pairs: a valid output
  written the messy ways models write it (code fences, prose around it, a
  wrapper object, trailing commas, single quotes, unquoted keys, comments,
  Python literals, a truncated tail, null-words, enum case changes and
  aliases, numbers as strings, a scalar for a one-item list), with the value
  :func:`promptkit.parse` must turn it into;
- :func:`inputs` draws valid inputs of a task.

Import it only in tests: hypothesis is a development dependency of promptkit.
A string equal to a null-word (``"N/A"``, ``"none"``...) is never drawn for a
nullable field, since the parser reads those as null by design.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar, cast

from hypothesis import strategies as st
from pydantic import BaseModel

from promptkit.output.coerce import is_null_word
from promptkit.output.repair import LITERAL_WORDS
from promptkit.schema import Shape, shape_of
from promptkit.task import InT, Task

_SAFE_WORDS = re.compile(r"[A-Za-z][A-Za-z ]{0,30}[A-Za-z]")
_NULL_SPELLINGS = ("N/A", "none", "-", "", "Not Applicable", "null")
_PREFIXES = ("", "Here is the JSON:\n", "Sure! ", "Answer: ", "<json>")
_SUFFIXES = ("", "\nHope this helps.", " Let me know if you need anything else.", "</json>")


M = TypeVar("M", bound=BaseModel)


def _model(into: Task[Any, M] | type[M]) -> type[M]:
    return into.output_model if isinstance(into, Task) else into


def json_values(shape: Shape) -> st.SearchStrategy[Any]:
    """Draw JSON-mode values (enum values as plain strings or ints) that fit ``shape``."""
    inner = _non_null(shape)
    if shape.nullable:
        return st.one_of(st.none(), inner)
    return inner


def _non_null(shape: Shape) -> st.SearchStrategy[Any]:
    kind = shape.kind
    if kind == "object":
        return st.fixed_dictionaries({spec.name: json_values(spec.shape) for spec in shape.fields})
    if kind == "array":
        assert shape.item is not None
        return st.lists(json_values(shape.item), max_size=3)
    if kind == "enum":
        return st.sampled_from(shape.values)
    if kind == "integer":
        return st.integers(-(10**7), 10**7)
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False, width=64)
    if kind == "boolean":
        return st.booleans()
    text = st.text(st.characters(exclude_categories=["Cs"]), max_size=24)
    return text.filter(lambda value: not is_null_word(value)) if shape.nullable else text


def valid_outputs(into: Task[Any, M] | type[M]) -> st.SearchStrategy[M]:
    """Draw valid instances of a task's (or model's) output model."""
    model = _model(into)
    return json_values(shape_of(model)).map(model.model_validate)


def inputs(task: Task[InT, Any]) -> st.SearchStrategy[InT]:
    """Draw valid inputs of a task."""
    model = task.input_model_class
    return json_values(shape_of(model)).map(model.model_validate)


def model_replies(into: Task[Any, M] | type[M]) -> st.SearchStrategy[tuple[str, M]]:
    """Draw ``(reply_text, expected)``: a valid output written messily, and its parse."""
    model = _model(into)
    shape = shape_of(model)
    return cast(st.SearchStrategy[tuple[str, M]], _replies(model, shape))


@st.composite
def _replies(draw: st.DrawFn, model: type[BaseModel], shape: Shape) -> tuple[str, BaseModel]:
    data = draw(json_values(shape))
    style = draw(_styles())
    messy = draw(_messy(data, shape))
    members = [(spec.name, messy[spec.name]) for spec in shape.fields]
    cut = draw(_cut_point(shape, data)) if style["truncate"] else None
    if cut is None:
        text = _write_object(members, style)
        if style["wrapper"]:
            text = '{"result": ' + text + "}"
        expected = model.model_validate(data)
    else:
        index, fraction = cut
        text = _write_truncated(members, index, fraction, style)
        expected = model.model_validate({name: data[name] for name, _ in members[:index]})
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


@st.composite
def _messy(draw: st.DrawFn, value: Any, shape: Shape) -> Any:
    """Write a value the way models get it slightly wrong, keeping what it means."""
    if value is None:
        if shape.nullable and shape.kind != "object" and draw(st.integers(0, 3)) == 0:
            return draw(st.sampled_from(_NULL_SPELLINGS))
        return None
    kind = shape.kind
    if kind == "object":
        return {spec.name: draw(_messy(value[spec.name], spec.shape)) for spec in shape.fields}
    if kind == "array":
        assert shape.item is not None
        items = [draw(_messy(item, shape.item)) for item in value]
        scalar_ok = (
            len(items) == 1 and not isinstance(items[0], list | dict) and items[0] is not None
        )
        if scalar_ok and shape.item.kind != "string" and draw(st.booleans()):
            return items[0]
        return items
    if kind == "enum" and isinstance(value, str):
        spellings = [value, value.upper(), value.title(), f"{value} - as the search says"]
        spellings += list(shape.aliases.get(value, ()))
        return draw(st.sampled_from(spellings))
    if kind == "integer" and not isinstance(value, bool):
        return draw(st.sampled_from([value, str(value), f"{value:,}", float(value)]))
    if kind == "boolean":
        return draw(st.sampled_from([value, "yes" if value else "no", str(value).lower()]))
    return value


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
    if isinstance(value, list):
        return "[" + ", ".join(_write(item, style) for item in value) + "]"
    return _scalar(value, style)


def _member(name: str, value: Any, style: dict[str, Any]) -> str:
    quote = style["key_quote"]
    return f"{quote}{name}{quote}: {_write(value, style)}"


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
    """Choose a member to cut off: it and all after it must be optional and scalar."""
    fields = shape.fields
    required = [i for i, spec in enumerate(fields) if not spec.shape.nullable]
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
    return kept + (", " if index else "") + cut
