"""Property tests over every bundled task, with the public strategies of promptkit.testing."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import promptkit
from promptkit.testing import inputs, model_replies, valid_outputs

TASKS = sorted(promptkit.registered_tasks().items())
IDS = [name for name, _ in TASKS]
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(("name", "task"), TASKS, ids=IDS)
@FAST
@given(data=st.data())
def test_every_messy_reply_parses_to_its_expected_value(name, task, data):
    reply, expected = data.draw(model_replies(task))
    assert promptkit.parse(reply, task) == expected


@pytest.mark.parametrize(("name", "task"), TASKS, ids=IDS)
@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_valid_outputs_round_trip_through_json_unchanged(name, task, data):
    value = data.draw(valid_outputs(task))
    parsed = promptkit.parse_with_report(value.model_dump_json(), task)
    assert parsed.value == value
    assert parsed.report.changes == ()


@pytest.mark.parametrize(("name", "task"), TASKS, ids=IDS)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_inputs_are_valid_inputs_of_the_task(name, task, data):
    value = data.draw(inputs(task))
    assert task.make_input(value.model_dump()) == value


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_truncated_reply_is_reported_as_truncated(data):
    task = promptkit.load_task("apparel-search")
    reply, expected = data.draw(model_replies(task))
    parsed = promptkit.parse_with_report(reply, task)
    assert parsed.value == expected
    ends_open = not reply.rstrip().endswith(("}", "```", "helps.", "else.", "</json>"))
    assert parsed.report.truncated == ends_open


# -- every supported shape: valid outputs round-trip, messy replies parse to their value --------

from shapes import SHAPES  # noqa: E402  (beside this file; the models of every supported shape)

SHAPE_IDS = [model.__name__ for model in SHAPES]
SHAPE_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.mark.parametrize("model", SHAPES, ids=SHAPE_IDS)
@SHAPE_SETTINGS
@given(data=st.data())
def test_valid_outputs_of_every_shape_parse_back_to_themselves(model, data):
    value = data.draw(valid_outputs(model))
    assert isinstance(value, model)
    by_alias = json.dumps(value.model_dump(mode="json", by_alias=True), ensure_ascii=False)
    assert promptkit.parse(by_alias, model) == value
    assert promptkit.parse(value.model_dump_json(), model) == value


@pytest.mark.parametrize("model", SHAPES, ids=SHAPE_IDS)
@SHAPE_SETTINGS
@given(data=st.data())
def test_messy_replies_of_every_shape_parse_to_their_value(model, data):
    reply, expected = data.draw(model_replies(model))
    assert promptkit.parse(reply, model) == expected
