"""parse, parse_with_report, parse_batch and reask_messages, on the corpus and by hand."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

import promptkit
from promptkit import OutputError, Task, grounded, parse, parse_batch, parse_with_report

CORPUS = [
    json.loads(line)
    for line in (Path(__file__).parent / "corpus" / "replies.jsonl").read_text("utf-8").splitlines()
]
APPAREL = promptkit.load_task("apparel-search")


def test_corpus_has_at_least_sixty_replies_in_classes():
    classes = defaultdict(int)
    for row in CORPUS:
        classes[row["class"]] += 1
    assert len(CORPUS) >= 60
    assert len(classes) >= 15


@pytest.mark.parametrize("row", CORPUS, ids=[f"{r['class']}-{i}" for i, r in enumerate(CORPUS)])
def test_corpus_reply_parses_to_its_expected_value(row):
    task = promptkit.load_task(row["task"])
    parsed = parse_with_report(row["reply"], task)
    assert parsed.value.model_dump(mode="json") == row["expected"]
    assert bool(parsed.report.changes) == (row["class"] != "valid")
    assert parsed.report.truncated == (row["class"] == "truncated")


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
