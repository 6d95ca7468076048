"""Task-level output checks, run after validation: the :class:`Check` protocol and ``grounded``.

A check is any callable ``check(output, source) -> Sequence[Finding]``: it
gets the validated output and the validated input it answers (``None`` when
the caller gave none) and returns what it found. Each :class:`Finding` says
what to do: ``error`` fails the parse like a validation error, ``null``
replaces the field with null (reported), ``warning`` is only reported.

``grounded("colour")`` catches the failure of a zero-shot model that invents
a colour for a search naming none: the value must occur in the input text.
Without a source it cannot judge; it then reports a warning and passes.
``grounded(..., constrain=True)`` also narrows the reply's JSON Schema for
each input to the phrases of that input, so that a backend decoding with a
grammar (the local one, a llama.cpp server) can only write a grounded value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel

from promptkit.words import words

FindingAction = Literal["error", "null", "warning"]


@dataclass(frozen=True, slots=True)
class Finding:
    """What a check found about one field.

    Attributes:
        path: the field path (``("colour",)``).
        message: what is wrong, in words.
        value: the offending value.
        action: ``error`` (fail), ``null`` (set the field to null and report) or ``warning``.
    """

    path: tuple[str | int, ...]
    message: str
    value: Any = None
    action: FindingAction = "error"


@runtime_checkable
class Check(Protocol):
    """A task-level check: look at a validated output (and its input) and report findings."""

    def __call__(self, output: BaseModel, source: BaseModel | None, /) -> Sequence[Finding]:
        """Return the findings about ``output``; an empty sequence when it passes."""
        ...


MAX_PHRASE_WORDS = 6
"""The longest phrase, in words, a constrained field may take from its input."""

MAX_CONSTRAINED_WORDS = 256
"""Inputs with more words than this are not constrained (the check still runs on the reply)."""


@dataclass(frozen=True, slots=True)
class Grounded:
    """The check :func:`grounded` builds: each named string field must occur in the input."""

    fields: tuple[str, ...]
    on_fail: Literal["error", "null"] = "error"
    constrain: bool = False

    def __call__(self, output: BaseModel, source: BaseModel | None, /) -> Sequence[Finding]:
        """Return a finding for each named field whose value the input does not contain."""
        names = ", ".join(self.fields)
        if source is None:
            return [Finding((), f"grounded({names}) skipped: no input was given", None, "warning")]
        haystack = words(source_text(source))
        findings = []
        for name in self.fields:
            if name not in type(output).model_fields:
                raise AttributeError(
                    f"grounded({name!r}): {type(output).__name__} has no field {name!r}"
                )
            value = getattr(output, name)
            values = value if isinstance(value, list) else [value]
            for index, item in enumerate(values):
                if item is None or occurs(str(item), haystack):
                    continue
                path: tuple[str | int, ...] = (name, index) if isinstance(value, list) else (name,)
                findings.append(
                    Finding(path, f"{item!r} does not occur in the input", item, self.on_fail)
                )
        return findings


def grounded(
    *fields: str, on_fail: Literal["error", "null"] = "error", constrain: bool = False
) -> Grounded:
    """Check that each named string field's value occurs in the input text.

    The comparison ignores case, punctuation, hyphens and spacing
    (``"t-shirt"`` matches ``"t shirts"`` and ``"tshirt"``) and a plural
    ending. Null values pass. A list field is checked item by item.

    Args:
        *fields: names of top-level ``str`` (or ``list[str]``) fields of the output.
        on_fail: ``error`` fails the parse; ``null`` replaces the value with null,
            for optional fields, and reports it.
        constrain: also narrow each prompt's reply schema so the fields may only
            take phrases of the input (see :func:`input_phrases`), written as
            the input writes them or lower-cased. Backends that decode with a
            grammar then cannot write an ungrounded value; others are unaffected
            (a provider's strict ``response_format`` stays one schema per task).
    """
    if not fields:
        raise ValueError("grounded() needs at least one field name")
    if on_fail not in ("error", "null"):
        raise ValueError(f"on_fail must be 'error' or 'null', not {on_fail!r}")
    return Grounded(tuple(fields), on_fail, constrain)


def input_phrases(source: BaseModel) -> tuple[str, ...] | None:
    """The values a constrained field may take for this input, or None not to constrain.

    Every run of 1 to :data:`MAX_PHRASE_WORDS` consecutive words of the
    input's text (words split on whitespace, so "3/4" and "t-shirts" stay
    whole), as written and lower-cased; ``None`` when the input has more than
    :data:`MAX_CONSTRAINED_WORDS` words.
    """
    lines = [line.split() for line in source_text(source).splitlines()]
    if sum(len(line) for line in lines) > MAX_CONSTRAINED_WORDS:
        return None
    found: dict[str, None] = {}
    for line in lines:
        for start in range(len(line)):
            for end in range(start + 1, min(len(line), start + MAX_PHRASE_WORDS) + 1):
                phrase = " ".join(line[start:end])
                found[phrase] = found[phrase.lower()] = None
    return tuple(found)


def source_text(source: BaseModel) -> str:
    """Join every string in an input model (nested too) into one text to search."""
    parts: list[str] = []
    _strings(source.model_dump(), parts)
    return "\n".join(parts)


def _strings(value: Any, parts: list[str]) -> None:
    if isinstance(value, str):
        parts.append(value)
    elif isinstance(value, dict):
        for member in value.values():
            _strings(member, parts)
    elif isinstance(value, list):
        for member in value:
            _strings(member, parts)


def occurs(value: str, haystack: Sequence[str]) -> bool:
    """Say whether ``value`` occurs in a tokenized text, as a run of whole tokens.

    Both sides are lower-cased, split on anything not a letter or digit and
    singularized; the value matches when its tokens, joined without spaces,
    equal a run of consecutive text tokens joined the same way.
    """
    needle = "".join(words(value))
    if not needle:
        return True
    for start in range(len(haystack)):
        joined = ""
        for token in haystack[start:]:
            joined += token
            if joined == needle:
                return True
            if len(joined) >= len(needle) or not needle.startswith(joined):
                break
    return False
