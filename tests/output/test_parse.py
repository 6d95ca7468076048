"""parse, parse_with_report, parse_batch and reask_messages, on the corpus and by hand."""

from __future__ import annotations

import datetime
from collections import defaultdict
from typing import Literal

import corpus_cases
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

import promptkit
from promptkit import OutputError, Task, grounded, parse, parse_batch, parse_with_report

CASES = corpus_cases.load()
APPAREL = promptkit.load_task("apparel-search")


def test_the_corpus_has_every_class_and_every_peer():
    classes = defaultdict(int)
    for case in CASES:
        classes[case.cls] += 1
    assert len(CASES) >= 500
    assert len(classes) >= 35
    sources = {case.source.split()[0] for case in CASES}
    assert sources == {"promptkit", "json_repair", "baml", "jsonrepair-js", "langchain"}


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_corpus_reply_gives_its_expected_outcome(case):
    try:
        value: object = parse(case.reply, case.into)
    except OutputError as error:
        value = error
    if case.gap:
        assert not corpus_cases.outcome(case, value), f"recovered now: drop the gap ({case.gap})"
    else:
        assert corpus_cases.outcome(case, value), value


@pytest.mark.parametrize(
    "case",
    [case for case in CASES if case.source == "promptkit" and isinstance(case.into, Task)],
    ids=lambda case: case.id,
)
def test_own_corpus_replies_report_exactly_what_was_changed(case):
    parsed = parse_with_report(case.reply, case.into)
    assert bool(parsed.report.changes) == (case.cls != "valid")
    assert parsed.report.truncated == (case.cls == "truncated")


def test_a_declined_peer_case_says_why_and_differs_from_the_peer():
    declined = [case for case in CASES if case.declined]
    assert len(declined) >= 20
    for case in declined:
        assert case.peer is not None
        assert case.expected != case.peer or case.error


def test_every_change_is_reported_with_its_path():
    parsed = parse_with_report('{"colour": "N/A", "type": "tops", "x": 1}', APPAREL)
    coerced = {(a.path, a.before) for a in parsed.report.of_kind("coerce")}
    assert coerced == {(("colour",), "N/A"), (("x",), 1)}


def test_invalid_value_raises_with_path_message_and_value():
    intent = promptkit.load_task("search-intent")
    with pytest.raises(OutputError) as caught:
        parse('{"intent": "weather"}', intent)
    (detail,) = caught.value.errors
    assert detail.path == ("intent",)
    assert detail.value == "weather"
    assert caught.value.raw == '{"intent": "weather"}'
    assert not caught.value.truncated


def test_truncated_reply_missing_required_field_is_a_truncated_error():
    intent = promptkit.load_task("search-intent")
    with pytest.raises(OutputError) as caught:
        parse('{"intent": "bra', intent)
    assert caught.value.truncated
    assert "cut off" in str(caught.value.errors[0].message)


def test_parse_accepts_a_model_class():
    model = APPAREL.output_model
    assert parse("{'colour': 'red'}", model) == model(colour="red")


def _grounded_task(on_fail):
    return Task(
        name="grounded-demo",
        instructions="Name the colour.",
        input_model="search",
        output_model=APPAREL.output_model,
        checks=[grounded("colour", "type", on_fail=on_fail)],
    )


def test_grounded_fails_an_invented_colour_and_accepts_spelling_variants():
    task = _grounded_task("error")
    source = task.make_input("Red T-Shirts long sleeve")
    assert parse('{"colour": "red", "type": "t shirt"}', task, source=source).colour == "red"
    with pytest.raises(OutputError) as caught:
        parse('{"colour": "blue", "type": "tshirts"}', task, source=source)
    assert [e.path for e in caught.value.errors] == [("colour",)]


def test_grounded_null_replaces_and_reports():
    task = _grounded_task("null")
    source = task.make_input("gifts for dad")
    parsed = parse_with_report('{"colour": "black", "type": "gifts"}', task, source=source)
    assert parsed.value.colour is None
    assert parsed.value.type == "gifts"
    assert [a.path for a in parsed.report.of_kind("check")] == [("colour",)]


def test_grounded_without_source_is_skipped_with_a_warning():
    parsed = parse_with_report('{"colour": "blue"}', _grounded_task("error"))
    assert parsed.value.colour == "blue"
    assert "skipped" in parsed.report.of_kind("warning")[0].message


def test_parse_batch_matches_items_by_id_and_isolates_failures():
    sources = [APPAREL.make_input(s) for s in ("red shirt", "blue hat", "tee", "cap")]
    reply = (
        '```json\n{"items": [{"id": 2, "colour": "blue"}, {"id": 1, "colour": "red"},'
        ' {"id": 1, "colour": "pink"}, {"id": 4, "colour": "gre'
    )
    results = parse_batch(reply, APPAREL, sources)
    assert isinstance(results[0], OutputError)  # id 1 twice
    assert results[1].value.colour == "blue"
    assert isinstance(results[2], OutputError)
    assert "missing" in str(results[2])
    assert isinstance(results[3], OutputError)
    assert results[3].truncated
    assert all(r.raw == reply for r in results if isinstance(r, OutputError))


def test_reask_messages_names_paths_messages_and_values():
    intent = promptkit.load_task("search-intent")
    with pytest.raises(OutputError) as caught:
        parse('{"intent": "weather", "product": null}', intent)
    text = promptkit.reask_messages(caught.value)
    assert "field intent" in text
    assert '"weather"' in text
    assert "corrected JSON" in text


def test_a_repaired_value_that_is_already_valid_is_not_coerced_but_a_time_is_written_its_way():
    class Plain(BaseModel):
        name: str
        size: int = Field(alias="Size")

    class Timed(BaseModel):
        at: datetime.time

    plain = parse_with_report('{"name": "tee", "Size": 3,}', Plain)
    assert plain.value == Plain(name="tee", Size=3)
    assert [action.kind for action in plain.report.actions] == ["repair"]
    timed = parse_with_report('{"at": "10:30",}', Timed)
    assert timed.value.at == datetime.time(10, 30)
    assert [action.kind for action in timed.report.actions] == ["repair", "coerce"]


def test_a_cut_off_reply_names_the_fields_it_lost_by_name_whatever_the_keys():
    class Aliased(BaseModel):
        name: str = Field(alias="Name")
        size: int | None = Field(default=None, alias="Size")

    result = parse_with_report('{"Name": "tee", "Size": 3', Aliased)
    assert result.report.truncated
    assert result.report.actions[-1].after == ["size"]


class Component(BaseModel):
    name: str
    props: str


@pytest.mark.parametrize(
    ("reply", "props"),
    [
        (
            "{name: Card, props: {title: string, onClick: () => void}}",
            "{title: string, onClick: () => void}",
        ),
        ('{"name": "Card", "props": {title: string}, }', "{title: string}"),
    ],
)
def test_an_object_written_with_no_quotes_in_a_string_field_is_its_text(reply, props):
    parsed = parse_with_report(reply, Component)
    assert parsed.value.props == props
    assert "kept an object written with no quotes as its text" in [
        action.message for action in parsed.report.actions
    ]


@pytest.mark.parametrize(
    "reply",
    [
        '{"name": "Card", "props": {"title": "string"}}',  # JSON: structure, asked again
        "{name: Card, props: {'title': string}}",
        "{name: Card, props: {title: string",  # cut off: the text is not all there
    ],
)
def test_an_object_written_as_json_or_cut_off_in_a_string_field_is_refused(reply):
    with pytest.raises(OutputError, match="props"):
        parse(reply, Component)


# -- any text: a value or an OutputError, never another exception ------------------------------

_PIECES = st.sampled_from(
    ['"', "'", "`", "\u201c", "\u201d", "\\", "\\u26", "{", "}", "[", "]", "(", ")", ":", ",",
     " ", "\n", "\t", "\x00", "+", "-", ".", "0", "07", "1e", "12,5", "true", "None", "NaN",
     "...", "//", "/*", "*/", "#", "```", "<a>", "</a>", "a", "value", "id", "colour", "red",
     "ONE", "x(", "ObjectId(", "\u3000", "\ud7ff", "é"]
)  # fmt: skip
_TEXTS = st.lists(_PIECES | st.text(max_size=3), max_size=30).map("".join)


class _Listed(BaseModel):
    value: list[int]


class _Chosen(BaseModel):
    answer: Literal["ONE", "TWO"]
    note: str | None = None


class _Nested(BaseModel):
    id: int
    parts: list[Component] = []
    when: datetime.date | None = None


@settings(max_examples=300, deadline=None)
@given(_TEXTS, st.sampled_from([Component, _Listed, _Chosen, _Nested, APPAREL]))
def test_any_text_parses_to_the_output_or_an_output_error(text, into):
    try:
        value: object = parse(text, into)
    except OutputError as error:
        value = error
    model = into.output_model if isinstance(into, Task) else into
    assert value.raw == text if isinstance(value, OutputError) else isinstance(value, model)


@settings(max_examples=150, deadline=None)
@given(_TEXTS)
def test_any_text_as_a_batch_reply_gives_one_result_per_input(text):
    sources = [APPAREL.make_input("red top"), APPAREL.make_input("blue jeans")]
    results = parse_batch(text, APPAREL, sources)
    assert len(results) == 2
    assert all(isinstance(result, promptkit.Parsed | OutputError) for result in results)
