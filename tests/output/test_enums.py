"""match_enum: the one allowed value a reply names, by spelling, alias, explanation or in prose."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel

from promptkit import field
from promptkit.output.enums import NO_MATCH, NoMatch, is_allowed, match_enum, unaccented
from promptkit.schema import shape_of


class Choice(BaseModel):
    category: Literal["ONE", "TWO", "THREE"] = field(
        ..., aliases={"ONE": ["k1"], "TWO": ["k-2-3.1_1"], "THREE": ["NUMBER THREE"]}
    )
    level: Literal[1, 2, 3] = 1
    flag: Literal[True, "maybe"] = True
    car: Literal["car", "car-2", "long sleeve", "sleeve"] = "car"
    drink: Literal["COFFEE", "TEA"] = field("TEA", aliases={"COFFEE": ["Café"], "TEA": ["thé"]})
    word: Literal["resume", "résumé"] = "resume"


SHAPES = {spec.name: spec.shape for spec in shape_of(Choice).fields}


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("category", "TWO", "TWO"),
        ("category", "two", "TWO"),
        ("category", "k1", "ONE"),
        ("category", "k-2-3 1_1", "TWO"),
        ("category", "number three", "THREE"),
        ("category", "ONE: the first one", "ONE"),
        ("category", "k1: The description of enum value une", "ONE"),
        ("category", "The answer is TWO", "TWO"),
        ("category", "**one** is the answer", "ONE"),
        ("category", 'TWO" is one of the correct answers.', "TWO"),
        ("category", "I would think k-2-3.1_1 is the best", "TWO"),
        ("level", "2", 2),
        ("level", 2.0, 2),
        ("level", "level 3, the highest", 3),
        ("flag", "true", True),
        ("flag", "Maybe", "maybe"),
        ("car", "a car-2 it is", "car-2"),
        ("car", "long sleeve shirt", "long sleeve"),
        ("drink", "cafe", "COFFEE"),
        ("drink", "THE", "TEA"),
        ("drink", "I would like some CAFE please", "COFFEE"),
        ("word", "résumé", "résumé"),
        ("word", "Résumé", "résumé"),
        ("word", "RESUME", "resume"),
    ],
)
def test_the_one_value_named_is_found(field, value, expected):
    found = match_enum(value, SHAPES[field])
    assert found == expected
    assert type(found) is type(expected)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("category", "ONE - is the answer, not TWO"),
        ("category", 'Two" is one of the correct answers.'),
        ("category", "k1 is the best! k-2-3.1_1 is bad."),
        ("level", "2 or 3"),
        ("car", "not car or car-2"),
    ],
)
def test_a_reply_that_names_two_values_is_ambiguous(field, value):
    found = match_enum(value, SHAPES[field])
    assert isinstance(found, NoMatch)
    assert len(found.ambiguous) >= 2


@pytest.mark.parametrize("value", ["Not TWO", "Definitely not two", "no two at all", "never TWO"])
def test_a_value_named_only_to_be_negated_is_no_value(value):
    assert match_enum(value, SHAPES["category"]) is NO_MATCH
    assert match_enum("The answer is TWO", SHAPES["category"]) == "TWO"


@pytest.mark.parametrize(
    ("field", "value"), [("category", "FOUR"), ("level", "7"), ("level", True)]
)
def test_a_value_that_names_nothing_matches_nothing(field, value):
    assert match_enum(value, SHAPES[field]) is NO_MATCH


def test_unaccented_drops_accents_only():
    assert unaccented("Über Straße señor-josé") == "Uber Straße senor-jose"
    assert unaccented("北京 café") == "北京 cafe"
    assert unaccented("plain") == "plain"


def test_an_allowed_value_is_its_own_type():
    assert is_allowed(1, SHAPES["level"])
    assert not is_allowed(True, SHAPES["level"])
    assert not is_allowed(1, SHAPES["flag"])
    assert is_allowed(True, SHAPES["flag"])
