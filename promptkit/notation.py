"""The compact notation: a reply's shape as a prompt shows it, TypeScript-like, with notes.

One line per field when any field has notes (a ``//`` comment: the
description, the format and constraints the type cannot say, other
spellings of allowed values, what null means), else one line. A union
shows its alternatives (``A | B``), a map ``{[key: string]: T}``, a fixed
tuple ``[int, string]``. A recursive model is shown, and its grammar
built, to :data:`~promptkit.schema.RECURSION_DEPTH` levels (:func:`unrolled`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any

from promptkit.schema import RECURSION_DEPTH, FieldSpec, Shape, element

_FORMATS = {
    "date-time": "a date and time, written YYYY-MM-DDTHH:MM:SS (ISO 8601)",
    "date": "a date, written YYYY-MM-DD",
    "time": "a time of day, written HH:MM:SS",
    "duration": "a duration, written the ISO 8601 way (PT1H30M)",
    "uuid": "a UUID",
    "uri": "a URL",
    "email": "an email address",
    "ipv4": "an IPv4 address",
    "ipv6": "an IPv6 address",
    "ip": "an IP address (v4 or v6)",
    "path": "a file path",
    "regex": "a regular expression (Python syntax)",
    "decimal": "a decimal number",
}
_SCALAR_NAMES = {"integer": "int", "number": "float", "boolean": "bool"}


def compact_schema(shape: Shape, *, batch: bool = False) -> str:
    """Render a shape in a TypeScript-like notation with one commented line per field."""
    shape = unrolled(shape)
    if batch:
        return "[" + _compact_object(tagged(shape), indent="") + ", ...]"
    return _compact(shape, indent="")


def tagged(item: Shape) -> Shape:
    """The object shape of one batch item: the output's fields after an ``id``."""
    id_field = FieldSpec("id", Shape("integer"))
    return Shape("object", fields=(id_field, *item.fields), title=item.title)


def _compact(shape: Shape, indent: str) -> str:
    kind = shape.kind
    if kind == "object":
        text = _compact_object(shape, indent)
    elif kind == "array":
        assert shape.item is not None
        if shape.constraints.get("maxItems") == 0:
            text = "[]"
        else:
            text = _compact(shape.item, indent) + "[]"
            if shape.item.nullable or shape.item.kind in ("enum", "union"):
                text = f"({_compact(shape.item, indent)})[]"
    elif kind == "tuple":
        text = "[" + ", ".join(_compact(option, indent) for option in shape.options) + "]"
    elif kind == "map":
        assert shape.item is not None
        key = _compact(shape.key, indent) if shape.key is not None else "string"
        text = f"{{[key: {key}]: {_compact(shape.item, indent)}}}"
    elif kind == "union":
        text = " | ".join(_grouped(option, indent) for option in shape.options)
    elif kind == "enum":
        text = " | ".join(json.dumps(value, ensure_ascii=False) for value in shape.values)
    else:
        text = _SCALAR_NAMES.get(kind, kind)
    return f"{text} | null" if shape.nullable and kind != "null" else text


def _grouped(shape: Shape, indent: str) -> str:
    """Write a union's alternative, parenthesised when it is itself a choice of values."""
    text = _compact(shape, indent)
    return f"({text})" if shape.kind == "enum" and len(shape.values) > 1 else text


def _compact_object(shape: Shape, indent: str) -> str:
    """Write an object on one line, or one line per field when any field has notes."""
    inner = indent + "  "
    entries = [
        (f"{json.dumps(spec.key)}{_compact_field(spec, inner)}", field_notes(spec))
        for spec in shape.fields
    ]
    if not any(notes for _, notes in entries):
        return "{" + ", ".join(entry for entry, _ in entries) + "}"
    lines = [f"{inner}{entry}," + (f" // {notes}" if notes else "") for entry, notes in entries]
    return "{\n" + "\n".join(lines) + f"\n{indent}}}"


def _compact_field(spec: FieldSpec, indent: str) -> str:
    """Write ``: type``, or ``?: type`` for an optional field (absent reads as its default)."""
    if spec.required:
        return f": {_compact(spec.shape, indent)}"
    return f"?: {_compact(dataclasses.replace(spec.shape, nullable=False), indent)}"


LISTED_SPELLINGS = 6
"""The most aliases a field's notes list; a vocabulary with more shows only its values."""


def field_notes(spec: FieldSpec) -> str:
    """The notes on a field: description, format and constraints, aliases, what null means.

    A field's aliases are listed when they are few; a vocabulary's many
    spellings would cost more prompt than they teach, and replies are
    coerced from any spelling anyway.
    """
    parts = [spec.description.strip()] if spec.description else []
    notes = shape_notes(spec.shape)
    if notes:
        parts.append(", ".join(notes))
    enum = element(spec.shape)
    if 0 < sum(map(len, enum.aliases.values())) <= LISTED_SPELLINGS:
        parts.append(
            "; ".join(
                f"{json.dumps(value, ensure_ascii=False)} also written "
                + ", ".join(json.dumps(alias, ensure_ascii=False) for alias in names)
                for value, names in enum.aliases.items()
            )
        )
    if spec.null_means:
        parts.append(f"null {spec.null_means.strip()}")
    return ". ".join(part.rstrip(".") for part in parts if part) + ("." if parts else "")


def shape_notes(shape: Shape) -> list[str]:
    """Describe in words what a shape's type cannot say: its format and its constraints."""
    notes = [_FORMATS[shape.format]] if shape.format else []
    c = shape.constraints
    if "when" in c:
        notes.append(f"in the {c['when']}")
    if "timezone" in c:
        notes.append("with its UTC offset (+02:00, Z)" if c["timezone"] else "with no UTC offset")
    if "uuid_version" in c:
        notes.append(f"version {c['uuid_version']}")
    bounds = (c.get(k) for k in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"))
    notes += _range(*bounds)
    if "multipleOf" in c:
        notes.append(f"a multiple of {c['multipleOf']}")
    for low, high, unit in (
        ("minLength", "maxLength", "characters"),
        ("minItems", "maxItems", "items"),
        ("minProperties", "maxProperties", "entries"),
    ):
        notes += _count(c.get(low), c.get(high), unit)
    if "pattern" in c:
        notes.append(f"matching the pattern {c['pattern']}")
    if "max_digits" in c:
        notes.append(f"at most {c['max_digits']} digits")
    if "decimal_places" in c:
        notes.append(f"at most {c['decimal_places']} decimal places")
    if shape.unique:
        notes.append("no item twice")
    if shape.kind in ("array", "map") and shape.item is not None:
        noun = "item" if shape.kind == "array" else "value"
        notes += [f"each {noun} {note}" for note in shape_notes(shape.item)]
    return notes


def _range(low: Any, above: Any, high: Any, below: Any) -> list[str]:
    if low is not None and high is not None:
        return [f"from {low} to {high}"]
    parts = []
    if low is not None:
        parts.append(f"at least {low}")
    if above is not None:
        parts.append(f"more than {above}")
    if high is not None:
        parts.append(f"at most {high}")
    if below is not None:
        parts.append(f"less than {below}")
    return parts


def _count(low: Any, high: Any, unit: str) -> list[str]:
    if high == 0:
        return []  # an empty list at the recursion limit: the notation shows []
    if low is not None and high is not None:
        return [f"{low} to {high} {unit}" if low != high else f"exactly {low} {unit}"]
    if low is not None:
        return [f"at least {low} {unit}"]
    if high is not None:
        return [f"at most {high} {unit}"]
    return []


# -- recursion -------------------------------------------------------------------


def unrolled(shape: Shape, depth: int = RECURSION_DEPTH) -> Shape:
    """Return a finite copy of a shape in which each recursive object nests at most ``depth`` times.

    At the limit a recursive reference is left out where the type allows it:
    an optional field is dropped, a union loses that alternative, a list or
    map is empty and a nullable value is null. A shape with no recursion is
    returned as it is.
    """
    if not cyclic_objects(shape):
        return shape
    result = _unroll(shape, {}, depth)
    assert result is not None, "the root of a reply cannot be cut"
    return result


@functools.cache
def is_recursive(shape: Shape) -> bool:
    """Say whether an object shape contains itself (a recursive model): no finite columns."""
    return shape.kind == "object" and identity(shape) in cyclic_objects(shape)


def cyclic_objects(shape: Shape) -> frozenset[int]:
    """Return the :func:`identity` of each object shape in a tree that is reachable from itself."""
    nodes: dict[int, Shape] = {}
    pending = [shape]
    while pending:
        node = pending.pop()
        if id(node) not in nodes:
            nodes[id(node)] = node
            pending.extend(_children(node))
    return frozenset(
        identity(node) for node in nodes.values() if node.kind == "object" and _reaches(node)
    )


def _reaches(node: Shape) -> bool:
    target = identity(node)
    seen: set[int] = set()
    pending = _children(node)
    while pending:
        child = pending.pop()
        if identity(child) == target:
            return True
        if id(child) not in seen:
            seen.add(id(child))
            pending.extend(_children(child))
    return False


def _children(shape: Shape) -> list[Shape]:
    children = [spec.shape for spec in shape.fields] + list(shape.options)
    return children + [s for s in (shape.item, shape.key) if s is not None]


def _unroll(shape: Shape, seen: dict[int, int], depth: int) -> Shape | None:
    """Copy ``shape`` to depth; ``None``: it cannot appear here (the parent decides what then)."""
    key = identity(shape)
    count = seen.get(key, 0)
    if count >= depth:
        return None
    if shape.kind not in ("object", "union", "array", "map", "tuple"):
        return shape
    seen[key] = count + 1
    try:
        return _unroll_children(shape, seen, depth)
    finally:
        seen[key] = count


def _unroll_children(shape: Shape, seen: dict[int, int], depth: int) -> Shape | None:
    if shape.kind == "object":
        specs = []
        for spec in shape.fields:
            inner = _unroll(spec.shape, seen, depth)
            if inner is None and not spec.required:
                continue  # at the limit an optional field is left out
            inner = inner or _emptied(spec.shape)
            if inner is None:
                return None
            specs.append(dataclasses.replace(spec, shape=inner))
        return dataclasses.replace(shape, fields=tuple(specs))
    if shape.kind in ("union", "tuple"):
        options = [_unroll(option, seen, depth) for option in shape.options]
        if shape.kind == "tuple" and None in options:
            return None
        kept = tuple(option for option in options if option is not None)
        if not kept:
            return None
        if shape.kind == "union" and len(kept) == 1:
            return dataclasses.replace(kept[0], nullable=shape.nullable or kept[0].nullable)
        return dataclasses.replace(shape, options=kept)
    assert shape.item is not None
    item = _unroll(shape.item, seen, depth)
    return None if item is None else dataclasses.replace(shape, item=item)


def _emptied(shape: Shape) -> Shape | None:
    """What a required value that cannot nest deeper may still be: null, an empty list or map."""
    if shape.nullable:
        return Shape("null", nullable=True)
    if shape.kind in ("array", "map"):
        empty = "maxItems" if shape.kind == "array" else "maxProperties"
        return dataclasses.replace(shape, item=Shape("null"), constraints={empty: 0})
    return None


def identity(shape: Shape) -> int:
    """What makes two shapes one model: an object's fields (shared by its nullable copies)."""
    return id(shape.fields) if shape.kind == "object" else id(shape)
