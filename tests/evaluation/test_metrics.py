"""Metric functions on hand-made cases: normalisation, hallucinated values, nulls, counts."""

from __future__ import annotations

from enum import StrEnum

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from promptkit.evaluation.metrics import (
    FieldScore,
    field_outcome,
    item_outcomes,
    normalise,
    same_value,
)


class Attributes(BaseModel):
    colour: str | None = None
    sleeve: str | None = None
    type: str | None = None


class Size(StrEnum):
    SMALL = "small"


@pytest.mark.parametrize(
    ("predicted", "expected"),
    [
        ("T-Shirts", "t shirt"),
        ("tshirt", "t shirts"),
        ("Long  Sleeves", "long-sleeve"),
        ("crewneck", "crew neck"),
        ("  Red ", "red"),
        ("dresses", "dress"),
        ("hoodies", "hoody"),
        ("tees", "tee"),
        ("3/4 sleeve", "3 4 sleeves"),
        (Size.SMALL, "small"),
        (["red", "Blue"], ["blues", "red"]),
    ],
)
def test_values_equal_after_normalisation(predicted: object, expected: object) -> None:
    assert same_value(predicted, expected)


@pytest.mark.parametrize(
    ("predicted", "expected"),
    [("red", "rose red"), ("navy", "black"), ("dress", "dresser"), ("", "red"), ("bus", "bu")],
)
def test_different_values_stay_different(predicted: str, expected: str) -> None:
    assert not same_value(predicted, expected)


def test_normalise_keeps_words_that_only_look_plural() -> None:
    assert normalise("dress") == "dress"
    assert normalise("bus") == "bus"
    assert normalise("polos") == "polo"
    assert normalise(None) is None
    assert normalise(True) == "true"


@pytest.mark.parametrize(
    ("expected", "predicted", "outcome"),
    [
        ("red", "Red", "correct"),
        (None, None, "null"),
        ("red", "blue", "wrong"),
        ("red", None, "missed"),
        (None, "red", "hallucinated"),
    ],
)
def test_field_outcomes(expected: str | None, predicted: str | None, outcome: str) -> None:
    assert field_outcome(expected, predicted) == outcome


def test_an_invalid_reply_makes_every_field_invalid() -> None:
    gold = Attributes(colour="red")
    assert item_outcomes(["colour", "sleeve"], gold, None) == {
        "colour": "invalid",
        "sleeve": "invalid",
    }


def test_hallucinated_colour_is_a_false_positive_and_costs_precision() -> None:
    # The blog's zero-shot failure: a colour invented for "gifts for dad".
    gold = [Attributes(type="shirt"), Attributes(type="socks")]
    predicted = [Attributes(colour="blue", type="shirts"), Attributes(type="sock")]
    outcomes = [
        item_outcomes(["colour", "type"], g, p) for g, p in zip(gold, predicted, strict=True)
    ]
    colour = FieldScore.of((o["colour"] for o in outcomes), (g.colour is None for g in gold))
    kind = FieldScore.of((o["type"] for o in outcomes), (g.type is None for g in gold))
    assert (colour.tp, colour.fp, colour.fn, colour.hallucinated) == (0, 1, 0, 1)
    assert colour.precision == 0.0
    assert colour.recall is None  # nothing to find: n/a, not a perfect score
    assert colour.f1 is None
    assert (colour.support, colour.predicted) == (0, 1)
    assert colour.null_accuracy == 0.5
    assert colour.accuracy == 0.5
    assert (kind.tp, kind.fp, kind.fn) == (2, 0, 0)
    micro = colour + kind
    assert (micro.tp, micro.fp, micro.fn) == (2, 1, 0)
    assert micro.precision == pytest.approx(2 / 3)
    assert micro.f1 == pytest.approx(0.8)


def test_wrong_value_counts_once_as_false_positive_and_once_as_false_negative() -> None:
    score = FieldScore.of(["wrong", "correct", "missed", "null"], [False, False, False, True])
    assert (score.tp, score.fp, score.fn, score.true_nulls) == (1, 1, 2, 1)
    assert score.precision == 0.5
    assert score.recall == pytest.approx(1 / 3)
    assert score.f1 == pytest.approx(0.4)
    assert score.accuracy == 0.5
    assert score.null_accuracy == 1.0


def test_invalid_replies_miss_gold_values_and_fail_gold_nulls() -> None:
    score = FieldScore.of(["invalid", "invalid"], [False, True])
    assert (score.tp, score.fp, score.fn, score.true_nulls, score.gold_nulls) == (0, 0, 1, 0, 1)
    assert score.accuracy == 0.0
    assert score.null_accuracy == 0.0
    assert score.recall == 0.0


def test_empty_scores_are_not_applicable_rather_than_perfect() -> None:
    empty = FieldScore()
    assert (empty.precision, empty.recall, empty.accuracy, empty.null_accuracy) == (None,) * 4
    assert empty.to_dict()["f1"] is None


def test_a_field_with_no_gold_values_and_no_predictions_has_no_precision_or_recall() -> None:
    # A slice with no sleeve gold where the model rightly wrote no sleeve: not "1.00".
    score = FieldScore.of(["null", "null", "null"], [True, True, True])
    assert (score.support, score.predicted) == (0, 0)
    assert (score.precision, score.recall, score.f1) == (None, None, None)
    assert score.null_accuracy == 1.0
    assert score.accuracy == 1.0


def test_precision_with_no_predictions_is_not_applicable_but_recall_is_zero() -> None:
    score = FieldScore.of(["missed", "missed", "null"], [False, False, True])
    assert (score.support, score.predicted) == (2, 0)
    assert score.precision is None
    assert score.recall == 0.0
    assert score.f1 is None


def test_micro_totals_count_every_field_whatever_a_field_lacks() -> None:
    found = FieldScore.of(["correct", "wrong"], [False, False])
    empty = FieldScore.of(["null", "null"], [True, True])
    micro = found + empty
    assert (micro.tp, micro.fp, micro.fn, micro.support) == (1, 1, 1, 2)
    assert micro.precision == 0.5
    assert micro.recall == 0.5


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=20))
def test_normalise_ignores_case_for_any_text(text: str) -> None:
    key = normalise(text)
    assert key is not None
    assert normalise(text.upper()) == normalise(text.lower())
    assert same_value(text, text)
