"""fits: whether a value is valid for a shape as it is, which decides unions and candidates."""

from __future__ import annotations

import datetime
import uuid
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from promptkit.output.fit import fits, key_spelling, known_keys
from promptkit.schema import shape_of


class Item(BaseModel):
    name: str = Field(max_length=5)
    count: int = Field(0, ge=0)
    when: datetime.date | None = None
    id: uuid.UUID | None = None
    pair: tuple[int, str] | None = None
    kind: Literal["a", "b"] = "a"
    table: dict[str, float] = {}


SHAPE = shape_of(Item)
FIELDS = {spec.name: spec.shape for spec in SHAPE.fields}


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("name", "abc", True),
        ("name", "abcdef", False),
        ("name", 5, False),
        ("count", 3, True),
        ("count", -1, False),
        ("count", True, False),
        ("count", 3.0, False),
        ("when", "2024-03-05", True),
        ("when", "March 5", False),
        ("when", None, True),
        ("id", str(uuid.UUID(int=1)), True),
        ("id", "x", False),
        ("pair", [1, "a"], True),
        ("pair", [1, 2], False),
        ("pair", [1], False),
        ("kind", "a", True),
        ("kind", "A", False),
        ("table", {"x": 1, "y": 2.5}, True),
        ("table", {"x": "1"}, False),
    ],
)
def test_fits_without_coercion(field, value, expected):
    assert fits(value, FIELDS[field]) is expected


def test_an_object_fits_with_its_required_fields_and_no_unknown_keys():
    assert fits({"name": "a"}, SHAPE)
    assert not fits({"count": 1}, SHAPE)
    assert not fits({"name": "a", "colour": "red"}, SHAPE)


def test_known_keys_are_counted_by_any_spelling():
    assert known_keys({"Name": 1, "COUNT": 2, "other": 3}, SHAPE) == 2
    assert known_keys(["name"], SHAPE) == 0


def test_a_key_spelling_ignores_case_punctuation_and_spacing():
    assert key_spelling(" Straße ") == key_spelling("STRASSE") == "strasse"
    assert key_spelling("Key-With Space") == "key_with_space"


def test_known_keys_are_counted_without_their_accents_too():
    class Address(BaseModel):
        direccion: str = Field(alias="dirección")

    assert known_keys({"Direccion": "x", "DIRECCIÓN": "y"}, shape_of(Address)) == 2
