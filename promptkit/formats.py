"""A reply's shape as JSON Schema: for prompts and grammars, and in providers' strict form.

- :func:`json_schema`: plain JSON Schema with every constraint kept
  (``minimum``, ``maxLength``, ``pattern``, ``format``, ``prefixItems``...)
  that grammar engines implement (llguidance has no ``uniqueItems`` or
  ``propertyNames``: a set's distinct items are a note, a map with closed
  keys an object of optional properties), no extra keys allowed, fields
  with a default optional. A recursive model
  is unrolled to :data:`~promptkit.schema.RECURSION_DEPTH` levels, so a
  grammar built from it is finite. Grammar backends (llguidance, llama.cpp)
  enforce what it says while decoding.
- :func:`strict_schema` and :func:`response_format`: OpenAI's strict
  structured-output rules. Every property is required (an optional field
  may be null, read back as its default), every object closed, and only
  ``type``, ``properties``, ``required``, ``additionalProperties``,
  ``items``, ``enum``, ``anyOf``, ``description``, ``$defs`` and ``$ref``
  are used. What those cannot express is written in each field's
  ``description`` and validated after the reply: constraints and formats;
  a map is a list of ``{"key", "value"}`` pairs (read back as a map); a
  fixed tuple a list; ``Any`` a scalar or a list. Recursion is exact, through
  ``$defs``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from promptkit._types import SchemaStyle
from promptkit.notation import (
    compact_schema,
    cyclic_objects,
    field_notes,
    identity,
    tagged,
    unrolled,
)
from promptkit.schema import FieldSpec, Shape

_PLAIN_KEYWORDS = (
    "minimum",
    "exclusiveMinimum",
    "maximum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
)
_FORMATS = {"date", "uuid", "email", "ipv4", "ipv6"}
# RFC 3339's date-time and time need an offset, which pydantic's naive values have not
# (and llguidance refuses a signed duration): these are patterns, as pydantic reads them.
_PATTERNS = {
    "date-time": r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$",
    "time": r"^\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$",
    "duration": r"^-?P(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$",
    "uri": r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$",
}
_ANY = "JsonValue"


# -- plain JSON Schema -----------------------------------------------------------------


def json_schema(shape: Shape) -> dict[str, Any]:
    """Render a shape as JSON Schema, constraints kept and recursion unrolled (see the module)."""
    return _plain(unrolled(shape))


def _plain(shape: Shape) -> dict[str, Any]:
    kind = shape.kind
    if kind == "object":
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {spec.key: _plain_property(spec) for spec in shape.fields},
            "required": [spec.key for spec in shape.fields if spec.required],
            "additionalProperties": False,
        }
    elif kind == "array":
        assert shape.item is not None
        schema = {"type": "array", "items": _plain(shape.item)}  # a set's "no item twice" is a note
    elif kind == "tuple":
        count = len(shape.options)
        items = [_plain(option) for option in shape.options]
        schema = {"type": "array", "prefixItems": items, "items": False}
        schema.update(minItems=count, maxItems=count)
    elif kind == "map":
        assert shape.item is not None
        value = _plain(shape.item)
        schema = {"type": "object", "additionalProperties": value}
        if shape.key is not None and shape.key.kind == "enum":  # closed keys: optional properties
            properties = dict.fromkeys(shape.key.values, value)
            schema = {"type": "object", "properties": properties, "additionalProperties": False}
    elif kind == "union":
        schema = {"anyOf": [_plain(option) for option in shape.options]}
    elif kind == "enum":
        return {"enum": list(shape.values) + ([None] if shape.nullable else [])}
    elif kind == "any":
        return {}
    else:
        schema = {"type": ["number", "string"] if shape.format == "decimal" else kind}
        if shape.format in _FORMATS:
            schema["format"] = shape.format
        elif shape.format in _PATTERNS:
            schema["pattern"] = _PATTERNS[shape.format]
    schema.update((k, v) for k, v in shape.constraints.items() if k in _PLAIN_KEYWORDS)
    return _nullable(schema) if shape.nullable and kind != "null" else schema


def _plain_property(spec: FieldSpec) -> dict[str, Any]:
    schema = _plain(spec.shape)
    notes = field_notes(spec)
    return {**schema, "description": notes} if notes else schema


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if isinstance(kind, str) and "$ref" not in schema:
        return {**schema, "type": [kind, "null"]}
    if isinstance(kind, list):
        return {**schema, "type": [*kind, "null"]}
    if "anyOf" in schema and len(schema) == 1:
        return {"anyOf": [*schema["anyOf"], {"type": "null"}]}
    return {"anyOf": [schema, {"type": "null"}]}


def batch_schema(item: Shape) -> dict[str, Any]:
    """JSON Schema of a batch reply: an array of outputs, each tagged with its item id."""
    return {"type": "array", "items": json_schema(tagged(item))}


def exact_batch_schema(items: Sequence[dict[str, Any]], ids: Sequence[int]) -> dict[str, Any]:
    """JSON Schema of a batch reply holding exactly these items, in order, with these ids.

    Each item schema is a tagged object schema (from :func:`batch_schema`'s
    ``items``); its ``id`` is pinned to the item's id. A grammar built
    from it cannot leave an item out, repeat one or number one wrongly.
    """
    pinned = [
        {**schema, "properties": {**schema["properties"], "id": {"const": number}}}
        for schema, number in zip(items, ids, strict=True)
    ]
    count = len(pinned)
    return {
        "type": "array",
        "prefixItems": pinned,
        "items": False,
        "minItems": count,
        "maxItems": count,
    }


def narrowed(
    schema: dict[str, Any],
    allowed: Mapping[str, Sequence[Any]],
    filled: Collection[str] = (),
) -> dict[str, Any]:
    """An object schema whose named fields may take only the given values, and are always written.

    A nullable field may still be null, unless it is ``filled``; a list may
    hold only the given values. A narrowed field is required: a model
    decoding with the schema as its grammar decides on each (its value, or
    null) instead of leaving it out. The schema given is left as it is.
    """
    properties = dict(schema["properties"])
    for name, values in allowed.items():
        properties[name] = _only(properties[name], list(values), name not in filled)
    required = [name for name in properties if name in allowed or name in schema["required"]]
    return {**schema, "properties": properties, "required": required}


def _only(schema: dict[str, Any], values: list[Any], null: bool = True) -> dict[str, Any]:
    options = schema.get("anyOf", ())
    if len(options) == 2 and {"type": "null"} in options:  # a nullable list, or a $ref
        (inner,) = (option for option in options if option != {"type": "null"})
        return {**schema, "anyOf": [_only(inner, values), {"type": "null"}]}
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    nullable = null and ("null" in kinds or None in schema.get("enum", ()))
    notes = {"description": schema["description"]} if "description" in schema else {}
    if "array" in kinds:
        narrowed_list = {"type": "array", "items": _only(schema["items"], values)}
        if nullable:
            return {"anyOf": [narrowed_list, {"type": "null"}], **notes}
        return {**narrowed_list, **notes}
    return {"enum": values + ([None] if nullable else []), **notes}


def render_schema(shape: Shape, style: SchemaStyle, *, batch: bool = False) -> str:
    """Render the reply shape the way a prompt states it."""
    if style == "compact":
        return compact_schema(shape, batch=batch)
    schema = batch_schema(shape) if batch else json_schema(shape)
    return json.dumps(schema, ensure_ascii=False, separators=(",", ":"))


# -- strict provider formats -----------------------------------------------------------


def strict_schema(shape: Shape) -> dict[str, Any]:
    """Render an object shape under OpenAI's strict structured-output rules (see the module)."""
    writer = _Strict(cyclic_objects(shape))
    root = writer.inline(shape)
    if writer.defs:
        root["$defs"] = writer.defs
    return root


class _Strict:
    """Writes strict schemas; recursive objects go to ``$defs`` once each, by title."""

    def __init__(self, recursive: frozenset[int]) -> None:
        self.recursive = recursive
        self.defs: dict[str, Any] = {}
        self.names: dict[int, str] = {}

    def schema(self, shape: Shape) -> dict[str, Any]:
        if shape.kind == "object" and identity(shape) in self.recursive:
            schema: dict[str, Any] = {"$ref": f"#/$defs/{self.define(shape)}"}
            return {"anyOf": [schema, {"type": "null"}]} if shape.nullable else schema
        return self.inline(shape)

    def define(self, shape: Shape) -> str:
        name = self.names.get(identity(shape))
        if name is None:
            base = shape.title or "Object"
            name = base
            while name in self.defs:
                name = f"{base}{len(self.defs)}"
            self.names[identity(shape)] = name
            self.defs[name] = {}  # reserved before writing: the object refers to itself
            self.defs[name] = self.inline(shape, nullable=False)
        return name

    def inline(self, shape: Shape, *, nullable: bool | None = None) -> dict[str, Any]:
        kind = shape.kind
        if kind == "object":
            schema: dict[str, Any] = {
                "type": "object",
                "properties": {spec.key: self.property(spec) for spec in shape.fields},
                "required": [spec.key for spec in shape.fields],
                "additionalProperties": False,
            }
        elif kind == "array":
            assert shape.item is not None
            schema = {"type": "array", "items": self.schema(shape.item)}
        elif kind == "tuple":
            items = [self.schema(option) for option in shape.options]
            distinct = [s for i, s in enumerate(items) if s not in items[:i]]
            schema = {
                "type": "array",
                "items": distinct[0] if len(distinct) == 1 else {"anyOf": distinct},
            }
        elif kind == "map":
            assert shape.item is not None
            key = self.schema(shape.key) if shape.key is not None else {"type": "string"}
            pair = _closed({"key": key, "value": self.schema(shape.item)})
            schema = {"type": "array", "items": pair}
        elif kind == "union":
            schema = {"anyOf": [self.schema(option) for option in shape.options]}
        elif kind == "enum":
            return {"enum": list(shape.values) + ([None] if shape.nullable else [])}
        elif kind == "any":
            return self.any()
        else:
            schema = {"type": kind}
        if shape.nullable if nullable is None else nullable:
            return _nullable(schema)
        return schema

    def property(self, spec: FieldSpec) -> dict[str, Any]:
        shape = spec.shape
        schema = self.schema(shape)
        if not spec.required and not shape.nullable and shape.kind not in ("any", "null"):
            schema = _nullable_enum(schema) if "enum" in schema else _nullable(schema)
        notes = _strict_notes(spec)
        if not notes:
            return schema
        if "$ref" in schema:
            schema = {"anyOf": [schema]}  # a $ref may have no keyword beside it
        return {**schema, "description": notes}

    def any(self) -> dict[str, Any]:
        if _ANY not in self.defs:
            scalars = [{"type": kind} for kind in ("string", "number", "boolean", "null")]
            array = {"type": "array", "items": {"$ref": f"#/$defs/{_ANY}"}}
            self.defs[_ANY] = {"anyOf": [*scalars, array]}
        return {"$ref": f"#/$defs/{_ANY}"}


def _closed(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _nullable_enum(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "enum": [*schema["enum"], None]}


def _strict_notes(spec: FieldSpec) -> str:
    """A field's notes, plus what the strict form changes about it."""
    notes = field_notes(spec)
    extra = []
    shape = spec.shape
    if shape.kind == "tuple":
        extra.append(f"exactly {len(shape.options)} items, in this order")
    if shape.kind == "map":
        extra.append('a map, written as a list of {"key": ..., "value": ...} pairs')
    if not spec.required and not shape.nullable:
        extra.append("null leaves it at its default")
    return " ".join([notes, *(note[0].upper() + note[1:] + "." for note in extra)]).strip()


def response_format(shape: Shape, name: str, *, batch: bool = False) -> dict[str, Any]:
    """Return the OpenAI-style strict ``response_format`` payload for a reply shape.

    Chat APIs want an object at the root, so a batch's array is wrapped in
    ``{"items": [...]}``; the parser accepts that wrapper.
    """
    root = strict_schema(_closed_items(tagged(shape)) if batch else shape)
    return {
        "type": "json_schema",
        "json_schema": {"name": name.replace("-", "_"), "strict": True, "schema": root},
    }


def _closed_items(item: Shape) -> Shape:
    """The root object of a strict batch reply: ``{"items": [item, ...]}``."""
    return Shape("object", fields=(FieldSpec("items", Shape("array", item=item)),), title="Batch")
