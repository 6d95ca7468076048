"""The output contract of a task: a small shape tree, rendered for prompts and providers.

A pydantic model is read once into a :class:`Shape` tree. From that one tree
come the compact notation shown to models (TypeScript-like, with
descriptions, allowed values and what null means), a plain JSON Schema that
is strict-mode compatible (every property required, no extra keys), and the
response-format payload for chat APIs.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Union

from pydantic import BaseModel

from promptkit._types import SchemaStyle
from promptkit.errors import UnsupportedType

Kind = Literal["string", "integer", "number", "boolean", "enum", "array", "object"]

_SCALARS: dict[Any, Kind] = {str: "string", int: "integer", float: "number", bool: "boolean"}
_SUPPORTED = "str, int, float, bool, Literal, Enum, list, a nested model, or Optional of these"
_META_KEY = "promptkit"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of an object shape, with what a prompt should say about it."""

    name: str
    shape: Shape
    description: str | None = None
    null_means: str | None = None
    required: bool = True


@dataclass(frozen=True, slots=True)
class Shape:
    """The type of a value as promptkit describes it to a model."""

    kind: Kind
    nullable: bool = False
    values: tuple[Any, ...] = ()
    aliases: Mapping[Any, tuple[str, ...]] = field(default_factory=dict)
    item: Shape | None = None
    fields: tuple[FieldSpec, ...] = ()
    title: str = ""


def field_metadata(
    *,
    null: str | None = None,
    aliases: Mapping[Any, typing.Iterable[str]] | None = None,
) -> dict[str, Any]:
    """Return ``json_schema_extra`` that carries promptkit's field metadata."""
    meta: dict[str, Any] = {}
    if null is not None:
        meta["null"] = null
    if aliases:
        meta["aliases"] = {value: tuple(names) for value, names in aliases.items()}
    return {_META_KEY: meta}


@functools.cache
def shape_of(model: type[BaseModel]) -> Shape:
    """Read a pydantic model into a shape tree; raise :class:`UnsupportedType` on a bad field."""
    return _object_shape(model, prefix="")


def shape_problems(model: type[BaseModel]) -> list[ValueError]:
    """Return every problem :func:`shape_of` would raise the first of, nested fields included.

    Each is an :class:`UnsupportedType` (a field type promptkit cannot describe) or a
    ``ValueError`` (aliases for values a field does not allow).
    """
    problems: list[ValueError] = []
    _object_shape(model, prefix="", problems=problems)
    return problems


def _object_shape(
    model: type[BaseModel], prefix: str, problems: list[ValueError] | None = None
) -> Shape:
    """Read a model's fields; with ``problems``, collect what is wrong there instead of raising."""
    specs = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        meta: dict[str, Any] = extra.get(_META_KEY) or {}  # type: ignore[assignment]
        try:
            shape = _shape(info.annotation, path, problems)
            aliases = meta.get("aliases")
            if aliases:
                shape = _with_aliases(shape, aliases, path)
        except ValueError as error:  # UnsupportedType included
            if problems is None:
                raise
            problems.append(error)
            continue
        specs.append(FieldSpec(name, shape, info.description, meta.get("null"), info.is_required()))
    return Shape("object", fields=tuple(specs), title=model.__name__)


def _with_aliases(shape: Shape, aliases: Mapping[Any, tuple[str, ...]], path: str) -> Shape:
    target = shape.item if shape.kind == "array" and shape.item else shape
    unknown = [value for value in aliases if value not in target.values]
    if target.kind != "enum" or unknown:
        raise ValueError(
            f"field {path!r} declares aliases for {unknown or list(aliases)}, "
            "which are not among its allowed values"
        )
    with_aliases = Shape("enum", target.nullable, target.values, dict(aliases), title=target.title)
    if target is shape:
        return with_aliases
    return Shape("array", shape.nullable, item=with_aliases)


def _shape(annotation: Any, path: str, problems: list[ValueError] | None = None) -> Shape:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _shape(typing.get_args(annotation)[0], path, problems)
    if origin in (Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(members) != 1:
            raise UnsupportedType(path, annotation, f"use {_SUPPORTED}")
        inner = _shape(members[0], path, problems)
        return Shape(
            inner.kind, True, inner.values, inner.aliases, inner.item, inner.fields, inner.title
        )
    if origin is Literal:
        values = typing.get_args(annotation)
        if not all(isinstance(value, str | int) for value in values):
            raise UnsupportedType(path, annotation, f"use {_SUPPORTED}")
        return Shape("enum", values=values)
    if origin is list:
        (item,) = typing.get_args(annotation) or (None,)
        if item is None:
            raise UnsupportedType(path, annotation, f"use {_SUPPORTED}")
        return Shape("array", item=_shape(item, f"{path}[]", problems))
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return Shape(
                "enum", values=tuple(m.value for m in annotation), title=annotation.__name__
            )
        if issubclass(annotation, BaseModel):
            return _object_shape(annotation, prefix=f"{path}.", problems=problems)
        kind = _SCALARS.get(annotation)
        if kind is not None:
            return Shape(kind)
    raise UnsupportedType(path, annotation, f"use {_SUPPORTED}")


# -- JSON Schema -------------------------------------------------------------


def json_schema(shape: Shape, *, strict: bool = False) -> dict[str, Any]:
    """Render a shape as JSON Schema with no extra keys allowed.

    Fields with a default are optional; ``strict`` makes every field required,
    as OpenAI's strict structured outputs demand (optional fields are nullable
    there, so a model can still leave them empty).
    """
    if shape.kind == "object":
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {spec.name: _property_schema(spec, strict) for spec in shape.fields},
            "required": [spec.name for spec in shape.fields if strict or spec.required],
            "additionalProperties": False,
        }
    elif shape.kind == "array":
        assert shape.item is not None
        schema = {"type": "array", "items": json_schema(shape.item, strict=strict)}
    elif shape.kind == "enum":
        values = list(shape.values) + ([None] if shape.nullable else [])
        return {"enum": values}
    else:
        schema = {"type": shape.kind}
    if shape.nullable:
        schema["type"] = [schema["type"], "null"]
    return schema


def _property_schema(spec: FieldSpec, strict: bool) -> dict[str, Any]:
    schema = json_schema(spec.shape, strict=strict)
    notes = _notes(spec)
    if notes:
        schema["description"] = notes
    return schema


def batch_schema(item: Shape, *, strict: bool = False) -> dict[str, Any]:
    """JSON Schema of a batch reply: an array of outputs, each tagged with its item id."""
    return {"type": "array", "items": json_schema(_tagged(item), strict=strict)}


def exact_batch_schema(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """JSON Schema of a batch reply holding exactly these items, in order, ids 1, 2, ...

    Each item schema is a tagged object schema (from :func:`batch_schema`'s
    ``items``); its ``id`` is pinned to the item's number. A grammar built
    from it cannot leave an item out, repeat one or number one wrongly.
    """
    pinned = [
        {**schema, "properties": {**schema["properties"], "id": {"const": number}}}
        for number, schema in enumerate(items, start=1)
    ]
    count = len(pinned)
    return {
        "type": "array",
        "prefixItems": pinned,
        "items": False,
        "minItems": count,
        "maxItems": count,
    }


def narrowed(schema: dict[str, Any], allowed: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """An object schema whose named string fields may take only the given values.

    A nullable field may still be null; a list of strings may hold only the
    given values. The schema given is left as it is.
    """
    properties = dict(schema["properties"])
    for name, values in allowed.items():
        properties[name] = _only(properties[name], list(values))
    return {**schema, "properties": properties}


def _only(schema: dict[str, Any], values: list[Any]) -> dict[str, Any]:
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    notes = {"description": schema["description"]} if "description" in schema else {}
    if "array" in kinds:
        narrowed_list = {"type": "array", "items": _only(schema["items"], values)}
        if "null" in kinds:
            return {"anyOf": [narrowed_list, {"type": "null"}], **notes}
        return {**narrowed_list, **notes}
    return {"enum": values + ([None] if "null" in kinds else []), **notes}


def _tagged(item: Shape) -> Shape:
    id_field = FieldSpec("id", Shape("integer"))
    return Shape("object", fields=(id_field, *item.fields), title=item.title)


def response_format(shape: Shape, name: str, *, batch: bool = False) -> dict[str, Any]:
    """Return the OpenAI-style strict ``response_format`` payload for a reply shape.

    Chat APIs want an object at the root, so a batch's array is wrapped in
    ``{"items": [...]}``; the parser accepts that wrapper.
    """
    schema = batch_schema(shape, strict=True) if batch else json_schema(shape, strict=True)
    root = schema
    if schema.get("type") == "array":
        root = {
            "type": "object",
            "properties": {"items": schema},
            "required": ["items"],
            "additionalProperties": False,
        }
    return {
        "type": "json_schema",
        "json_schema": {"name": name.replace("-", "_"), "strict": True, "schema": root},
    }


# -- compact notation ----------------------------------------------------------


def compact_schema(shape: Shape, *, batch: bool = False) -> str:
    """Render a shape in a TypeScript-like notation with one commented line per field."""
    if batch:
        return "[" + _compact_object(_tagged(shape), indent="") + ", ...]"
    return _compact(shape, indent="")


def _compact(shape: Shape, indent: str) -> str:
    if shape.kind == "object":
        text = _compact_object(shape, indent)
    elif shape.kind == "array":
        assert shape.item is not None
        text = _compact(shape.item, indent) + "[]"
        if shape.item.nullable or shape.item.kind == "enum":
            text = f"({_compact(shape.item, indent)})[]"
    elif shape.kind == "enum":
        text = " | ".join(json.dumps(value, ensure_ascii=False) for value in shape.values)
    else:
        text = {"integer": "int", "number": "float", "boolean": "bool"}.get(shape.kind, shape.kind)
    return f"{text} | null" if shape.nullable else text


def _compact_object(shape: Shape, indent: str) -> str:
    """Write an object on one line, or one line per field when any field has notes."""
    inner = indent + "  "
    entries = [
        (f"{json.dumps(spec.name)}{_compact_field(spec, inner)}", _notes(spec))
        for spec in shape.fields
    ]
    if not any(notes for _, notes in entries):
        return "{" + ", ".join(entry for entry, _ in entries) + "}"
    lines = [f"{inner}{entry}," + (f" // {notes}" if notes else "") for entry, notes in entries]
    return "{\n" + "\n".join(lines) + f"\n{indent}}}"


def _compact_field(spec: FieldSpec, indent: str) -> str:
    """Write ``: type``, or ``?: type`` for an optional field (absent reads as null)."""
    if spec.required:
        return f": {_compact(spec.shape, indent)}"
    return f"?: {_compact(dataclasses.replace(spec.shape, nullable=False), indent)}"


def _notes(spec: FieldSpec) -> str:
    parts = [spec.description.strip()] if spec.description else []
    if spec.shape.aliases:
        parts.append(
            "; ".join(
                f"{json.dumps(value, ensure_ascii=False)} also written "
                + ", ".join(json.dumps(alias, ensure_ascii=False) for alias in names)
                for value, names in spec.shape.aliases.items()
            )
        )
    if spec.null_means:
        parts.append(f"null {spec.null_means.strip()}")
    return ". ".join(part.rstrip(".") for part in parts if part) + ("." if parts else "")


def render_schema(shape: Shape, style: SchemaStyle, *, batch: bool = False) -> str:
    """Render the reply shape the way a prompt states it."""
    if style == "compact":
        return compact_schema(shape, batch=batch)
    schema = batch_schema(shape) if batch else json_schema(shape)
    return json.dumps(schema, ensure_ascii=False, separators=(",", ":"))
