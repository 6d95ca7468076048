"""Evaluation: labelled data, configurations, running on the same items, summaries, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from promptkit import Example, Prompt, Strategy, Task
from promptkit.backends import GenerationParams, ScriptedBackend
from promptkit.errors import DataError
from promptkit.evaluation.comparison import (
    Configuration,
    ItemRun,
    LabelledItem,
    evaluate,
    labelled_examples,
    load_labelled,
    parse_shots,
    summarise,
)


class Attributes(BaseModel):
    colour: str | None = None
    type: str | None = None


def has_type(expected: BaseModel, predicted: BaseModel | None) -> float | None:
    """A task's own metric: did the reply name a type at all."""
    return None if predicted is None else float(predicted.type is not None)  # type: ignore[attr-defined]


TASK = Task(
    name="apparel-mini",
    instructions="Find colour and type.",
    input_model="search",
    output_model=Attributes,
    examples=[
        Example("red shirt", {"colour": "red", "type": "shirt"}),
        Example("gifts for dad", {}),
        Example("blue socks", {"colour": "blue", "type": "socks"}),
    ],
    strategy=Strategy(shots=2),
    metrics=[has_type],
)


def write(tmp_path: Path, rows: list[object]) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n\n", encoding="utf-8")
    return path


def test_load_labelled_reads_inputs_and_expected_outputs(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [{"search": "navy dress", "colour": "navy", "type": "dress"}, {"search": "hat"}],
    )
    items = load_labelled(TASK, path)
    assert [item.input.search for item in items] == ["navy dress", "hat"]  # type: ignore[attr-defined]
    assert items[0].expected == Attributes(colour="navy", type="dress")
    assert items[1].expected == Attributes()
    assert [item.line for item in items] == [1, 2]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"search": "x", "color": "red"}], r"data.jsonl:1: 'color' is not a field"),
        (
            [{"search": "x"}, {"colour": "red"}],
            r"data.jsonl:2 input, field 'search': Field required",
        ),
        ([{"search": "x"}, [1]], r"data.jsonl:2: expected an object, got list"),
    ],
)
def test_bad_rows_are_reported_with_their_line(
    tmp_path: Path, rows: list[object], message: str
) -> None:
    with pytest.raises(DataError, match=message):
        load_labelled(TASK, write(tmp_path, rows))


def test_missing_and_broken_files_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read labelled data"):
        load_labelled(TASK, tmp_path / "nope.jsonl")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"search": "x"}\n{"search": \n', encoding="utf-8")
    with pytest.raises(DataError, match=r"broken.jsonl:2: not JSON"):
        load_labelled(TASK, broken)


def test_parse_shots() -> None:
    assert parse_shots("0,3,8") == (0, 3, 8)
    assert parse_shots(" 2 ") == (2,)
    for bad in ("", "a", "1,-2"):
        with pytest.raises(ValueError, match="comma-separated"):
            parse_shots(bad)


def test_configuration_names_and_strategy() -> None:
    assert Configuration(0).name == "0-shot"
    assert Configuration(3, "similar").name == "3-shot similar"
    assert Configuration(8, "random", seed=2).name == "8-shot random/2"
    assert Configuration(4, token_budget=60).name == "4-shot <=60tok"
    assert Configuration(8, reply_format="table").name == "8-shot table"
    assert Configuration(0, reply_format="table").apply(TASK).strategy.reply_format == "table"
    variant = Configuration(1, "diverse", seed=5, token_budget=9).apply(TASK)
    assert variant.strategy == Strategy(shots=1, selector="diverse", seed=5, token_budget=9)
    assert [e.input for e in variant.examples] == [e.input for e in TASK.examples]
    assert TASK.strategy.shots == 2


class Recorder:
    """A runner that answers from a table and records the shots each call was given."""

    name = "table"

    def __init__(self, answers: dict[str, ItemRun]) -> None:
        self.answers = answers
        self.seen: list[tuple[int | None, str]] = []

    def __call__(self, task: Task, value: BaseModel, backend: object) -> ItemRun:
        assert backend is self
        search = value.search  # type: ignore[attr-defined]
        self.seen.append((task.strategy.shots, search))
        return self.answers[search]


def test_evaluate_runs_every_configuration_on_the_same_items() -> None:
    items = labelled_examples(TASK)
    runner = Recorder(
        {
            "red shirt": ItemRun(Attributes(colour="red", type="shirts"), raw="{...}"),
            "gifts for dad": ItemRun(Attributes(colour="blue"), raw='{"colour":"blue"}'),
            "blue socks": ItemRun(None, raw="not json", error="OutputError: no JSON", attempts=2),
        }
    )
    comparison = evaluate(
        TASK, items, runner, [Configuration(0), Configuration(2)], runner=runner, data="own"
    )
    assert [shots for shots, _ in runner.seen] == [0, 0, 0, 2, 2, 2]
    assert [search for _, search in runner.seen[:3]] == [search for _, search in runner.seen[3:]]
    first = comparison.results[0]
    assert [item.outcomes for item in first.items] == [
        {"colour": "correct", "type": "correct"},
        {"colour": "hallucinated", "type": "null"},
        {"colour": "invalid", "type": "invalid"},
    ]
    summary = first.summary
    assert summary.items == 3
    assert summary.validity == pytest.approx(2 / 3)
    assert summary.all_correct == pytest.approx(1 / 3)
    assert (summary.micro.tp, summary.micro.fp, summary.micro.fn) == (2, 1, 2)
    assert summary.fields["colour"].hallucinated == 1
    assert summary.extra == {"has_type": 0.5}
    worst = first.worst(5)
    assert [item.index for item in worst] == [2, 1]
    assert worst[0].raw == "not json"
    assert worst[0].attempts == 2


def test_comparison_json_round_trips_summaries_and_items() -> None:
    items = labelled_examples(TASK)[:1]
    runner = Recorder({"red shirt": ItemRun(Attributes(colour="red"), prompt_tokens=10)})
    comparison = evaluate(TASK, items, runner, [Configuration(1)], runner=runner)
    data = json.loads(comparison.to_json())
    assert data["task"] == "apparel-mini"
    assert data["backend"] == "table"
    (config,) = data["configurations"]
    assert config["name"] == "1-shot"
    assert config["summary"]["micro"]["tp"] == 1
    assert config["summary"]["micro"]["fn"] == 1
    assert config["summary"]["prompt_tokens"] == 10
    assert config["items"][0]["outcomes"] == {"colour": "correct", "type": "missed"}
    assert "items" not in comparison.to_dict(items=False)["configurations"][0]


def test_summarise_without_wall_time_uses_latency() -> None:
    assert summarise(["colour"], []).items_per_second == 0.0


def reply_for(prompt: Prompt, params: GenerationParams) -> str:
    """Answer like a model that invents a colour zero-shot and copies its examples few-shot."""
    few_shot = len(prompt.messages) > 2
    query = prompt.messages[-1].content
    if query == 'Search: "gifts for dad"':
        return "{}" if few_shot else '{"colour": "blue"}'
    assert query == 'Search: "red shirt"'
    return '{"colour": "Red", "type": "T-Shirts"}' if few_shot else '{"colour": "red"'


def test_evaluate_through_the_run_layer_with_a_scripted_backend() -> None:
    items = (
        LabelledItem(TASK.make_input("red shirt"), Attributes(colour="red", type="t shirt")),
        LabelledItem(TASK.make_input("gifts for dad"), Attributes()),
    )
    backend = ScriptedBackend([reply_for] * 4)
    comparison = evaluate(TASK, items, backend, [Configuration(0), Configuration(2)])
    assert backend.remaining == 0
    assert comparison.backend == "scripted:scripted"
    zero, few = comparison.results
    assert [item.outcomes for item in zero.items] == [
        {"colour": "correct", "type": "missed"},
        {"colour": "hallucinated", "type": "null"},
    ]
    assert zero.items[0].repaired  # the unclosed object was repaired, not re-asked
    assert zero.items[0].raw == '{"colour": "red"'
    assert zero.summary.fields["colour"].hallucinated == 1
    assert few.summary.all_correct == 1.0
    assert few.summary.micro.f1 == 1.0
    assert few.summary.prompt_tokens > zero.summary.prompt_tokens > 0
    # The few-shot prompts showed two examples, never the item itself.
    assert all(
        prompt.messages[-1].content != prompt.messages[1].content for prompt in backend.prompts[2:]
    )


def test_cross_validation_leaves_each_example_out_of_its_own_prompt() -> None:
    backend = ScriptedBackend(['{"colour": "red", "type": "shirt"}', "{}", "{}"])
    comparison = evaluate(TASK, labelled_examples(TASK), backend, [Configuration(5)])
    for prompt in backend.prompts:
        query = prompt.messages[-1].content
        shown = [message.content for message in prompt.messages[1:-1:2]]
        assert len(shown) == 2
        assert query not in shown
    assert comparison.results[0].summary.items == 3
