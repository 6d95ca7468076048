"""Schema-aligned coercion: bend a parsed JSON value toward the output shape, reporting each step.

Driven by the :class:`~promptkit.schema.Shape` of the output model:

- scalars (:mod:`promptkit.output.scalars`): numbers written with thousands
  separators, underscores, signs, decimal commas or as fractions; booleans
  as words; numbers where a string is expected; dates, times and durations
  in common written forms;
- enums (:mod:`promptkit.output.enums`): the one value named, by case,
  punctuation, alias, explanation or in prose; never one of two named;
- arrays: a single value becomes a one-item list; a JSON text in a string
  is read; a map may come as a list of ``{"key", "value"}`` pairs;
- a one-item list (or the one matching item) where a number, boolean or enum
  value is expected;
- unions: the alternative the discriminator names, else the first that fits
  as it is, else the one that fits after the fewest changes;
- objects: keys matched by any spelling (the name, an alias; case and
  separators ignored); unknown keys dropped; a bare value where a one-field
  object is expected; null in an optional field that cannot be null reads
  as its default;
- an object written with no quotes (code, a type: ``{title: string}``) in a
  string field is the text it was written as;
- null-words (``"N/A"``, ``"none"``, ``"Not Applicable"``, ``"-"``...) become
  null in nullable fields only; ``""`` does so only where no string fits.

What cannot be coerced is left as it is for validation to report.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from promptkit.output.actions import Action
from promptkit.output.enums import NO_MATCH, NoMatch, is_allowed, match_enum, unaccented
from promptkit.output.extract import find_values
from promptkit.output.fit import fits, key_spelling, known_keys
from promptkit.output.repair import Spans, written_as
from promptkit.output.scalars import SCALARS
from promptkit.output.scanner import QUOTES
from promptkit.schema import FieldSpec, Shape

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

_SCALAR_KINDS = frozenset({"string", "integer", "number", "boolean", "enum"})
_QUOTED = re.compile(f"[{QUOTES}]")

Path = tuple[str | int, ...]


def coerce(
    value: Any, shape: Shape, *, drop_unknown: bool = True, spans: Spans | None = None
) -> tuple[Any, list[Action]]:
    """Return ``value`` bent toward ``shape`` and an action for every change made.

    Args:
        value: a parsed JSON value.
        shape: the output shape (from :func:`promptkit.schema.shape_of`).
        drop_unknown: drop keys no field answers to (models with ``extra="allow"`` keep them).
        spans: where the reading's objects were written: an object in a string field is
            the text it was written as (``{title: string, onClick: () => void}``).
    """
    actions: list[Action] = []
    return _Coercer(actions, drop_unknown, spans).value(value, shape, ()), actions


def is_null_word(value: Any) -> bool:
    """Say whether ``value`` is a string that means "no value" (see :data:`NULL_WORDS`)."""
    return isinstance(value, str) and value.strip().casefold().rstrip(".") in NULL_WORDS


def reads_as_null(value: Any, shape: Shape) -> bool:
    """Say whether a value in a nullable shape is a null-word to coerce to null."""
    if not shape.nullable or not is_null_word(value) or is_allowed(value, shape):
        return False
    return value != "" or not _takes_strings(shape)


def _takes_strings(shape: Shape) -> bool:
    if shape.kind == "union":
        return any(option.kind == "string" for option in shape.options)
    return shape.kind in ("string", "any")


def has_null_words(instance: BaseModel, shape: Shape) -> bool:
    """Say whether a validated instance holds a null-word in a nullable field (to be coerced)."""
    return any(
        _holds_null_word(getattr(instance, spec.name, None), spec.shape) for spec in shape.fields
    )


def null_word_fields(shape: Shape | None) -> tuple[str, ...] | None:
    """Name the top-level fields of an object shape where a null-word could be coerced.

    These are the nullable string and enum fields. ``None`` means a
    nullable value may also sit deeper (in a nested object, list, map or
    union), so :func:`has_null_words` must look at the whole value.
    """
    if shape is None or shape.kind != "object":
        return None
    if not _nullable_text_inside(shape):
        return ()  # no nullable string or enum anywhere: nothing to look at
    names = []
    for spec in shape.fields:
        if spec.shape.kind not in _SCALAR_KINDS:
            return None
        if spec.shape.nullable and spec.shape.kind in ("string", "enum"):
            names.append(spec.name)
    return tuple(names)


def rewrites_valid_values(shape: Shape) -> bool:
    """Say whether coercion may rewrite a value the model already accepts.

    Dates, times, durations, decimals (and uuids) are written the one way of
    their format; any other value that validates strictly comes out of
    coercion as it went in, with nothing reported.
    """
    return _somewhere(shape, lambda node: bool(node.format))


def _nullable_text_inside(shape: Shape) -> bool:
    """Say whether a nullable string, enum or union sits anywhere in a shape."""
    text_kinds = ("string", "enum", "union")
    return _somewhere(shape, lambda node: node.nullable and node.kind in text_kinds)


def _somewhere(shape: Shape, test: Callable[[Shape], bool]) -> bool:
    """Say whether any node of a shape passes ``test`` (cycles too)."""
    seen: set[int] = set()
    pending = [shape]
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if test(node):
            return True
        pending += [spec.shape for spec in node.fields] + list(node.options)
        pending += [child for child in (node.item, node.key) if child is not None]
    return False


def _holds_null_word(value: Any, shape: Shape) -> bool:
    if value is None:
        return False
    if isinstance(value, str) and reads_as_null(value, shape):
        return True
    if isinstance(value, BaseModel):
        if shape.kind == "union":
            return any(_holds_null_word(value, option) for option in shape.options)
        return shape.kind == "object" and has_null_words(value, shape)
    item = shape.item
    if isinstance(value, list | tuple | set | frozenset):
        if shape.kind == "tuple":
            return any(map(_holds_null_word, value, shape.options))
        return item is not None and any(_holds_null_word(member, item) for member in value)
    if isinstance(value, dict) and shape.kind == "map" and item is not None:
        return any(_holds_null_word(member, item) for member in value.values())
    return False


class _Coercer:
    """One coercion of one value; the actions list is the report."""

    def __init__(self, actions: list[Action], drop: bool, spans: Spans | None) -> None:
        self.actions = actions
        self.drop = drop
        self.spans = spans

    def note(self, path: Path, message: str, before: Any = None, after: Any = None) -> None:
        self.actions.append(Action("coerce", path, message, before, after))

    def value(self, value: Any, shape: Shape, path: Path) -> Any:
        if value is None:
            return None
        kind = shape.kind
        plain_string = kind == "string" and value.__class__ is str and not shape.format
        if plain_string and (value == "" or not shape.nullable or not is_null_word(value)):
            return value  # the common case, nothing to do
        if reads_as_null(value, shape):
            self.note(path, f"read {value!r} as null", value, None)
            return None
        if kind == "object":
            return self.object(value, shape, path)
        if kind in ("array", "tuple", "map"):
            return self.container(value, shape, path)
        if kind == "union":
            return self.union(value, shape, path)
        if kind in ("any", "null"):
            return value
        if isinstance(value, list):
            # ["TWO"] for one value; a list is no string, though: that is left to validation
            return value if kind == "string" else self.scalar_from_list(value, shape, path)
        if kind == "string" and value.__class__ is dict and value and not shape.format:
            # Written with no quote at all, it is code or a type ({title: string}), not JSON:
            # its text is the string. An object written as JSON is refused, to be asked again.
            text = written_as(self.spans, value)
            if text is not None and not _QUOTED.search(text):
                self.note(path, "kept an object written with no quotes as its text")
                return text
        if kind == "enum":
            result = match_enum(value, shape)
            if not isinstance(result, NoMatch) and result != value:
                self.note(path, f"matched {value!r} to {result!r}", value, result)
                return result
            return value
        converted = SCALARS[kind, shape.format](value)
        if converted is not NO_MATCH and (converted != value or type(converted) is not type(value)):
            described = shape.format or kind
            self.note(path, f"converted {value!r} to {described} {converted!r}", value, converted)
            return converted
        return value

    def scalar_from_list(self, value: list[Any], shape: Shape, path: Path) -> Any:
        """A list where one value is expected: its one item, or the one item that fits."""
        trials = [self.trial(item, shape, path) for item in value]
        fitting = [result for result, ok, _ in trials if ok]
        distinct = [v for i, v in enumerate(fitting) if v not in fitting[:i]]
        if len(value) == 1 or len(distinct) == 1:
            chosen = trials[0][0] if len(value) == 1 else distinct[0]
            self.note(path, f"took {chosen!r} out of a list of {len(value)}", value, chosen)
            return chosen
        return value

    def trial(self, value: Any, shape: Shape, path: Path) -> tuple[Any, bool, list[Action]]:
        """Coerce on the side: the result, whether it fits, and what it took."""
        scratch = _Coercer([], self.drop, self.spans)
        result = scratch.value(value, shape, path)
        return result, fits(result, shape), scratch.actions

    # -- objects -------------------------------------------------------------------

    def object(self, value: Any, shape: Shape, path: Path) -> Any:
        if isinstance(value, str):
            value = self.embedded(value, path)
        one_object = isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict)
        if one_object and (known_keys(value[0], shape) or len(shape.fields) != 1):
            self.note(path, "took the one object out of a list")
            value = value[0]
        if not isinstance(value, dict):
            return self.bare_value(value, shape, path)
        lone = shape.fields[0].shape.kind if len(shape.fields) == 1 else ""
        if lone and (value or lone in ("map", "any")) and not known_keys(value, shape):
            whole = self.bare_value(value, shape, path)
            if whole is not value:
                return whole  # {"a": "b"} where {value: dict} is expected: the map itself
        by_name = _names(shape)
        result: dict[str, Any] = {}
        unknown: list[tuple[str, Any]] = []
        for key, member in value.items():
            spec = by_name.get(key) if isinstance(key, str) else None
            if spec is None:
                spec = _spelled_field(by_name, str(key))
                if spec is None:
                    unknown.append((key, member))
                    continue
                if spec.name in result:
                    self.note((*path, key), f"dropped {key!r}, a second {spec.key!r}", member)
                    continue
                if key not in spec.names:
                    self.note((*path, spec.key), f"read key {key!r} as {spec.key!r}", key)
            elif spec.name in result:
                self.note((*path, key), f"dropped {key!r}, a second {spec.key!r}", member)
                continue
            self.member(result, spec, member, (*path, spec.key))
        if unknown and not result and len(unknown) == 1 and len(shape.fields) == 1:
            (key, member), spec = unknown[0], shape.fields[0]
            if not isinstance(member, dict | list):
                self.note((*path, spec.key), f"read the one key {key!r} as {spec.key!r}", key)
                self.member(result, spec, member, (*path, spec.key))
                unknown = []
        for key, member in unknown:
            if self.drop:
                self.note((*path, key), f"dropped unknown key {key!r}", member, None)
            else:
                result[key] = member
        return result

    def member(self, into: dict[str, Any], spec: FieldSpec, member: Any, path: Path) -> None:
        optional = not spec.required and not spec.shape.nullable
        if member is None and optional and spec.shape.kind not in ("any", "null"):
            self.note(path, "read null as the field's default", None)
            return
        into[spec.name] = self.value(member, spec.shape, path)

    def bare_value(self, value: Any, shape: Shape, path: Path) -> Any:
        """A value where a one-field object is expected is that field's value, if it fits."""
        if len(shape.fields) != 1:
            return value
        spec = shape.fields[0]
        result, ok, steps = self.trial(value, spec.shape, (*path, spec.key))
        if not ok:
            return value
        self.note(path, f"read the value as the one field {spec.key!r}", value, None)
        self.actions.extend(steps)
        return {spec.name: result}

    def embedded(self, text: str, path: Path) -> Any:
        """Read the JSON a string holds (``"{\\"a\\": 1}"``, a fenced block), or keep the string."""
        stripped = text.strip()
        if not stripped or stripped[0] not in "{[`":
            return text
        try:
            found = find_values(stripped)
        except ValueError:
            return text
        if len(found) != 1 or found[0].truncated:
            return text
        self.note(path, "read the JSON written inside a string", text, found[0].value)
        return found[0].value

    # -- containers ----------------------------------------------------------------

    def container(self, value: Any, shape: Shape, path: Path) -> Any:
        if isinstance(value, str):
            value = self.embedded(value, path)
        if shape.kind == "map":
            return self.map(value, shape, path)
        assert shape.kind == "tuple" or shape.item is not None
        if not isinstance(value, list):
            item = shape.item
            mapping = isinstance(value, dict) and shape.kind == "array"
            if mapping and item is not None and item.kind != "object" and not fits(value, item):
                return value
            self.note(path, "wrapped a single value in a list", value, [value])
            value = [value]
        if shape.kind == "tuple":
            options = shape.options
            return [
                self.value(item, options[index], (*path, index)) if index < len(options) else item
                for index, item in enumerate(value)
            ]
        item_shape = shape.item
        assert item_shape is not None
        return [self.value(item, item_shape, (*path, index)) for index, item in enumerate(value)]

    def map(self, value: Any, shape: Shape, path: Path) -> Any:
        assert shape.item is not None
        if isinstance(value, list) and all(_is_pair(item) for item in value):
            self.note(path, "read a list of key/value pairs as a map", value)
            value = {_pair_key(item): _pair_value(item) for item in value}
        if not isinstance(value, dict):
            return value
        result = {}
        for key, member in value.items():
            name = key if isinstance(key, str) else str(key)
            if shape.key is not None and shape.key.kind == "enum":
                matched = match_enum(name, shape.key)
                if not isinstance(matched, NoMatch):
                    if matched != name:
                        self.note((*path, name), f"matched key {name!r} to {matched!r}", name)
                    name = matched
            result[name] = self.value(member, shape.item, (*path, name))
        return result

    # -- unions ----------------------------------------------------------------------

    def union(self, value: Any, shape: Shape, path: Path) -> Any:
        tagged = self.by_discriminator(value, shape, path)
        if tagged is not None:
            return self.value(value, tagged, path)
        for option in shape.options:
            if fits(value, option):
                return self.value(value, option, path)
        best: tuple[tuple[int, int, int, int], Any, list[Action]] | None = None
        for order, option in enumerate(shape.options):
            result, ok, steps = self.trial(value, option, path)
            rank = (ok, known_keys(value, option), -len(steps), -order)
            if best is None or rank > best[0]:
                best = (rank, result, steps)
        assert best is not None
        if not best[0][0]:
            return value
        self.actions.extend(best[2])
        return best[1]

    def by_discriminator(self, value: Any, shape: Shape, path: Path) -> Shape | None:
        if not shape.discriminator or not isinstance(value, dict):
            return None
        tag = next(
            (
                v
                for k, v in value.items()
                if isinstance(k, str) and key_spelling(k) == key_spelling(shape.discriminator)
            ),
            None,
        )
        if tag is None:
            return None
        for option in shape.options:
            spec = next((s for s in option.fields if shape.discriminator in s.names), None)
            if spec is not None and not isinstance(match_enum(tag, spec.shape), NoMatch):
                return option
        return None


def _is_pair(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and len(item) == 2
        and {key_spelling(str(k)) for k in item} == {"key", "value"}
    )


def _pair_key(item: dict[str, Any]) -> str:
    key = next(v for k, v in item.items() if key_spelling(k) == "key")
    return key if isinstance(key, str) else str(key)


def _pair_value(item: dict[str, Any]) -> Any:
    return next(v for k, v in item.items() if key_spelling(k) == "value")


@functools.lru_cache(maxsize=256)
def _names_cached(shape: Shape) -> dict[str, FieldSpec]:
    table: dict[str, FieldSpec] = {}
    for spec in shape.fields:
        for name in spec.names:
            table.setdefault(name, spec)
    for spec in shape.fields:
        for name in spec.names:
            table.setdefault(key_spelling(name), spec)
    for spec in shape.fields:
        for name in spec.names:
            table.setdefault(unaccented(key_spelling(name)), spec)
    return table


def _names(shape: Shape) -> dict[str, FieldSpec]:
    """Every spelling of every field, as written, normalised and unaccented, to the field."""
    return _names_cached(shape)


def _spelled_field(by_name: dict[str, FieldSpec], key: str) -> FieldSpec | None:
    """The field ``key`` spells ignoring case, punctuation and spacing, then accents too."""
    spelling = key_spelling(key)
    return by_name.get(spelling) or by_name.get(unaccented(spelling))
