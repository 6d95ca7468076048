"""Closed vocabularies: a field's canonical values, each with the spellings that mean it.

``vocabulary({"sleeveless": ["sleevless", "no sleeve"], "long sleeve": [...]})``
is a type: a ``Literal`` of the canonical values, annotated with their other
spellings. Everything that reads a task uses the one table built here:

- the compact notation shows the canonical values (briefly: the spellings
  are not listed once there are many, see :func:`promptkit.notation.field_notes`);
- a grammar backend can only write a canonical value (or null);
- a reply's spelling is coerced to its canonical value and reported
  (:mod:`promptkit.output.enums`), and so are the spellings of examples and
  labelled rows, so that outputs are values people can count;
- ``grounded`` accepts a canonical value when any of its spellings occurs in
  the input, and narrows a constrained field to the values the input spells.

A ``Literal`` or ``Enum`` field with ``field(aliases=...)`` is the same thing
written by hand.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from promptkit.schema import FieldSpec, Shape, Spellings, element

_NOT_ALNUM = re.compile(r"[\W_]+")


def vocabulary(spellings: Mapping[str, Sequence[str]] | Sequence[str]) -> Any:
    """Return the type of a field that takes one of a closed set of canonical values.

    Args:
        spellings: the canonical values, each mapped to the other ways of writing it
            (misspellings, hyphenations, synonyms); or just the values.

    Raises:
        ValueError: no values, or one spelling given for two values.
    """
    table = (
        {value: tuple(names) for value, names in spellings.items()}
        if isinstance(spellings, Mapping)
        else dict.fromkeys(spellings, ())
    )
    if not table:
        raise ValueError("a vocabulary needs at least one value")
    owner: dict[str, str] = {}
    for value, names in table.items():
        for name in (value, *names):
            key = spelling_key(name)
            if owner.setdefault(key, value) != value:
                raise ValueError(f"{name!r} is a spelling of both {owner[key]!r} and {value!r}")
    pairs = tuple((value, names) for value, names in table.items() if names)
    return Annotated[Literal[tuple(table)], Spellings(pairs)]


def spelling_key(text: str) -> str:
    """The key two spellings share when they differ only in case, punctuation or spacing."""
    return _NOT_ALNUM.sub("", text.casefold())


def spellings(shape: Shape, value: Any) -> tuple[str, ...]:
    """Every way of writing one of an enum shape's values: the value, then its aliases."""
    return (str(value), *shape.aliases.get(value, ()))


def spelling_table(shape: Shape) -> dict[str, Any]:
    """Map every spelling of an enum shape's values, by :func:`spelling_key`, to its value."""
    return _table(shape.values, tuple(shape.aliases.items()))


@functools.lru_cache(maxsize=512)
def _table(
    values: tuple[Any, ...], aliases: tuple[tuple[Any, tuple[str, ...]], ...]
) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for allowed in values:
        table.setdefault(spelling_key(str(allowed)), allowed)
    for allowed, names in aliases:
        for name in names:
            table.setdefault(spelling_key(name), allowed)
    return table


def canonical_fields(fields: Sequence[FieldSpec], data: Mapping[str, Any]) -> dict[str, Any]:
    """Return an output's data with every spelling of a vocabulary value made canonical.

    Only fields of a vocabulary (an enum shape with aliases, or a list of one) change;
    a value that is no spelling is left for validation to report.
    """
    result = dict(data)
    for spec in fields:
        shape = element(spec.shape)
        if shape.kind != "enum" or not shape.aliases:
            continue
        for name in spec.names:
            if name in result:
                result[name] = _canonical(shape, result[name])
    return result


def _canonical(shape: Shape, value: Any) -> Any:
    if isinstance(value, list):
        return [_canonical(shape, member) for member in value]
    if not isinstance(value, str):
        return value
    return spelling_table(shape).get(spelling_key(value), value)
