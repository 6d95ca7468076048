"""extract: find the JSON in a reply (fences, prose, several values, wrappers, batch items)."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel, Field

from promptkit.errors import ReplyReadError
from promptkit.output.extract import (
    MAX_CANDIDATES,
    extract_items,
    extract_object,
    find_values,
)
from promptkit.output.repair import MAX_DEPTH
from promptkit.schema import shape_of

FENCE = "`" * 3


class Colour(BaseModel):
    colour: str | None = None
    sleeve: str | None = None


SHAPE = shape_of(Colour)


def _kinds(extracted):
    return [action.kind for action in extracted.actions]


@pytest.mark.parametrize(
    "reply",
    [
        f'{FENCE}json\n{{"colour": "red"}}\n{FENCE}',
        f'{FENCE}\n{{"colour": "red"}}\n{FENCE}',
        f'{FENCE}JSON5\n{{"colour": "red"}}\n{FENCE}',
        f'{FENCE}{FENCE}json\n{FENCE}json\n{{"colour": "red"}}\n{FENCE}\n{FENCE}{FENCE}',
        'Sure! Here it is:\n{"colour": "red"}\nHope this helps.',
        '<json>{"colour": "red"}</json>',
    ],
    ids=["fence-json", "fence-bare", "fence-other-tag", "nested-fences", "prose", "tags"],
)
def test_the_object_is_found_in_fences_prose_and_tags(reply):
    extracted = extract_object(reply, SHAPE)
    assert extracted.value == {"colour": "red"}
    assert not extracted.truncated
    assert _kinds(extracted) == ["extract"]
    assert "took the JSON at characters" in extracted.actions[0].message


def test_a_reply_that_is_only_json_has_no_actions():
    assert extract_object('{"colour": "red"}', SHAPE).actions == ()


def test_of_several_values_the_one_that_fits_the_schema_is_chosen():
    reply = 'Example: {"name": "x", "id": 3}. Answer: {"colour": "blue", "sleeve": null}'
    extracted = extract_object(reply, SHAPE)
    assert extracted.value == {"colour": "blue", "sleeve": None}
    assert any("holds 2 JSON values" in action.message for action in extracted.actions)


def test_on_a_tie_the_first_value_wins_and_a_complete_one_beats_a_cut_one():
    assert extract_object('{"colour": "red"} then {"colour": "blue"}', SHAPE).value == {
        "colour": "red"
    }
    cut = extract_object('{"colour": "red"} then {"colour": "bl', SHAPE)
    assert cut.value == {"colour": "red"}
    assert not cut.truncated


@pytest.mark.parametrize(
    ("reply", "where"),
    [
        ('{"result": {"colour": "red"}}', "'result'"),
        ('{"data": {"output": {"colour": "red"}}}', "'data'"),
        ('[{"colour": "red"}]', "0"),
        ('{"reasoning": "it says red", "answer": {"colour": "red"}}', "'answer'"),
    ],
)
def test_a_wrapper_around_the_expected_object_is_unwrapped(reply, where):
    extracted = extract_object(reply, SHAPE)
    assert extracted.value == {"colour": "red"}
    assert f"wrapper at {where}" in extracted.actions[0].message


def test_an_object_with_the_expected_keys_is_not_unwrapped():
    value = {"colour": "red", "extra": {"colour": "blue"}}
    assert extract_object('{"colour": "red", "extra": {"colour": "blue"}}', SHAPE).value == value


def test_the_items_of_a_list_meant_are_no_wrappers():
    class Task(BaseModel):
        name: str

    class Tasks(BaseModel):
        value: list[Task]

    reply = '[{"name": "a"}, {"name": "b", "props": {"onClick": []}}]'
    extracted = extract_object(reply, shape_of(Tasks))
    assert extracted.value == [{"name": "a"}, {"name": "b", "props": {"onClick": []}}]
    around = extract_object('[[{"name": "a"}]]', shape_of(Tasks))  # a list around the list meant
    assert around.value == [{"name": "a"}]


def test_repairs_of_the_chosen_value_are_carried():
    extracted = extract_object("Answer: {'colour': 'red',}", SHAPE)
    assert extracted.value == {"colour": "red"}
    assert _kinds(extracted) == ["extract", "repair", "repair", "repair"]


def test_json_valid_as_written_is_not_read_unescaped_for_the_json_in_its_strings():
    reply = (
        'Sure! {\n  "a": "\\n{\\"k\\": C:\\\\dir\\\\\\"q\\", {(",\n  "b": [],\n  "c": 68\n}'
        " Hope it helps."
    )
    assert extract_object(reply, shape_of(Triple)).value == {
        "a": '\n{"k": C:\\dir\\"q", {(',
        "b": [],
        "c": 68,
    }


def test_escaped_json_beside_an_object_valid_as_written_is_read_and_a_field_counts_once():
    reply = 'Input: {"q": "hi"}\nOutput: {\\"a\\": \\"x\\", \\"b\\": [], \\"c\\": 1}'
    assert extract_object(reply, shape_of(Triple)).value == {"a": "x", "b": [], "c": 1}
    # the unescaped reading names c twice ("C: x" and "c"): no better than the reply as written
    twice = '{"a": "\\"q\\", C: x", "b": ["[\\"a\\", 1]"], "c": 87,}'
    assert extract_object(twice, shape_of(Triple)).value == {
        "a": '"q", C: x',
        "b": ['["a", 1]'],
        "c": 87,
    }


class Triple(BaseModel):
    a: str
    b: list[str]
    c: int


def test_members_whose_opening_brace_is_missing_are_read_as_their_object():
    extracted = extract_object('Here: "colour": "red", "type": "tee"}', SHAPE)
    assert extracted.value == {"colour": "red", "type": "tee"}
    assert "added a missing { before the first key" in [a.message for a in extracted.actions]
    toon = extract_object('"colour": red', SHAPE)  # no closing brace: a TOON line, not JSON
    assert [a.message for a in toon.actions] == ["read the reply as TOON"]
    # an escaped quote in the key, and braces in the value that read as an empty object
    escaped = extract_object('"colour\\"s": "red } and {"}', shape_of(Quoted))
    assert escaped.value == {'colour"s': "red } and {"}


class Quoted(BaseModel):
    colours: str = Field(alias='colour"s')


def test_a_cut_off_reply_is_marked_truncated():
    extracted = extract_object('{"colour": "red", "sleeve": "lo', SHAPE)
    assert extracted.truncated
    assert extracted.value == {"colour": "red"}


@pytest.mark.parametrize(
    ("reply", "words"),
    [("", "empty"), ("  \n ", "empty"), ("no json here", "no JSON object or array")],
)
def test_no_json_is_an_extract_error(reply, words):
    with pytest.raises(ReplyReadError, match=words):
        extract_object(reply, SHAPE)


def test_find_values_reads_left_to_right_and_skips_what_fails():
    found = find_values('a {"x": 1} b [2, 3] c {' + "[" * 200)
    assert [value.value for value in found][:2] == [{"x": 1}, [2, 3]]


def test_find_values_raises_when_every_start_fails():
    with pytest.raises(ReplyReadError, match="nests deeper"):
        find_values("[" * 10_000)  # one value, too deep: no start inside it is tried


def test_deep_nesting_is_refused_whole_not_read_from_inside():
    with pytest.raises(ReplyReadError, match="nests deeper"):
        find_values("[" * 500)
    deep = '{"k": "]]", "v": ' + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "}"
    found = find_values(f'{deep} then {{"a": 1}}')
    assert [value.value for value in found] == [{"a": 1}]


def test_find_values_tries_at_most_max_candidates_starts():
    assert len(find_values("[1] " * (MAX_CANDIDATES + 10))) == MAX_CANDIDATES


@pytest.mark.parametrize(
    "reply",
    [
        '[{"id": 1, "colour": "red"}, {"id": 2, "colour": "blue"}]',
        '{"items": [{"id": 1, "colour": "red"}, {"id": 2, "colour": "blue"}]}',
        '{"id": 1, "colour": "red"}\n{"id": 2, "colour": "blue"}',
        f'{FENCE}json\n[{{"id": 1, "colour": "red"}}, {{"id": 2, "colour": "blue"}}]\n{FENCE}',
    ],
    ids=["array", "items-wrapper", "one-per-line", "fenced"],
)
def test_batch_items_are_collected(reply):
    extracted = extract_items(reply, SHAPE)
    assert [item["id"] for item in extracted.value] == [1, 2]


def test_a_single_object_as_a_batch_reply_is_one_item_with_a_warning():
    extracted = extract_items('{"colour": "red"}', SHAPE)
    assert extracted.value == [{"colour": "red"}]
    assert "not an array" in extracted.actions[-1].message


def test_a_cut_off_batch_marks_the_open_item():
    extracted = extract_items('[{"id": 1, "colour": "red"}, {"id": 2, "colour": "bl', SHAPE)
    assert extracted.truncated
    assert [id(item) in extracted.cut_ids for item in extracted.value] == [False, True]


class Colours(BaseModel):
    colours: list[Colour]


class Found(BaseModel):
    value: list[dict[str, int]]


class Counts(BaseModel):
    value: list[int]


@pytest.mark.parametrize(
    ("reply", "model", "value"),
    [
        (
            '{"colour": "red"}\n{"colour": "blue"}',
            Colours,
            {"colours": [{"colour": "red"}, {"colour": "blue"}]},
        ),
        ('/* 1 */\n{"a": 1},\n/* 2 */\n{"b": 2},\n', Found, {"value": [{"a": 1}, {"b": 2}]}),
        ("1\n2\n3", Counts, {"value": [1, 2, 3]}),
        ("1,\n2,\n", Counts, {"value": [1, 2]}),
    ],
)
def test_values_one_per_line_are_the_list_a_one_field_object_holds(reply, model, value):
    assert extract_object(reply, shape_of(model)).value == value


def test_values_are_not_collected_where_one_is_the_object_itself():
    reply = '{"value": [{"a": 1}]}\n{"b": 2}'
    assert extract_object(reply, shape_of(Found)).value == {"value": [{"a": 1}]}


class Answer(BaseModel):
    value: str


@pytest.mark.parametrize(
    ("reply", "value"),
    [
        ("'Rounded \u201c quote'", "Rounded \u201c quote"),
        ("\u201cfoo\u201d", "foo"),
        ('"hello\nworld"', "hello\nworld"),
        ('"The TV has a 24" screen"', 'The TV has a 24" screen'),
        ('"{a:b}"', "{a:b}"),  # braces inside the string are its text, not an object
        ('\\"hello world\\"', "hello world"),
        ('callback_123("foo");', "foo"),
        ('"a" + "b"', "ab"),
        ('"done",', "done"),
    ],
)
def test_a_reply_that_is_one_string_is_a_one_string_field(reply, value):
    assert extract_object(reply, shape_of(Answer)).value == {"value": value}


class Sentiment(BaseModel):
    value: Literal["Positive", "Negative"]


class Count(BaseModel):
    count: int


class Flags(BaseModel):
    value: list[bool]


class Names(BaseModel):
    value: list[str]


def test_prose_is_the_value_of_a_list_of_booleans_not_of_strings():
    assert extract_object("The answer is true", shape_of(Flags)).value == {
        "value": "The answer is true"  # for the coercion to read, and wrap in a list
    }
    with pytest.raises(ReplyReadError):
        extract_object("The answer is true", shape_of(Names))


def test_prose_in_brackets_after_a_value_is_no_call_around_it():
    extracted = extract_object("Positive (high confidence)", shape_of(Sentiment))
    assert extracted.value == {"value": "Positive (high confidence)"}  # for the enum matcher


def test_a_quoted_word_before_the_json_is_no_whole_string_reply():
    reply = '"Here:" {"result": {"count": 3}}'
    assert extract_object(reply, shape_of(Count)).value == {"count": 3}


class Words(BaseModel):
    value: list[str]


def test_a_reply_that_opens_as_escaped_json_is_read_unescaped():
    reply = r'[\"hello \\"world\\"\"]'
    # The list itself, which parse reads as the value of the one list field.
    assert extract_object(reply, shape_of(Words)).value == ['hello "world"']


@pytest.mark.parametrize("reply", ["0789", "1214", "hello there"])
def test_a_number_or_prose_is_no_value_for_a_string_field(reply):
    with pytest.raises(ReplyReadError):
        extract_object(reply, shape_of(Answer))


class Choice(BaseModel):
    value: Literal["pay", "pay_later"]


class Failure(BaseModel):
    message: str


class Either(BaseModel):
    value: Colour | Failure


@pytest.mark.parametrize(
    ("reply", "model"),
    [
        ('\n  "pay\n  ', Choice),  # cut off: perhaps "pay_later"
        ("Sorry, I cannot tell.", Either),  # prose is no object's string field either
    ],
)
def test_a_cut_off_string_or_prose_is_no_bare_value(reply, model):
    with pytest.raises(ReplyReadError):
        extract_object(reply, shape_of(model))
