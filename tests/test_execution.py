"""The run layer with the scripted backend: compile, call, parse, re-ask, budget and split."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest

from promptkit import compile_batch, load_task
from promptkit.backends import Completion, GenerationParams, ScriptedBackend
from promptkit.errors import BackendError, OutputError
from promptkit.execution import arun, arun_many, reask_prompt, run, run_many

TASK = load_task("apparel-search")
RED = '{"colour": "red", "sleeve": "long sleeve", "type": "t shirts"}'


def test_one_input_becomes_a_typed_output_with_report_and_usage() -> None:
    backend = ScriptedBackend([RED])
    result = run(TASK, "red t shirts long sleeve 10yrs boy", backend=backend)
    assert result.ok
    assert isinstance(result.value, TASK.output_model)
    assert result.value.model_dump() == {
        "colour": "red",
        "sleeve": "long sleeve",
        "type": "t shirts",
        "neck": None,
    }
    assert [attempt.reason for attempt in result.attempts] == ["first"]
    assert result.usage.calls == 1
    assert result.usage.completion_tokens == len(RED.split())
    (call,) = backend.calls
    assert call.params == TASK.generation  # the task's own sampling when the call gives none
    assert call.params.temperature == 0.0
    assert "red t shirts long sleeve 10yrs boy" in call.prompt.render_text()


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"shot": 3}, r"unknown option 'shot' \(did you mean 'shots'\?\); compile options are: "),
        ({"layot": "chat"}, r"unknown option 'layot' \(did you mean 'layout'\?\)"),
        ({"temperature": 0.2}, r"unknown option 'temperature'; compile options are: .*shots"),
    ],
)
def test_a_misspelled_option_is_a_type_error_naming_the_valid_ones(
    options: dict[str, object], words: str
) -> None:
    backend = ScriptedBackend([RED])
    with pytest.raises(TypeError, match=words):
        run(TASK, "red", backend=backend, **options)  # type: ignore[arg-type]
    assert backend.calls == []  # refused before anything was sent


def test_the_backends_layout_is_used_unless_one_is_given() -> None:
    base = ScriptedBackend([RED, RED], layout="completion")
    run(TASK, "red top", backend=base)
    run(TASK, "red top", backend=base, layout="chat")
    assert [prompt.layout for prompt in base.prompts] == ["completion", "chat"]


def test_call_params_and_compile_options_reach_the_backend() -> None:
    backend = ScriptedBackend([RED])
    run(TASK, "red top", backend=backend, params=GenerationParams(max_tokens=64, seed=1), shots=2)
    (call,) = backend.calls
    assert (call.params.max_tokens, call.params.seed) == (64, 1)
    assert call.prompt.render_text().count("Attributes:") <= 3  # two shots and the query


def test_the_tasks_generation_settings_are_the_default_and_a_call_overrides_them() -> None:
    tuned = dataclasses.replace(TASK, generation=GenerationParams(temperature=0.0, max_tokens=80))
    backend = ScriptedBackend([RED, RED])
    run(tuned, "red top", backend=backend)
    run(tuned, "red top", backend=backend, params=GenerationParams(max_tokens=90))
    assert [(call.params.temperature, call.params.max_tokens) for call in backend.calls] == [
        (0.0, 80),
        (0.05, 90),
    ]


def test_a_bad_reply_is_reasked_with_its_errors_and_then_succeeds() -> None:
    backend = ScriptedBackend(["I cannot tell.", '{"type": "dress"}'])
    result = run(TASK, "dress", backend=backend, layout="chat")
    assert result.value.type == "dress"
    assert [attempt.reason for attempt in result.attempts] == ["first", "reask"]
    assert result.reasks == 1
    assert isinstance(result.attempts[0].error, OutputError)
    reask = backend.prompts[1]
    assert reask.messages[:-2] == backend.prompts[0].messages
    assert reask.messages[-2].role == "assistant"
    assert reask.messages[-2].content == "I cannot tell."
    assert reask.messages[-1].role == "user"
    assert "could not be used" in reask.messages[-1].content
    assert result.usage.calls == 2


def test_reasks_are_bounded_and_the_failure_keeps_the_raw_reply() -> None:
    backend = ScriptedBackend(["nope", "still nope", "never"])
    result = run(TASK, "dress", backend=backend, reasks=1)
    assert not result.ok
    assert isinstance(result.error, OutputError)
    assert result.error.raw == "still nope"
    assert result.raw == "still nope"
    assert len(result.attempts) == 2
    assert backend.remaining == 1
    with pytest.raises(OutputError):
        _ = result.value
    record = result.to_record()
    assert record["output"] is None
    assert record["error"]["type"] == "OutputError"
    assert record["error"]["raw"] == "still nope"
    assert record["attempts"] == 2


def test_no_reasks_when_turned_off() -> None:
    backend = ScriptedBackend(["nope", RED])
    assert not run(TASK, "dress", backend=backend, reasks=0).ok
    assert len(backend.calls) == 1


def test_a_cut_off_reply_is_sent_again_with_more_tokens_not_reasked() -> None:
    cut = Completion('{"colour": "red", "sleeve": "long', "length", 10, 8)
    backend = ScriptedBackend([cut, RED], layout="completion")
    result = run(TASK, "red top", backend=backend, params=GenerationParams(max_tokens=8))
    assert result.ok
    assert [a.reason for a in result.attempts] == ["first", "more tokens"]
    assert [call.params.max_tokens for call in backend.calls] == [8, 16]
    assert backend.prompts[1] == backend.prompts[0]  # the same request, a bigger budget


def test_a_reply_cut_off_at_the_cap_is_a_truncation_error() -> None:
    cut = Completion('{"colour": "red", "sleeve": "lo', "length", 10, 8)
    backend = ScriptedBackend([cut, cut])
    result = run(
        TASK, "red", backend=backend, params=GenerationParams(max_tokens=8), max_tokens_cap=16
    )
    assert isinstance(result.error, OutputError)
    assert result.error.truncated
    assert "16 tokens" in str(result.error)
    assert len(backend.calls) == 2


def test_a_reply_that_parses_but_lost_fields_to_the_cut_is_not_accepted() -> None:
    cut = Completion('{"colour": "red", "sleeve": "long sleeve", "typ', "length", 10, 8)
    backend = ScriptedBackend([cut, RED])
    search = "red t shirts long sleeve"
    result = run(TASK, search, backend=backend, params=GenerationParams(max_tokens=8))
    assert result.value.type == "t shirts"
    assert len(backend.calls) == 2


def test_backend_errors_become_failed_results() -> None:
    backend = ScriptedBackend([BackendError("server down", status=503, retryable=True)])
    result = run(TASK, "red", backend=backend)
    assert isinstance(result.error, BackendError)
    assert result.to_record()["error"] == {
        "type": "BackendError",
        "message": "server down",
        "raw": None,
    }


def test_many_inputs_keep_their_order_and_a_hopeless_backend_stops_the_run() -> None:
    fatal = BackendError("bad key", status=401, retryable=False)
    backend = ScriptedBackend([RED, fatal])
    results = run_many(TASK, ["red", "blue", "green"], backend=backend)
    assert [r.index for r in results] == [0, 1, 2]
    assert results[0].ok
    assert results[1].error is fatal
    assert results[2].error is fatal
    assert len(backend.calls) == 2  # the third input was never sent


def test_a_batch_reask_names_only_the_failing_items() -> None:
    # Eight examples are items 1 to 8: the inputs are 9, 10 and 11.
    first = json.dumps([{"id": 9, "colour": "red"}, {"id": 10, "colour": {"x": 1}}, {"id": 11}])
    second = json.dumps([{"id": 10, "colour": "blue"}])
    backend = ScriptedBackend(
        [Completion(first, "stop", 90, 30), Completion(second, "stop", 50, 10)]
    )
    results = run_many(TASK, ["red top", "blue top", "top"], backend=backend, batch_size=3)
    assert [r.output.colour if r.output else "?" for r in results] == ["red", "blue", None]
    assert [len(r.attempts) for r in results] == [1, 2, 1]
    correction = backend.prompts[1].render_text().rsplit("--- user ---", 1)[-1]
    assert "Items 10 of your reply" in correction
    assert "Item 9:" not in correction
    assert "Item 11:" not in correction
    # One call's tokens are shared among the items it served; a re-ask is the failing item's.
    assert [r.usage.prompt_tokens for r in results] == [30, 80, 30]
    assert [r.usage.completion_tokens for r in results] == [10, 20, 10]


def test_a_cut_off_batch_keeps_complete_items_and_splits_the_rest() -> None:
    cut = Completion('[{"id": 9, "colour": "red"}, {"id": 10, "colour": "bl', "length", 40, 20)
    backend = ScriptedBackend(
        [cut, '[{"id": 9, "colour": "blue"}, {"id": 10, "type": "hat"}]', '{"type": "sock"}']
    )
    values = ["red top", "blue top", "hat", "sock"]
    results = run_many(TASK, values, backend=backend, batch_size=4)
    assert all(r.ok for r in results), [r.error for r in results]
    assert [r.value.colour for r in results[:2]] == ["red", "blue"]
    assert results[2].value.type == "hat"
    assert results[3].value.type == "sock"
    assert [a.reason for a in results[1].attempts] == ["first", "split"]
    assert [len(p.item_ids) for p in backend.prompts] == [4, 2, 0]
    assert [r.index for r in results] == [0, 1, 2, 3]


def test_reask_prompt_for_a_completion_layout_continues_the_document() -> None:
    backend = ScriptedBackend(["nonsense", RED], layout="completion")
    run(TASK, "red", backend=backend)
    first, second = backend.prompts
    assert first.text is not None
    assert second.text is not None
    assert second.text.startswith(first.text + " nonsense\n\n")
    assert second.text.endswith("\nAttributes:")
    assert reask_prompt(first, "x", "fix it", TASK).text == f"{first.text} x\n\nfix it\nAttributes:"


def test_async_forms_give_the_same_results() -> None:
    backend = ScriptedBackend([RED, "nope", '{"type": "hat"}'])
    one = asyncio.run(arun(TASK, "red", backend=backend))
    assert one.value.colour == "red"
    many = asyncio.run(arun_many(TASK, ["hat"], backend=backend, concurrency=2))
    assert many[0].value.type == "hat"
    assert many[0].reasks == 1


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="reasks"):
        run(TASK, "red", backend=ScriptedBackend(), reasks=-1)
    with pytest.raises(ValueError, match="concurrency"):
        asyncio.run(arun_many(TASK, ["red"], backend=ScriptedBackend(), concurrency=0))


PLAIN = dataclasses.replace(TASK, checks=())  # no grounded check to null a copied answer


def test_a_table_batch_is_read_back_by_id_and_its_prompt_carries_the_row_grammar() -> None:
    reply = "id\tcolour\tsleeve\ttype\tneck\n10\t\t\tsocks\t\n9\tred\t\ttop\t\n"
    backend = ScriptedBackend([reply])
    results = run_many(
        TASK, ["red top", "kids socks"], backend=backend, batch_size=2, reply_format="table"
    )
    assert [r.value.type for r in results] == ["top", "socks"]
    (prompt,) = backend.prompts
    assert prompt.item_ids == (9, 10)
    assert prompt.reply_format == "table"
    assert prompt.response_format == {}
    assert prompt.grammar is not None
    assert 'row1: "10" "\\t" "" "\\t"' in prompt.grammar


def test_a_table_row_that_fails_is_reasked_as_rows() -> None:
    first = "id\tcolour\tsleeve\ttype\tneck\n9\tred\t\ttop\t\n"
    second = "id\tcolour\tsleeve\ttype\tneck\n10\t\t\tsocks\t\n"
    backend = ScriptedBackend([first, second])
    results = run_many(
        TASK, ["red top", "kids socks"], backend=backend, batch_size=2, reply_format="table"
    )
    assert [r.value.type for r in results] == ["top", "socks"]
    correction = backend.prompts[1].messages[-1].content
    assert "Items 10 of your reply could not be used." in correction
    assert "the header and the rows of only items 10" in correction


def test_a_single_table_prompt_is_a_batch_of_one() -> None:
    backend = ScriptedBackend(["id\tcolour\tsleeve\ttype\tneck\n9\tred\t\ttop\t\n"])
    result = run(TASK, "red top", backend=backend, reply_format="table")
    assert result.value.colour == "red"
    assert backend.prompts[0].item_ids == (9,)


def test_an_item_given_an_examples_answer_its_input_lacks_is_flagged_and_asked_alone() -> None:
    searches = ["red top", "kids socks"]
    prompt = compile_batch(PLAIN, searches, selector="first")
    answer = prompt.example_outputs[0]  # an answer "kids socks" does not support
    first, second = prompt.item_ids
    copied = json.dumps([{"id": first, "type": "top"}, {"id": second, **answer}])
    backend = ScriptedBackend([copied, '{"type": "socks"}'])
    results = run_many(PLAIN, searches, backend=backend, batch_size=2, selector="first")
    assert [r.value.type for r in results] == ["top", "socks"]
    assert [a.reason for a in results[1].attempts] == ["first", "copy"]
    assert backend.prompts[1].item_ids == ()  # asked alone
    record = results[1].to_record()
    assert "the answer of example 1, which its input does not support" in record["warnings"][0]
    assert "warnings" not in results[0].to_record()


def test_an_examples_answer_that_the_input_supports_is_not_a_copy() -> None:
    answer = compile_batch(PLAIN, ["x"], selector="first").example_outputs[0]
    searches = [" ".join(str(value) for value in answer.values()), "kids socks"]
    prompt = compile_batch(PLAIN, searches, selector="first")
    first, second = prompt.item_ids
    reply = json.dumps([{"id": first, **answer}, {"id": second, "type": "socks"}])
    backend = ScriptedBackend([reply])
    results = run_many(PLAIN, searches, backend=backend, batch_size=2, selector="first")
    assert [r.value.type for r in results] == [answer.get("type"), "socks"]
    assert len(backend.prompts) == 1
