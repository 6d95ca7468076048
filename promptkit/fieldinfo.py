"""Fields as pydantic describes them, for :mod:`promptkit.schema` to read into shapes.

- :func:`model_fields`: the fields of a pydantic model, a dataclass (stdlib or
  pydantic) or a ``TypedDict``, each as a pydantic ``FieldInfo``;
- :func:`read_metadata`: a field's ``Annotated`` and ``Field`` metadata as JSON
  Schema keywords (bounds, lengths, a pattern, a multiple, a decimal's digits
  and places, a UUID's version), which a shape keeps in its ``constraints``
  for the notation, the JSON Schema, the strategies and validation, and the
  discriminator of a union.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import annotated_types
import typing_extensions
from pydantic import BaseModel, Discriminator, Json
from pydantic.fields import FieldInfo
from pydantic.types import UuidVersion
from pydantic_core import PydanticUndefined

from promptkit.errors import UnsupportedType

_BOUNDS = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum"}
_JSON: type = Json  # the marker class of Json[T] (generic only to type checkers)


def model_fields(model: type) -> dict[str, FieldInfo]:
    """The fields of a pydantic model or dataclass, a dataclass or a TypedDict, as pydantic's."""
    if issubclass(model, BaseModel):
        return model.model_fields
    pydantic_fields: dict[str, FieldInfo] | None = getattr(model, "__pydantic_fields__", None)
    if pydantic_fields is not None:  # a pydantic dataclass
        return pydantic_fields
    hints = typing.get_type_hints(model, include_extras=True)
    if dataclasses.is_dataclass(model):
        fields = {}
        for spec in dataclasses.fields(model):
            default: Any = spec.default
            if spec.default_factory is not dataclasses.MISSING:
                default = FieldInfo(default_factory=spec.default_factory)
            elif default is dataclasses.MISSING:
                default = PydanticUndefined  # required
            fields[spec.name] = FieldInfo.from_annotated_attribute(hints[spec.name], default)
        return fields
    required: frozenset[str] = getattr(model, "__required_keys__", frozenset(hints))
    fields = {}
    for name, hint in hints.items():  # a TypedDict: a key it may leave out has no default
        while typing.get_origin(hint) in (
            typing_extensions.NotRequired,
            typing_extensions.Required,
        ):
            (hint,) = typing.get_args(hint)
        info = FieldInfo.from_annotation(hint)
        fields[name] = info if name in required else FieldInfo.merge_field_infos(info, default=None)
    return fields


def read_metadata(
    metadata: list[Any], kind: str, path: str, problems: list[UnsupportedType]
) -> tuple[dict[str, Any], str]:
    """Turn ``Annotated``/``Field`` metadata into JSON Schema keywords and a discriminator.

    ``kind`` is the shape's kind, which names the length keywords (``maxLength``
    for a string, ``maxItems`` for a list); what cannot be described is added
    to ``problems``.
    """
    constraints: dict[str, Any] = {}
    discriminator = ""
    pending = list(metadata)
    while pending:
        item = pending.pop(0)
        if isinstance(item, FieldInfo):
            pending.extend(item.metadata)
            if isinstance(item.discriminator, str):
                discriminator = item.discriminator
        elif isinstance(item, Discriminator):
            if isinstance(item.discriminator, str):
                discriminator = item.discriminator
        elif isinstance(item, annotated_types.GroupedMetadata):
            pending.extend(item)
        elif isinstance(item, annotated_types.BaseMetadata):
            _constraint(item, kind, constraints)
        elif isinstance(item, UuidVersion):
            constraints["uuid_version"] = item.uuid_version
        elif isinstance(item, _JSON):
            reason = "a Json field holds JSON written as a string: use the type inside it"
            problems.append(UnsupportedType(path, Json, reason))
    return constraints, discriminator


def _constraint(item: Any, kind: str, into: dict[str, Any]) -> None:
    sized = {"string": ("minLength", "maxLength"), "map": ("minProperties", "maxProperties")}
    low, high = sized.get(kind, ("minItems", "maxItems"))
    for attribute, keyword in _BOUNDS.items():
        bound = getattr(item, attribute, None)
        if bound is not None:
            into[keyword] = bound
    if isinstance(item, annotated_types.MultipleOf):
        into["multipleOf"] = item.multiple_of
    elif isinstance(item, annotated_types.MinLen):
        into[low] = item.min_length
    elif isinstance(item, annotated_types.MaxLen):
        into[high] = item.max_length
    pattern = getattr(item, "pattern", None)
    if isinstance(pattern, str):
        into["pattern"] = pattern
    elif pattern is not None:
        into["pattern"] = pattern.pattern
    for attribute in ("max_digits", "decimal_places"):
        limit = getattr(item, attribute, None)
        if limit is not None:
            into[attribute] = limit
