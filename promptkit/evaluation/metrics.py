"""Metrics of structured outputs: field values compared after normalisation, and their counts.

A field of one item comes out as one of six outcomes (see :data:`FieldOutcome`);
:class:`FieldScore` counts them into precision, recall and F1 on non-null
values, accuracy, and accuracy on nulls. A value given for a field the gold
labels null is a false positive: that is how hallucinated attributes show.
A rate with nothing to count is ``None`` (shown as n/a), not a perfect
score: precision of a field nothing was predicted for, recall of a field
with no gold values.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from promptkit.words import words

FieldOutcome = Literal["correct", "null", "wrong", "missed", "hallucinated", "invalid"]
"""How one field of one item came out.

``correct``: the gold value, found; ``null``: gold null and none given;
``wrong``: a different value; ``missed``: null where the gold has a value;
``hallucinated``: a value where the gold is null; ``invalid``: no valid output.
"""


def normalise(value: Any) -> str | None:
    """Return a value's comparison key: lowercase, spacing and hyphens dropped, singular words.

    ``"T-Shirts"``, ``"t shirt"`` and ``"tshirt"`` share a key; so do
    ``"Long  Sleeves"`` and ``"long-sleeve"``. Lists compare as sorted keys,
    objects field by field. ``None`` stays ``None``.
    """
    if value is None:
        return None
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, Mapping):
        return json.dumps({key: normalise(inner) for key, inner in value.items()}, sort_keys=True)
    if isinstance(value, list | tuple | set | frozenset):
        return json.dumps(sorted(str(normalise(inner)) for inner in value))
    if isinstance(value, bool):
        return str(value).lower()
    return "".join(words(str(value)))


def same_value(predicted: Any, expected: Any) -> bool:
    """Whether two field values are equal after :func:`normalise`."""
    return normalise(predicted) == normalise(expected)


def field_outcome(expected: Any, predicted: Any, *, valid: bool = True) -> FieldOutcome:
    """Classify one field: correct, null, wrong, missed, hallucinated, or invalid."""
    if not valid:
        return "invalid"
    gold, given = normalise(expected), normalise(predicted)
    if gold is None:
        return "null" if given is None else "hallucinated"
    if given is None:
        return "missed"
    return "correct" if given == gold else "wrong"


def item_outcomes(
    fields: Iterable[str], expected: BaseModel, predicted: BaseModel | None
) -> dict[str, FieldOutcome]:
    """Classify every field of one item; ``predicted`` is ``None`` for an invalid reply."""
    return {
        name: field_outcome(
            getattr(expected, name),
            None if predicted is None else getattr(predicted, name),
            valid=predicted is not None,
        )
        for name in fields
    }


@dataclass(frozen=True, slots=True)
class FieldScore:
    """Counts for one field (or all fields, micro) over a set of items.

    ``tp``: values found; ``fp``: values given that are wrong or hallucinated;
    ``fn``: gold values not found (wrong, missed, or invalid reply).
    """

    tp: int = 0
    fp: int = 0
    fn: int = 0
    true_nulls: int = 0
    gold_nulls: int = 0
    hallucinated: int = 0
    total: int = 0

    @classmethod
    def of(cls, outcomes: Iterable[FieldOutcome], gold_null: Iterable[bool]) -> FieldScore:
        """Count outcomes, given for each whether the gold value was null."""
        counts = dict.fromkeys(("tp", "fp", "fn", "true_nulls", "gold_nulls", "hallucinated"), 0)
        total = 0
        for outcome, is_null in zip(outcomes, gold_null, strict=True):
            total += 1
            counts["gold_nulls"] += is_null
            if outcome == "correct":
                counts["tp"] += 1
            elif outcome == "null":
                counts["true_nulls"] += 1
            elif outcome == "wrong":
                counts["fp"] += 1
                counts["fn"] += 1
            elif outcome == "hallucinated":
                counts["fp"] += 1
                counts["hallucinated"] += 1
            elif outcome == "missed" or not is_null:
                counts["fn"] += 1
        return cls(total=total, **counts)

    def __add__(self, other: FieldScore) -> FieldScore:
        pairs = zip(dataclasses.astuple(self), dataclasses.astuple(other), strict=True)
        return FieldScore(*(a + b for a, b in pairs))

    @property
    def support(self) -> int:
        """Gold values (non-null) of this field: what recall is out of."""
        return self.total - self.gold_nulls

    @property
    def predicted(self) -> int:
        """Values given that were scored: what precision is out of."""
        return self.tp + self.fp

    @property
    def precision(self) -> float | None:
        """Share of values given that are right; ``None`` (n/a) when none were given."""
        return self.tp / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        """Share of gold values found; ``None`` (n/a) when the gold has none."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        """Harmonic mean of precision and recall; ``None`` (n/a) when either is."""
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def accuracy(self) -> float | None:
        """Share of items whose field is right (value found, or null kept null)."""
        return (self.tp + self.true_nulls) / self.total if self.total else None

    @property
    def null_accuracy(self) -> float | None:
        """Share of gold nulls left null; ``None`` (n/a) when the gold has no nulls."""
        return self.true_nulls / self.gold_nulls if self.gold_nulls else None

    def to_dict(self) -> dict[str, float | int | None]:
        """Return the counts, the support and the rates (``None`` where n/a) as plain data."""
        rates = ("support", "predicted", "precision", "recall", "f1", "accuracy", "null_accuracy")
        return {**dataclasses.asdict(self), **{name: getattr(self, name) for name in rates}}
