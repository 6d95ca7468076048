"""coerce: schema-aligned coercion of parsed JSON values, each change reported."""

from __future__ import annotations

import datetime
from enum import StrEnum
from typing import Any, Literal

import pytest
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from promptkit import field
from promptkit.output.coerce import (
    coerce,
    has_null_words,
    is_null_word,
    match_enum,
    null_word_fields,
)
from promptkit.schema import shape_of


class Role(StrEnum):
    ADMIN = "admin"
    READ_ONLY = "read-only"


class Item(BaseModel):
    name: str
    count: int = 0
    price: float = 0.0
    ok: bool = False
    role: Role = field(Role.ADMIN, aliases={"admin": ["administrator", "superuser"]})
    size: Literal["S", "M", "L"] | None = None
    colour: str | None = None
    tags: list[str] = []


SHAPE = shape_of(Item)


def _one(key, value):
    result, actions = coerce({key: value}, SHAPE)
    return result[key], actions


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("count", "36", 36),
        ("count", 36.0, 36),
        ("count", "1,036", 1036),
        ("count", " 7 ", 7),
        ("price", "1,036.5", 1036.5),
        ("price", "2.50", 2.5),
        ("ok", "true", True),
        ("ok", "yes", True),
        ("ok", "N", False),
        ("ok", 1, True),
        ("ok", 0.0, False),
        ("name", 501, "501"),
        ("tags", "red", ["red"]),
        ("tags", ["a", 2], ["a", "2"]),
    ],
)
def test_scalars_are_converted_and_reported(key, value, expected):
    result, actions = _one(key, value)
    assert result == expected
    assert type(result) is type(expected)
    assert actions
    assert all(action.kind == "coerce" for action in actions)
    assert actions[0].path[0] == key


@pytest.mark.parametrize(
    ("key", "value"),
    [("count", "36.5"), ("count", True), ("count", "many"), ("ok", "maybe"), ("price", "1e999")],
)
def test_what_cannot_be_coerced_is_left_for_validation(key, value):
    assert _one(key, value) == (value, [])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ADMIN", "admin"),
        ("Read Only", "read-only"),
        ("read_only", "read-only"),
        ("administrator", "admin"),
        ("SuperUser", "admin"),
        ("ADMIN - full access", "admin"),
        ("admin: can do anything", "admin"),
        ("read-only (cannot write)", "read-only"),
    ],
)
def test_enum_values_match_by_case_punctuation_alias_and_explanation(value, expected):
    result, actions = _one("role", value)
    assert result == expected
    assert actions[0].message == f"matched {value!r} to {expected!r}"


def test_an_enum_value_that_matches_nothing_is_left_as_it_is():
    assert _one("role", "guest") == ("guest", [])
    role = SHAPE.fields[4].shape
    assert match_enum("superuser", role) == "admin"
    assert match_enum("guest", role) not in ("guest", "admin", "read-only")  # the no-match marker


def test_literal_enums_match_by_case():
    result, actions = _one("size", "m")
    assert result == "M"
    assert actions[0].after == "M"


@pytest.mark.parametrize("word", ["N/A", "none", "Not Applicable", "-", "  null. ", "NIL"])
def test_null_words_become_null_in_nullable_fields(word):
    result, actions = _one("colour", word)
    assert result is None
    assert actions[0].before == word
    assert is_null_word(word)


def test_null_words_stay_in_fields_that_are_not_nullable():
    assert _one("name", "N/A") == ("N/A", [])


def test_a_null_word_that_is_an_allowed_enum_value_is_kept():
    class Answer(BaseModel):
        reply: Literal["none", "some"] | None

    assert coerce({"reply": "none"}, shape_of(Answer)) == ({"reply": "none"}, [])


def test_keys_are_matched_by_case_and_separators_and_unknown_keys_dropped():
    result, actions = coerce({"Name": "x", "COUNT": "2", "extra": 1}, SHAPE)
    assert result == {"name": "x", "count": 2}
    assert [action.message for action in actions] == [
        "read key 'Name' as 'name'",
        "read key 'COUNT' as 'count'",
        "converted '2' to integer 2",
        "dropped unknown key 'extra'",
    ]


def test_a_second_spelling_of_a_present_key_is_dropped():
    result, actions = coerce({"name": "x", "Name": "y"}, SHAPE)
    assert result == {"name": "x"}
    assert "a second 'name'" in actions[0].message


def test_unknown_keys_are_kept_when_asked():
    class Open(BaseModel):
        model_config = ConfigDict(extra="allow")
        name: str

    assert coerce({"name": "x", "more": 1}, shape_of(Open), drop_unknown=False) == (
        {"name": "x", "more": 1},
        [],
    )


def test_a_one_object_list_is_taken_as_the_object():
    result, actions = coerce([{"name": "x"}], SHAPE)
    assert result == {"name": "x"}
    assert "one object out of a list" in actions[0].message


def test_valid_values_give_no_actions():
    value = {"name": "x", "count": 2, "ok": True, "role": "admin", "tags": ["a"], "colour": None}
    assert coerce(value, SHAPE) == (value, [])


def test_has_null_words_and_null_word_fields():
    assert null_word_fields(SHAPE) is None  # a list field: null-words may sit deeper
    assert has_null_words(Item(name="x", colour="n/a"), SHAPE)
    assert not has_null_words(Item(name="n/a"), SHAPE)

    class Flat(BaseModel):
        a: str | None
        b: int | None
        c: str

    assert null_word_fields(shape_of(Flat)) == ("a",)


# -- the shapes beyond scalars --------------------------------------------------------------


class Cat(BaseModel):
    pet: Literal["cat"]
    lives: int = 9


class Dog(BaseModel):
    pet: Literal["dog"]
    good: bool = True


class Rich(BaseModel):
    animal: Cat | Dog = Field(discriminator="pet")
    either: int | str = 0
    counts: dict[str, int] = {}
    keyed: dict[Literal["a", "b"], int] = {}
    point: tuple[int, int] = (0, 0)
    day: datetime.date | None = None
    code: int = Field(0, alias="statusCode")
    user: str = Field("", validation_alias=AliasChoices("userName", "user_name"))
    retries: int = 3
    anything: Any = None


RICH = shape_of(Rich)


def _rich(**members):
    return coerce({"animal": {"pet": "cat"}, **members}, RICH)


def test_a_discriminated_union_takes_the_alternative_its_tag_names():
    value, actions = coerce({"animal": {"pet": "Dog", "good": "no"}}, RICH)
    assert value["animal"] == {"pet": "dog", "good": False}
    assert {a.message for a in actions} == {
        "matched 'Dog' to 'dog'",
        "converted 'no' to boolean False",
    }


def test_a_plain_union_takes_the_first_alternative_that_fits_as_it_is():
    assert _rich(either="7")[0]["either"] == "7"
    assert _rich(either=7)[0]["either"] == 7
    assert _rich(either=7.0)[0]["either"] == 7


def test_maps_come_as_objects_or_as_key_value_pairs():
    value, actions = _rich(counts=[{"key": "a", "value": "1"}], keyed={"A": 2})
    assert value["counts"] == {"a": 1}
    assert value["keyed"] == {"a": 2}
    assert "read a list of key/value pairs as a map" in {a.message for a in actions}


def test_a_tuple_coerces_each_position():
    assert _rich(point=["1", 2.0])[0]["point"] == [1, 2]


def test_a_written_date_becomes_iso():
    value, actions = _rich(day="March 5, 2024")
    assert value["day"] == "2024-03-05"
    assert actions[-1].message == "converted 'March 5, 2024' to date '2024-03-05'"


def test_any_spelling_of_an_aliased_field_is_read_as_the_field():
    value, actions = _rich(statusCode=200, user_name="ann")
    assert (value["code"], value["user"]) == (200, "ann")
    assert not [a for a in actions if "dropped" in a.message]
    value, actions = _rich(StatusCode="201", USERNAME="bo")
    assert (value["code"], value["user"]) == (201, "bo")


def test_a_key_is_read_without_its_accents_when_no_field_is_spelled_with_them():
    class Form(BaseModel):
        resume: str = ""
        accented: str = Field("", alias="résumé")
        street: str = Field("", alias="Straße")

    value, actions = coerce({"RÉSUMÉ": "a", "Resume": "b", "strasse": "c"}, shape_of(Form))
    assert value == {"accented": "a", "resume": "b", "street": "c"}
    assert "read key 'RÉSUMÉ' as 'résumé'" in {a.message for a in actions}


def test_null_in_an_optional_field_that_cannot_be_null_reads_as_its_default():
    value, actions = _rich(retries=None, anything=None)
    assert "retries" not in value
    assert value["anything"] is None
    assert "read null as the field's default" in {a.message for a in actions}


def test_a_bare_value_is_the_one_field_of_a_one_field_object():
    class One(BaseModel):
        count: int

    assert coerce("12,111", shape_of(One))[0] == {"count": 12111}
    assert coerce({"total": 3}, shape_of(One))[0] == {"count": 3}
    assert coerce({"total": 3, "other": 4}, shape_of(One))[0] == {}


def test_an_empty_string_stays_in_an_optional_string_and_is_null_elsewhere():
    assert _one("colour", "") == ("", [])
    assert _one("size", "")[0] is None


def test_a_string_holding_json_is_read_where_an_object_is_expected():
    value, actions = coerce({"animal": '{"pet": "cat", "lives": 3}'}, RICH)
    assert value["animal"] == {"pet": "cat", "lives": 3}
    assert actions[0].message == "read the JSON written inside a string"
