"""Schema-aligned coercion: bend a parsed JSON value toward the output shape, reporting each step.

Driven by the :class:`~promptkit.schema.Shape` of the output model:

- numbers: ``"36"``, ``36.0`` and ``"1,036"`` to int; numeric strings to float;
- booleans: ``"true"``, ``"yes"``, ``"y"``, ``"on"``, ``1`` (and their opposites);
- strings: a number where a string is expected becomes its JSON text;
- enums: a value matched by case, punctuation and spacing, by a declared
  alias, or as the head of a value-plus-explanation (``"ADMIN - full access"``);
- arrays: a single value where a list is expected becomes a one-item list;
- null-words (``"N/A"``, ``"none"``, ``"Not Applicable"``, ``"-"``, ``""``...)
  become null in nullable fields only;
- objects: keys matched by case and separators; unknown keys dropped.

What cannot be coerced is left as it is for validation to report.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from promptkit.output.repair import Action
from promptkit.schema import Shape

NULL_WORDS = frozenset(
    {
        "",
        "-",
        "--",
        "\u2014",
        "n/a",
        "na",
        "none",
        "null",
        "nil",
        "not applicable",
        "not specified",
        "not mentioned",
        "not available",
        "not given",
        "unspecified",
        "no value",
    }
)
"""Words (compared case-insensitively, without a final period) read as null in nullable fields."""

_TRUE = frozenset({"true", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "no", "n", "off", "0"})
_THOUSANDS = re.compile(r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_PLAIN_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_NOT_ALNUM = re.compile(r"[\W_]+")
_EXPLANATION = re.compile(r"\s+[-\u2013\u2014]\s+|\s*[:(\[,;]|\.\s|\n")

Path = tuple[str | int, ...]


def coerce(value: Any, shape: Shape, *, drop_unknown: bool = True) -> tuple[Any, list[Action]]:
    """Return ``value`` bent toward ``shape`` and an action for every change made.

    Args:
        value: a parsed JSON value.
        shape: the output shape (from :func:`promptkit.schema.shape_of`).
        drop_unknown: drop keys no field answers to (models with ``extra="allow"`` keep them).
    """
    actions: list[Action] = []
    return _coerce(value, shape, (), actions, drop_unknown), actions


def is_null_word(value: Any) -> bool:
    """Say whether ``value`` is a string that means "no value" (see :data:`NULL_WORDS`)."""
    return isinstance(value, str) and value.strip().casefold().rstrip(".") in NULL_WORDS


def has_null_words(instance: BaseModel, shape: Shape) -> bool:
    """Say whether a validated instance holds a null-word in a nullable field (to be coerced)."""
    return any(
        _holds_null_word(getattr(instance, spec.name, None), spec.shape) for spec in shape.fields
    )


def null_word_fields(shape: Shape | None) -> tuple[str, ...] | None:
    """Name the top-level fields of an object shape where a null-word could be coerced.

    These are the nullable string and enum fields. ``None`` means a
    nullable value may also sit deeper (in a nested object or a list), so
    :func:`has_null_words` must look at the whole value.
    """
    if shape is None or shape.kind != "object":
        return None
    names = []
    for spec in shape.fields:
        if spec.shape.kind in ("object", "array"):
            return None
        if spec.shape.nullable and spec.shape.kind in ("string", "enum"):
            names.append(spec.name)
    return tuple(names)


def _holds_null_word(value: Any, shape: Shape) -> bool:
    if value is None:
        return False
    if shape.nullable and isinstance(value, str) and is_null_word(value):
        return not _is_allowed(value, shape)
    if shape.kind == "object" and isinstance(value, BaseModel):
        return has_null_words(value, shape)
    if shape.kind == "array" and isinstance(value, list) and shape.item is not None:
        return any(_holds_null_word(item, shape.item) for item in value)
    return False


def _coerce(value: Any, shape: Shape, path: Path, actions: list[Action], drop: bool) -> Any:
    if value is None:
        return None
    if shape.nullable and is_null_word(value) and not _is_allowed(value, shape):
        actions.append(Action("coerce", path, f"read {value!r} as null", value, None))
        return None
    kind = shape.kind
    if kind == "string" and value.__class__ is str:
        return value  # the common case, nothing to do
    if kind == "object":
        return _object(value, shape, path, actions, drop)
    if kind == "array":
        return _array(value, shape, path, actions, drop)
    if kind == "enum":
        result = match_enum(value, shape)
        if result is not _NO_MATCH and result != value:
            actions.append(
                Action("coerce", path, f"matched {value!r} to {result!r}", value, result)
            )
            return result
        return value
    converted = _SCALARS[kind](value)
    if converted is not _NO_MATCH and (converted != value or type(converted) is not type(value)):
        actions.append(
            Action("coerce", path, f"converted {value!r} to {kind} {converted!r}", value, converted)
        )
        return converted
    return value


def _object(value: Any, shape: Shape, path: Path, actions: list[Action], drop: bool) -> Any:
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], Mapping):
        actions.append(Action("coerce", path, "took the one object out of a list", None, None))
        value = value[0]
    if not isinstance(value, Mapping):
        return value
    specs = {spec.name: spec for spec in shape.fields}
    by_key: dict[str, str] | None = None  # built when a key is not a field name
    result: dict[str, Any] = {}
    for key, member in value.items():
        if key in specs:
            result[key] = _coerce(member, specs[key].shape, (*path, key), actions, drop)
            continue
        if by_key is None:
            by_key = {_name(name): name for name in specs}
        name = by_key.get(_name(str(key)))
        if name is None:
            if drop:
                actions.append(
                    Action("coerce", (*path, key), f"dropped unknown key {key!r}", member, None)
                )
            else:
                result[key] = member
            continue
        if name in value:
            actions.append(
                Action("coerce", (*path, key), f"dropped {key!r}, a second {name!r}", member)
            )
            continue
        actions.append(Action("coerce", (*path, name), f"read key {key!r} as {name!r}", key))
        result[name] = _coerce(member, specs[name].shape, (*path, name), actions, drop)
    return result


def _array(value: Any, shape: Shape, path: Path, actions: list[Action], drop: bool) -> Any:
    assert shape.item is not None
    if not isinstance(value, list):
        actions.append(Action("coerce", path, "wrapped a single value in a list", value, [value]))
        value = [value]
    return [
        _coerce(item, shape.item, (*path, index), actions, drop) for index, item in enumerate(value)
    ]


class _NoMatch:
    """Marks a value that could not be coerced."""


_NO_MATCH: Any = _NoMatch()


def match_enum(value: Any, shape: Shape) -> Any:
    """Return the allowed value ``value`` stands for, or a private no-match marker.

    Tried in order: exact value; the same text ignoring case, punctuation and
    spacing; a declared alias; the head of a value-plus-explanation; a
    value that starts the text as a whole word.
    """
    if _is_allowed(value, shape):
        return value
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return _NO_MATCH
    table = _enum_table(shape)
    text = str(value).strip()
    hit = table.get(_norm(text))
    if hit is not None:
        return hit[0]
    head = _EXPLANATION.split(text, maxsplit=1)[0]
    hit = table.get(_norm(head))
    if hit is not None:
        return hit[0]
    words = _norm_words(text)
    for size in range(len(words) - 1, 0, -1):
        hit = table.get("".join(words[:size]))
        if hit is not None:
            return hit[0]
    return _NO_MATCH


def _enum_table(shape: Shape) -> dict[str, tuple[Any]]:
    table: dict[str, tuple[Any]] = {}
    for allowed in shape.values:
        table.setdefault(_norm(str(allowed)), (allowed,))
    for allowed, names in shape.aliases.items():
        for name in names:
            table.setdefault(_norm(name), (allowed,))
    return table


def _is_allowed(value: Any, shape: Shape) -> bool:
    if shape.kind != "enum" or isinstance(value, bool):
        return False
    return any(value == allowed and type(value) is type(allowed) for allowed in shape.values) or (
        isinstance(value, str) and value in shape.values
    )


def _norm(text: str) -> str:
    return _NOT_ALNUM.sub("", text.casefold())


def _norm_words(text: str) -> list[str]:
    return [word for word in _NOT_ALNUM.split(text.casefold()) if word]


def _name(key: str) -> str:
    return _NOT_ALNUM.sub("_", key.strip().casefold()).strip("_")


def _to_int(value: Any) -> Any:
    if isinstance(value, bool):
        return _NO_MATCH
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else _NO_MATCH
    if isinstance(value, str):
        number = _to_float(value)
        if isinstance(number, float) and number.is_integer():
            text = value.strip().replace(",", "")
            return int(text) if text.lstrip("+-").isdigit() else int(number)
    return _NO_MATCH


def _to_float(value: Any) -> Any:
    if isinstance(value, bool):
        return _NO_MATCH
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        text = value.strip()
        if _THOUSANDS.fullmatch(text):
            text = text.replace(",", "")
        if _PLAIN_NUMBER.fullmatch(text):
            number = float(text)
            return number if math.isfinite(number) else _NO_MATCH
    return _NO_MATCH


def _to_bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().casefold()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    return _NO_MATCH


def _to_str(value: Any) -> Any:
    if isinstance(value, bool):
        return _NO_MATCH
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return value if isinstance(value, str) else _NO_MATCH


_SCALARS = {"integer": _to_int, "number": _to_float, "boolean": _to_bool, "string": _to_str}
