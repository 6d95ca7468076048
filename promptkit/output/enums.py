"""Find the one allowed value a reply names, in a value or in prose around it.

Tried in order, the first that decides wins:

1. the value itself (``"TWO"``, ``2``);
2. the same text ignoring case, punctuation and spacing, or a declared alias
   (``"Read Only"`` for ``read-only``, ``"k-2-3 1_1"`` for ``k-2-3.1_1``);
   then ignoring accents as well (``"cafe"`` for ``café``, ``"UBER"`` for
   ``Über``), where no value is spelled that way with its accents;
3. the head of a value-plus-explanation (``"ADMIN - full access"``), when
   the explanation names no other value;
4. the values named anywhere in the text as whole words, first with their
   case, then ignoring it (``"The answer is TWO"``, ``"**one** is the
   answer"``). Longer names win over names inside them (``car-2`` over
   ``car``).

A text that names two or more different values is ambiguous: no value is
chosen, and validation reports the reply (``"ONE - is the answer, not
TWO"``, ``"2 or 3"``). A value named only to be negated (``"Not
positive"``, ``"no red at all"``) is not chosen either.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from promptkit.schema import Shape
from promptkit.vocabularies import spelling_key, spelling_table

_WORDS = re.compile(r"[^\W_]+")
_EXPLANATION = re.compile(r"\s+[-\u2013\u2014]\s+|\s*[:(\[,;]|\.\s|\n")
_ACCENTS = re.compile("[\u0300-\u036f]+")


class NoMatch:
    """Marks a value that stands for no allowed value (or for more than one)."""

    def __init__(self, ambiguous: tuple[Any, ...] = ()) -> None:
        self.ambiguous = ambiguous


NO_MATCH: Any = NoMatch()


def is_allowed(value: Any, shape: Shape) -> bool:
    """Say whether ``value`` is exactly one of an enum shape's values (``True`` is not ``1``)."""
    if shape.kind != "enum":
        return False
    return any(value == allowed and type(value) is type(allowed) for allowed in shape.values)


def match_enum(value: Any, shape: Shape) -> Any:
    """Return the allowed value ``value`` stands for, or a :class:`NoMatch` (see the module)."""
    if is_allowed(value, shape):
        return value
    if isinstance(value, bool):
        return _bool_value(value, shape)
    if not isinstance(value, str | int | float):
        return NO_MATCH
    text = str(value).strip()
    if isinstance(value, float) and value.is_integer():
        text = str(int(value))
    hit = _spelled(text, shape)
    if hit is not None:
        return hit
    head, _, rest = _split_explanation(text)
    hit = _spelled(head, shape)
    if hit is not None:
        named, _ = _named(rest, shape)
        return hit if all(other == hit for other in named) else NoMatch((hit, *named))
    named, negated = _named(text, shape)
    if len(named) == 1:
        return NO_MATCH if negated else named[0]  # "Not positive" names no value
    return NoMatch(tuple(named)) if named else NO_MATCH


def unaccented(text: str) -> str:
    """Drop the accents of ``text``: ``"Über"`` reads ``"Uber"``, ``"señor"`` ``"senor"``."""
    if text.isascii():
        return text
    return _ACCENTS.sub("", unicodedata.normalize("NFD", text))


def _spelled(text: str, shape: Shape) -> Any:
    """The value ``text`` spells (step 2 of the module), or ``None``."""
    key = spelling_key(text)
    hit = spelling_table(shape).get(key)
    if hit is None:
        hit = _unaccented_spellings(shape.values, tuple(shape.aliases.items())).get(unaccented(key))
    return hit


@functools.lru_cache(maxsize=512)
def _unaccented_spellings(
    values: tuple[Any, ...], aliases: tuple[tuple[Any, tuple[str, ...]], ...]
) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for name, allowed in _names(values, aliases):
        table.setdefault(unaccented(spelling_key(name)), allowed)
    return table


def _names(
    values: tuple[Any, ...], aliases: tuple[tuple[Any, tuple[str, ...]], ...]
) -> list[tuple[str, Any]]:
    """Every name of an enum's values, with the value it names: the values, then the aliases."""
    return [(str(v), v) for v in values] + [(n, v) for v, ns in aliases for n in ns]


def _bool_value(value: bool, shape: Shape) -> Any:
    hits = [
        allowed
        for allowed in shape.values
        if isinstance(allowed, str) and spelling_key(allowed) == str(value).lower()
    ]
    return hits[0] if len(hits) == 1 else NO_MATCH


def _split_explanation(text: str) -> tuple[str, str, str]:
    match = _EXPLANATION.search(text)
    if match is None:
        return text, "", ""
    return text[: match.start()], match.group(), text[match.end() :]


def _named(text: str, shape: Shape) -> tuple[list[Any], bool]:
    """The distinct values named in ``text`` as whole words (compared as :data:`_FOLDS` say),
    and whether one is negated (``not TWO``)."""
    if not text:
        return [], False
    for fold in _FOLDS:
        found, negated = _scan(fold(text), _phrases(shape, fold))
        if found:
            return found, negated
    return [], False


def _as_written(text: str) -> str:
    return text


def _caseless(text: str) -> str:
    return text.casefold()


def _caseless_unaccented(text: str) -> str:
    return unaccented(text.casefold())


_FOLDS = (_as_written, _caseless, _caseless_unaccented)
"""How names are compared in prose, in turn: as written, ignoring case, ignoring accents too."""


def _scan(text: str, phrases: dict[tuple[str, ...], Any]) -> tuple[list[Any], bool]:
    """The distinct values named in ``text``, and whether a negation comes just before one."""
    words = _WORDS.findall(text)
    longest = max((len(phrase) for phrase in phrases), default=0)
    found: list[Any] = []
    negated = False
    i = 0
    while i < len(words):
        for size in range(min(longest, len(words) - i), 0, -1):
            hit = phrases.get(tuple(words[i : i + size]), _MISSING)
            if hit is not _MISSING:
                if hit not in found:
                    found.append(hit)
                before = words[max(0, i - 2) : i]
                negated = negated or not _NEGATIONS.isdisjoint(map(str.casefold, before))
                i += size
                break
        else:
            i += 1
    return found, negated


_MISSING = object()
_NEGATIONS = frozenset({"not", "no", "never", "nor", "neither", "without", "except"})


@functools.lru_cache(maxsize=512)
def _phrases_cached(
    values: tuple[Any, ...],
    aliases: tuple[tuple[Any, tuple[str, ...]], ...],
    fold: Callable[[str], str],
) -> dict[tuple[str, ...], Any]:
    phrases: dict[tuple[str, ...], Any] = {}
    for name, allowed in _names(values, aliases):
        words = tuple(_WORDS.findall(fold(name)))
        if words:
            phrases.setdefault(words, allowed)
    return phrases


def _phrases(shape: Shape, fold: Callable[[str], str]) -> dict[tuple[str, ...], Any]:
    return _phrases_cached(shape.values, tuple(shape.aliases.items()), fold)
