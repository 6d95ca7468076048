"""The output contract of a task: a pydantic model read once into a small shape tree.

From the one tree come the compact notation, the JSON Schema and the strict
provider formats (:mod:`promptkit.formats`), the coercion of replies
(:mod:`promptkit.output.coerce`) and the hypothesis strategies
(:mod:`promptkit.testing`). docs/tasks.md lists the supported field types;
anything else is refused with the field and the reason
(:class:`~promptkit.errors.UnsupportedType`).

A recursive model is a cyclic tree: an object shape reachable from itself.
Parsing follows it as deep as a reply goes; what a prompt or a grammar shows
is unrolled to :data:`RECURSION_DEPTH` levels first (:func:`promptkit.notation.unrolled`).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime
import decimal
import enum
import functools
import ipaddress
import pathlib
import re
import types
import typing
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Union

import typing_extensions
from pydantic import (
    AliasChoices,
    AliasPath,
    AnyUrl,
    AwareDatetime,
    BaseModel,
    Discriminator,
    EmailStr,
    FutureDate,
    FutureDatetime,
    IPvAnyAddress,
    NaiveDatetime,
    PastDate,
    PastDatetime,
    RootModel,
)
from pydantic.fields import FieldInfo
from typing_extensions import TypeAliasType

from promptkit.errors import UnsupportedType
from promptkit.fieldinfo import model_fields, read_metadata

ScalarKind = Literal["string", "integer", "number", "boolean", "enum", "any", "null"]
ContainerKind = Literal["array", "tuple", "object", "map", "union"]
Kind = Literal[ScalarKind, ContainerKind]

RECURSION_DEPTH = 3
"""How many times a recursive model nests in what a prompt or grammar shows."""

_SCALARS: dict[Any, tuple[Kind, str]] = {
    str: ("string", ""),
    int: ("integer", ""),
    float: ("number", ""),
    bool: ("boolean", ""),
    decimal.Decimal: ("number", "decimal"),
    uuid.UUID: ("string", "uuid"),
    datetime.datetime: ("string", "date-time"),
    datetime.date: ("string", "date"),
    datetime.time: ("string", "time"),
    datetime.timedelta: ("string", "duration"),
    ipaddress.IPv4Address: ("string", "ipv4"),
    ipaddress.IPv6Address: ("string", "ipv6"),
    IPvAnyAddress: ("string", "ip"),
    EmailStr: ("string", "email"),  # validated by pydantic with email-validator installed
    bytes: ("string", ""),
    re.Pattern: ("string", "regex"),
}
# pydantic's dates and times with a condition: the condition is a note (and a strategy's bound)
_CONDITIONED: dict[Any, tuple[str, dict[str, Any]]] = {
    PastDate: ("date", {"when": "past"}),
    FutureDate: ("date", {"when": "future"}),
    PastDatetime: ("date-time", {"when": "past"}),
    FutureDatetime: ("date-time", {"when": "future"}),
    AwareDatetime: ("date-time", {"timezone": True}),
    NaiveDatetime: ("date-time", {"timezone": False}),
}
_SUPPORTED = (
    "use str, int, float, bool, bytes, Decimal, UUID, a date or time type, a URL, an email, "
    "an IP address, a Path, a Pattern, Literal, Enum, list, set, tuple, dict with str or int "
    "keys, a nested model, dataclass, TypedDict, NamedTuple or RootModel, Union or Any "
    "(Optional of any of these)"
)
_SEQUENCES = (list, set, frozenset, collections.deque, collections.abc.Sequence)
_MAPPINGS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)
_WEB_SCHEMES = frozenset({"http", "https"})
_META_KEY = "promptkit"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of an object shape, with what a prompt should say about it.

    ``name`` is the model's attribute; ``key`` the one name the prompt, the
    examples and the schema use for it in JSON (its serialization alias, or
    the name); ``names`` every spelling a reply may use (the name, the key
    and the validation aliases).
    """

    name: str
    shape: Shape
    description: str | None = None
    null_means: str | None = None
    required: bool = True
    key: str = ""
    names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", self.name)
        if not self.names:
            object.__setattr__(self, "names", tuple(dict.fromkeys((self.name, self.key))))


@dataclass(frozen=True, slots=True, eq=False)
class Shape:
    """The type of a value as promptkit describes it to a model.

    Attributes:
        kind: the JSON kind; ``enum`` for a closed set of values.
        nullable: null is allowed too.
        values: an enum's allowed values.
        aliases: other spellings of an enum's values.
        item: an array's item, a map's value.
        fields: an object's fields.
        title: the model or enum name.
        options: a union's alternatives, a fixed tuple's items.
        key: a map's key: ``None`` for a string, else an enum or integer shape.
        format: ``date-time``, ``date``, ``time``, ``duration``, ``uuid`` or ``decimal``.
        constraints: JSON Schema keywords (``minimum``, ``maxLength``, ``pattern``...).
        unique: an array of distinct items (a set).
        discriminator: the key that tells a union's alternatives apart.
    """

    kind: Kind
    nullable: bool = False
    values: tuple[Any, ...] = ()
    aliases: Mapping[Any, tuple[str, ...]] = field(default_factory=dict)
    item: Shape | None = None
    fields: tuple[FieldSpec, ...] = ()
    title: str = ""
    options: tuple[Shape, ...] = ()
    key: Shape | None = None
    format: str = ""
    constraints: Mapping[str, Any] = field(default_factory=dict)
    unique: bool = False
    discriminator: str = ""


@dataclass(frozen=True, slots=True)
class Spellings:
    """``Annotated`` metadata of an enum: the other spellings of its values (a vocabulary).

    Held as (value, spellings) pairs, so that the annotation stays hashable.
    """

    pairs: tuple[tuple[Any, tuple[str, ...]], ...]


def element(shape: Shape) -> Shape:
    """A field's shape, or its item's for a list: what a value of it is checked against."""
    return shape.item if shape.kind == "array" and shape.item is not None else shape


def field_metadata(
    *,
    null: str | None = None,
    aliases: Mapping[Any, Iterable[str]] | None = None,
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
    shape, problems = _read(model)
    if problems:
        raise problems[0]
    return shape


def shape_problems(model: type[BaseModel]) -> list[UnsupportedType]:
    """Return every field of a model (nested ones too) whose type promptkit cannot describe."""
    return _read(model)[1]


def _read(model: type[BaseModel]) -> tuple[Shape, list[UnsupportedType]]:
    reader = _Reader()
    if issubclass(model, RootModel):
        reason = "a task's input and output are objects: make the RootModel a field of a model"
        return Shape("any"), [UnsupportedType("root", model, reason)]
    shape = reader.read_model(model, "")
    return shape, reader.problems


class _Reader:
    """Reads annotations into shapes; models and type aliases being read are shared (cycles)."""

    def __init__(self) -> None:
        self.problems: list[UnsupportedType] = []
        self.open: dict[Any, Shape] = {}
        self.variants: dict[int, list[tuple[Shape, dict[str, Any]]]] = {}

    def variant(self, shape: Shape, **changes: Any) -> Shape:
        """A copy of ``shape`` with changes; a copy of a model still being read follows it."""
        copy = dataclasses.replace(shape, **changes)
        if any(shape is placeholder for placeholder in self.open.values()):
            self.variants.setdefault(id(shape), []).append((copy, changes))
        return copy

    def fill(self, placeholder: Shape, shape: Shape) -> None:
        """Make ``placeholder`` (and its variants) the shape; the cycles point at them."""
        _fill(placeholder, shape)
        for copy, changes in self.variants.pop(id(placeholder), []):
            _fill(copy, dataclasses.replace(shape, **changes))

    def refuse(self, path: str, annotation: Any, reason: str = _SUPPORTED) -> Shape:
        self.problems.append(UnsupportedType(path, annotation, reason))
        return Shape("any")

    def read_model(self, model: type, prefix: str) -> Shape:
        """A pydantic model, a dataclass or a TypedDict: an object of its fields."""
        if model in self.open:
            return self.open[model]
        placeholder = Shape("any")  # filled in when read
        self.open[model] = placeholder
        specs = tuple(
            self.read_field(name, info, f"{prefix}{name}")
            for name, info in model_fields(model).items()
        )
        self.fill(placeholder, Shape("object", fields=specs, title=model.__name__))
        del self.open[model]
        return placeholder

    def read_field(self, name: str, info: FieldInfo, path: str) -> FieldSpec:
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        meta: Mapping[str, Any] = extra.get(_META_KEY) or {}  # type: ignore[assignment]
        metadata: list[Any] = list(info.metadata)
        if isinstance(info.discriminator, str):
            metadata.append(Discriminator(info.discriminator))
        elif info.discriminator is not None:
            metadata.append(info.discriminator)
        shape = self.read_annotation(info.annotation, path, metadata)
        aliases = meta.get("aliases")
        if aliases:
            shape = self.with_aliases(shape, aliases, path, info.annotation)
        key, names = self.read_names(name, info, path)
        required = info.is_required()
        if required and not shape.nullable and shape in self.open.values():
            reason = "it refers back to its own model: make it Optional, a list or a default"
            self.refuse(path, info.annotation, reason)
        return FieldSpec(name, shape, info.description, meta.get("null"), required, key, names)

    def read_names(self, name: str, info: FieldInfo, path: str) -> tuple[str, tuple[str, ...]]:
        accepted = [name]
        validation = info.validation_alias
        if isinstance(validation, str):
            accepted.append(validation)
        elif isinstance(validation, AliasChoices):
            for choice in validation.choices:
                if isinstance(choice, str):
                    accepted.append(choice)
                else:
                    self.refuse(path, choice, "a validation alias path cannot be described")
        elif isinstance(validation, AliasPath):
            self.refuse(path, validation, "a validation alias path cannot be described")
        for alias in (info.alias, info.serialization_alias):
            if alias:
                accepted.append(alias)
        key = info.serialization_alias or info.alias or name
        return key, tuple(dict.fromkeys([key, *accepted]))

    def with_aliases(
        self, shape: Shape, aliases: Mapping[Any, tuple[str, ...]], path: str, annotation: Any
    ) -> Shape:
        target = element(shape)
        unknown = [value for value in aliases if value not in target.values]
        if target.kind != "enum" or unknown:
            self.problems.append(
                UnsupportedType(
                    path,
                    annotation,
                    f"it declares aliases for {unknown or list(aliases)}, "
                    "which are not among its allowed values",
                )
            )
            return shape
        with_aliases = dataclasses.replace(target, aliases=dict(aliases))
        if target is shape:
            return with_aliases
        return dataclasses.replace(shape, item=with_aliases)

    def read_annotation(self, annotation: Any, path: str, metadata: list[Any]) -> Shape:
        shape = self.read_bare(annotation, path, metadata)
        constraints, discriminator = read_metadata(metadata, shape.kind, path, self.problems)
        for spelled in metadata:
            if isinstance(spelled, Spellings) and spelled.pairs:
                shape = self.with_aliases(shape, dict(spelled.pairs), path, annotation)
        if discriminator and shape.kind == "union":
            shape = self.discriminated(shape, discriminator, path)
        if constraints:
            shape = self.variant(shape, constraints={**shape.constraints, **constraints})
        return shape

    def read_bare(self, annotation: Any, path: str, metadata: list[Any]) -> Shape:
        if isinstance(annotation, TypeAliasType):
            return self.read_named(annotation, annotation.__value__, annotation.__name__, path)
        if isinstance(annotation, typing.NewType):
            return self.read_bare(annotation.__supertype__, path, metadata)
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            base, *more = typing.get_args(annotation)
            metadata.extend(more)
            return self.read_bare(base, path, metadata)
        if origin in (Union, types.UnionType):
            return self.read_union(typing.get_args(annotation), path)
        if origin is Literal:
            return self.read_literal(typing.get_args(annotation), annotation, path)
        if origin in _SEQUENCES:
            (item,) = typing.get_args(annotation) or (Any,)
            unique = origin in (set, frozenset)
            return Shape("array", item=self.read_annotation(item, f"{path}[]", []), unique=unique)
        if origin is re.Pattern:  # Pattern[str]
            return self.read_type(re.Pattern, path)
        if origin is tuple:
            return self.read_tuple(typing.get_args(annotation), annotation, path)
        if origin in _MAPPINGS:
            key, value = typing.get_args(annotation) or (str, Any)
            return self.read_map(key, value, annotation, path)
        if annotation is Any:
            return Shape("any")
        if annotation in (list, set, frozenset, tuple, dict):
            return self.read_bare(
                annotation[Any] if annotation is not dict else dict[str, Any], path, metadata
            )
        if isinstance(annotation, type):
            return self.read_type(annotation, path)
        return self.refuse(path, annotation)

    def read_type(self, annotation: type, path: str) -> Shape:
        if issubclass(annotation, RootModel):
            root = annotation.model_fields["root"]
            return self.read_named(
                annotation, root.annotation, annotation.__name__, path, root.metadata
            )
        if issubclass(annotation, enum.Enum):
            values = tuple(member.value for member in annotation)
            if not all(_is_value(value) for value in values):
                return self.refuse(path, annotation, "an Enum's values must be str, int or float")
            return Shape("enum", values=values, title=annotation.__name__)
        if (
            issubclass(annotation, BaseModel)
            or dataclasses.is_dataclass(annotation)
            or typing_extensions.is_typeddict(annotation)
        ):
            return self.read_model(annotation, f"{path}.")
        if issubclass(annotation, tuple) and hasattr(annotation, "_fields"):  # a NamedTuple
            hints = typing.get_type_hints(annotation, include_extras=True)
            return self.read_tuple(
                tuple(hints[name] for name in annotation._fields), annotation, path
            )
        for python_type, (kind, form) in _SCALARS.items():
            if annotation is python_type:
                return Shape(kind, format=form)
        if annotation in _CONDITIONED:
            form, condition = _CONDITIONED[annotation]
            return Shape("string", format=form, constraints=condition)
        if issubclass(annotation, pathlib.PurePath):
            return Shape("string", format="path")
        if issubclass(annotation, AnyUrl):
            # pydantic keeps a URL type's UrlConstraints here, with no public accessor
            schemes = getattr(getattr(annotation, "_constraints", None), "allowed_schemes", None)
            if schemes is not None and not _WEB_SCHEMES & set(schemes):
                reason = f"a URL type for {', '.join(schemes)} only: use AnyUrl, HttpUrl or str"
                return self.refuse(path, annotation, reason)
            return Shape("string", format="uri")
        return self.refuse(path, annotation)

    def read_named(
        self, named: Any, value: Any, name: str, path: str, metadata: Iterable[Any] = ()
    ) -> Shape:
        """A type alias or a RootModel: the type it names, which may refer back to it."""
        if named in self.open:
            between = list(self.open)[list(self.open).index(named) + 1 :]
            if not any(isinstance(key, type) and not issubclass(key, RootModel) for key in between):
                reason = "it holds itself through no model: a recursive type must pass through one"
                return self.refuse(path, named, reason)
            return self.open[named]
        placeholder = Shape("any")  # filled in when read
        self.open[named] = placeholder
        shape = self.read_annotation(value, path, list(metadata))
        self.fill(placeholder, dataclasses.replace(shape, title=shape.title or name))
        del self.open[named]
        return placeholder

    def read_union(self, members: tuple[Any, ...], path: str) -> Shape:
        nullable = any(member is type(None) for member in members)
        shapes = [self.read_annotation(m, path, []) for m in members if m is not type(None)]
        if not shapes:
            return Shape("null", nullable=True)
        if len(shapes) == 1:
            return self.variant(shapes[0], nullable=True) if nullable else shapes[0]
        if all(shape.kind == "enum" and not shape.nullable for shape in shapes):
            values = tuple(dict.fromkeys(v for shape in shapes for v in shape.values))
            aliases = {k: v for shape in shapes for k, v in shape.aliases.items()}
            return Shape("enum", nullable, values, aliases)
        nullable = nullable or any(shape.nullable for shape in shapes)
        options = tuple(self.variant(s, nullable=False) if s.nullable else s for s in shapes)
        return Shape("union", nullable, options=options)

    def discriminated(self, shape: Shape, tag: str, path: str) -> Shape:
        """Name the JSON key that tells the alternatives apart (their ``Literal`` tag field)."""
        keys = set()
        for option in shape.options:
            spec = next((spec for spec in option.fields if spec.name == tag), None)
            if spec is None or spec.shape.kind != "enum":
                self.refuse(path, option, f"an alternative has no Literal field {tag!r}")
                return shape
            keys.add(spec.key)
        return dataclasses.replace(shape, discriminator=keys.pop() if len(keys) == 1 else tag)

    def read_literal(self, values: tuple[Any, ...], annotation: Any, path: str) -> Shape:
        nullable = None in values
        kept = tuple(value for value in values if value is not None)
        if not all(_is_value(value) or isinstance(value, bool) for value in kept):
            return self.refuse(
                path, annotation, "a Literal's values must be str, int, float or bool"
            )
        if not kept:
            return Shape("null", nullable=True)
        return Shape("enum", nullable, tuple(kept))

    def read_tuple(self, args: tuple[Any, ...], annotation: Any, path: str) -> Shape:
        if len(args) == 2 and args[1] is Ellipsis:
            return Shape("array", item=self.read_annotation(args[0], f"{path}[]", []))
        if not args or args == ((),):
            return self.refuse(path, annotation, "an empty tuple holds nothing to ask for")
        items = tuple(self.read_annotation(arg, f"{path}[{i}]", []) for i, arg in enumerate(args))
        return Shape("tuple", options=items)

    def read_map(self, key: Any, value: Any, annotation: Any, path: str) -> Shape:
        key_shape = self.read_annotation(key, f"{path}{{key}}", [])
        if (
            key_shape.kind not in ("string", "enum", "integer")
            or key_shape.format
            or key_shape.constraints
            or any(not isinstance(v, str) for v in key_shape.values)
        ):
            reason = "a dict's keys must be str, int, or a Literal or Enum of str"
            return self.refuse(path, annotation, reason)
        item = self.read_annotation(value, f"{path}{{}}", [])
        # JSON writes every key as a string: an int key is a string of digits, read back as int.
        return Shape("map", item=item, key=None if key_shape.kind == "string" else key_shape)


def _fill(placeholder: Shape, shape: Shape) -> None:
    for slot in Shape.__slots__:
        object.__setattr__(placeholder, slot, getattr(shape, slot))


def _is_value(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)
