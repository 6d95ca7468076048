"""Example pools: labelled rows beside a task's examples, read lazily and validated by row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from promptkit import Example, ExamplePool, Task, select_examples
from promptkit.errors import TaskDefinitionError
from promptkit.registry import load_task


class Colour(BaseModel):
    colour: str | None = None


def write(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def make(pool: ExamplePool | None, examples: tuple[Example, ...] = ()) -> Task:
    return Task(
        name="colours",
        instructions="Find the colour.",
        input_model="search",
        output_model=Colour,
        examples=examples,
        pool=pool,
    )


def test_a_task_selects_among_its_examples_then_its_pools_rows(tmp_path: Path) -> None:
    rows = [{"search": "navy socks", "colour": "navy"}, {"search": "tights", "colour": None}]
    task = make(
        ExamplePool(write(tmp_path / "pool.jsonl", rows)), (Example("red hat", {"colour": "red"}),)
    )
    assert [example.input.search for example in task.candidates] == [
        "red hat",
        "navy socks",
        "tights",
    ]
    chosen = select_examples(
        task, [task.make_input("navy blue socks")], shots=1, selector="similar"
    )
    assert [example.output.colour for example in chosen] == ["navy"]


def test_the_pool_is_read_when_first_needed_not_when_the_task_is_defined(tmp_path: Path) -> None:
    missing = tmp_path / "later.jsonl"
    task = make(ExamplePool(missing))
    with pytest.raises(TaskDefinitionError, match="pool: cannot read labelled data"):
        task.candidates  # noqa: B018
    write(missing, [{"search": "red hat", "colour": "red"}])
    assert len(make(ExamplePool(missing)).candidates) == 1


def test_a_bad_row_names_the_task_the_file_the_line_and_the_field(tmp_path: Path) -> None:
    path = write(
        tmp_path / "pool.jsonl", [{"search": "ok"}, {"search": "x", "colour": 7}, {"serch": "y"}]
    )
    with pytest.raises(TaskDefinitionError) as caught:
        make(ExamplePool(path)).candidates  # noqa: B018
    assert caught.value.task == "colours"
    assert caught.value.problems == (
        f"pool {path}:2 output, field 'colour': Input should be a valid string (got 7)",
        f"pool {path}:3: 'serch' is not a field of the task's input or output (colour, search)",
    )


def test_a_line_that_is_not_json_is_named(tmp_path: Path) -> None:
    path = tmp_path / "pool.jsonl"
    path.write_text('{"search": "a"}\n{"search": \n', encoding="utf-8")
    with pytest.raises(TaskDefinitionError, match=r"pool:.*pool.jsonl:2: not JSON"):
        make(ExamplePool(path)).candidates  # noqa: B018


def test_the_apparel_task_ships_its_pool_as_package_data() -> None:
    task = load_task("apparel-search")
    assert task.pool is not None
    assert task.pool.name == "apparel_search_pool.jsonl"
    pooled = task.candidates[len(task.examples) :]
    assert len(pooled) >= 300
    inputs = {example.input.search for example in task.candidates}
    assert len(inputs) == len(task.candidates)  # no search is labelled twice
