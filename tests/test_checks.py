"""checks: the grounded check and its text matching, on hand-made outputs and inputs."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from promptkit.checks import (
    Check,
    Finding,
    grounded,
    input_phrases,
    occurs,
    source_text,
)
from promptkit.words import words


class Search(BaseModel):
    search: str


class Nested(BaseModel):
    search: str
    filters: dict[str, list[str]] = {}


class Attributes(BaseModel):
    colour: str | None = None
    type: str | None = None
    tags: list[str] = []


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("red", "Red T-Shirts"),
        ("t-shirt", "red t shirts"),
        ("t shirt", "red tshirt"),
        ("tshirts", "red T-Shirt long sleeve"),
        ("long sleeve", "LONG-SLEEVE tee"),
        ("dress", "party dresses"),
        ("hoody", "grey hoodies"),
        ("watch", "gold watches"),
        ("", "anything"),
    ],
)
def test_occurs_tolerates_case_plural_hyphen_and_spacing(value, text):
    assert occurs(value, words(text))


@pytest.mark.parametrize(
    ("value", "text"),
    [("blue", "red t shirts"), ("red", "reddish shirt"), ("shirt", "t"), ("long", "longsleeve")],
)
def test_occurs_needs_whole_tokens(value, text):
    assert not occurs(value, words(text))


def test_source_text_joins_every_string_including_nested():
    text = source_text(Nested(search="tee", filters={"colour": ["navy", "teal"]}))
    assert text.split("\n") == ["tee", "navy", "teal"]


def test_grounded_passes_values_found_in_the_input():
    check = grounded("colour", "type")
    output = Attributes(colour="Red", type="t shirt")
    assert check(output, Search(search="red T-Shirts")) == []


def test_grounded_errors_on_an_invented_value():
    check = grounded("colour")
    findings = check(Attributes(colour="black"), Search(search="gifts for dad"))
    assert findings == [Finding(("colour",), "'black' does not occur in the input", "black")]
    assert findings[0].action == "error"


def test_grounded_with_on_fail_null_asks_to_null_the_field():
    check = grounded("colour", on_fail="null")
    (finding,) = check(Attributes(colour="black"), Search(search="gifts for dad"))
    assert finding.action == "null"
    assert finding.path == ("colour",)


def test_grounded_checks_list_fields_item_by_item_and_passes_nulls():
    check = grounded("colour", "tags")
    output = Attributes(colour=None, tags=["sale", "summer", "kids"])
    findings = check(output, Search(search="summer sale"))
    assert [(finding.path, finding.value) for finding in findings] == [(("tags", 2), "kids")]


def test_grounded_without_a_source_warns_and_passes():
    (finding,) = grounded("colour")(Attributes(colour="red"), None)
    assert finding.action == "warning"
    assert "skipped" in finding.message


def test_grounded_names_a_field_the_output_does_not_have():
    with pytest.raises(AttributeError, match="has no field 'size'"):
        grounded("size")(Attributes(), Search(search="x"))


@pytest.mark.parametrize(
    ("args", "kwargs", "words"),
    [((), {}, "at least one field"), (("colour",), {"on_fail": "drop"}, "on_fail")],
)
def test_grounded_refuses_bad_arguments(args, kwargs, words):
    with pytest.raises(ValueError, match=words):
        grounded(*args, **kwargs)


def test_grounded_is_a_check_and_a_frozen_value():
    check = grounded("colour")
    assert isinstance(check, Check)
    assert check == grounded("colour")
    with pytest.raises(AttributeError):
        check.fields = ("type",)  # type: ignore[misc]


def test_phrases_are_every_run_of_up_to_six_words_as_written_and_lower_cased():
    phrases = input_phrases("Red T-Shirts 3/4 sleeve")
    assert phrases is not None
    assert {"Red", "red", "T-Shirts", "t-shirts", "3/4 sleeve", "Red T-Shirts 3/4 sleeve"} <= set(
        phrases
    )
    assert "red t shirts" not in phrases  # words are split on whitespace only
    assert len(phrases) == len(set(phrases))
    long_run = " ".join(f"w{n}" for n in range(8))
    phrases = input_phrases(long_run)
    assert phrases is not None
    assert "w0 w1 w2 w3 w4 w5" in phrases
    assert "w0 w1 w2 w3 w4 w5 w6" not in phrases


def test_phrases_cover_every_string_of_the_input_and_give_up_on_long_texts():
    source = Nested(search="white tights", filters={"brand": ["Hanes"]})
    assert set(input_phrases(source_text(source)) or ()) >= {"white tights", "Hanes", "hanes"}
    assert input_phrases("word " * 257) is None
