"""Whether a value already fits a shape, with no coercion: how unions and candidates are chosen."""

from __future__ import annotations

import datetime
import functools
import ipaddress
import re
import uuid
from collections.abc import Callable
from typing import Any

from promptkit.output.enums import is_allowed, unaccented
from promptkit.schema import FieldSpec, Shape

_NOT_ALNUM = re.compile(r"[\W_]+")
_INTEGER = re.compile(r"-?\d+")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S")
_ISO: dict[str, Callable[[str], object]] = {
    "date": datetime.date.fromisoformat,
    "time": datetime.time.fromisoformat,
    "date-time": lambda text: datetime.datetime.fromisoformat(text.replace("Z", "+00:00")),
    "uuid": uuid.UUID,
    "ipv4": ipaddress.IPv4Address,
    "ipv6": ipaddress.IPv6Address,
    "ip": ipaddress.ip_address,
}


def fits(value: Any, shape: Shape) -> bool:
    """Say whether ``value`` is valid for ``shape`` as it is (types, formats and constraints)."""
    if value is None:
        return shape.nullable or shape.kind in ("any", "null")
    kind = shape.kind
    if kind == "string":
        return (
            isinstance(value, str) and _format_fits(value, shape.format) and _within(value, shape)
        )
    if kind in ("integer", "number"):
        number = isinstance(value, int) or (kind == "number" and isinstance(value, float))
        return number and not isinstance(value, bool) and _within(value, shape)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "enum":
        return is_allowed(value, shape)
    if kind in ("array", "tuple"):
        return isinstance(value, list) and _items_fit(value, shape) and _within(value, shape)
    if kind == "map":
        item = shape.item
        assert item is not None
        keys_fit = shape.key is None or all(_key_fits(key, shape.key) for key in value)
        return isinstance(value, dict) and keys_fit and all(fits(v, item) for v in value.values())
    if kind == "object":
        return isinstance(value, dict) and _object_fits(value, shape)
    if kind == "union":
        return any(fits(value, option) for option in shape.options)
    return kind == "any"


def known_keys(value: Any, shape: Shape) -> int:
    """Count the keys of a mapping that name fields of an object shape (any spelling)."""
    if not isinstance(value, dict) or shape.kind != "object":
        return 0
    names = _spellings(shape)
    return sum(isinstance(key, str) and _loose_spelling(key) in names for key in value)


def _items_fit(value: list[Any], shape: Shape) -> bool:
    if shape.kind == "tuple":
        return len(value) == len(shape.options) and all(map(fits, value, shape.options))
    item = shape.item
    assert item is not None
    return all(fits(member, item) for member in value)


def _object_fits(value: dict[str, Any], shape: Shape) -> bool:
    seen = set()
    for key, member in value.items():
        spec = next((spec for spec in shape.fields if key in spec.names), None)
        if spec is None or spec.name in seen or not fits(member, spec.shape):
            return False
        seen.add(spec.name)
    return all(spec.name in seen for spec in shape.fields if spec.required)


def _key_fits(key: Any, shape: Shape) -> bool:
    if shape.kind == "integer":
        return isinstance(key, str) and _INTEGER.fullmatch(key) is not None
    return is_allowed(key, shape)


def loose_spelling(name: str) -> str:
    """A key as XML and TOON replies are matched to fields: spelled loosely, unaccented."""
    return unaccented(key_spelling(name))


@functools.lru_cache(maxsize=256)
def fields_by_spelling(shape: Shape) -> dict[str, FieldSpec]:
    """An object's fields by the loose spelling of each of their names."""
    return {loose_spelling(name): spec for spec in reversed(shape.fields) for name in spec.names}


def _format_fits(text: str, form: str) -> bool:
    if form == "uri":
        return _URL.match(text) is not None
    parse = _ISO.get(form)
    if parse is None:
        return form != "duration" or text.startswith(("P", "-P"))
    try:
        parse(text)
    except ValueError:
        return False
    return True


def _within(value: Any, shape: Shape) -> bool:
    c = shape.constraints
    if not c:
        return True
    if isinstance(value, int | float):
        return (
            value >= c.get("minimum", value)
            and value <= c.get("maximum", value)
            and ("exclusiveMinimum" not in c or value > c["exclusiveMinimum"])
            and ("exclusiveMaximum" not in c or value < c["exclusiveMaximum"])
        )
    size = len(value)
    low = c.get("minLength", c.get("minItems", 0))
    high = c.get("maxLength", c.get("maxItems", size))
    if not low <= size <= high:
        return False
    pattern = c.get("pattern")
    return (
        pattern is None
        or not isinstance(value, str)
        or _compiled(pattern).search(value) is not None
    )


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@functools.lru_cache(maxsize=256)
def _spellings(shape: Shape) -> frozenset[str]:
    return frozenset(_loose_spelling(name) for spec in shape.fields for name in spec.names)


@functools.lru_cache(maxsize=4096)
def key_spelling(key: str) -> str:
    """The spelling keys share when they differ only in case, punctuation or spacing."""
    return _NOT_ALNUM.sub("_", key.strip().casefold()).strip("_")


@functools.lru_cache(maxsize=4096)
def _loose_spelling(key: str) -> str:
    return unaccented(key_spelling(key))
