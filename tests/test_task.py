"""Task definitions: examples checked at definition time, clear errors, lookup."""

from __future__ import annotations

import datetime
import textwrap
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel

from promptkit import (
    DefinitionError,
    Example,
    Strategy,
    Task,
    TaskDefinitionError,
    TaskNotFoundError,
    compile_prompt,
    field,
    load_task,
    registered_tasks,
)
from promptkit.checks import grounded


class Colour(BaseModel):
    colour: str | None = field(None, null="when the search names no colour")
    size: Literal["s", "m", "l"] | None = None
    count: int | None = None


def make(examples: list[Example], **overrides: object) -> Task:
    options: dict[str, object] = {
        "name": "colour-task",
        "instructions": "Find the colour.",
        "input_model": "search",
        "output_model": Colour,
        "examples": examples,
    }
    options.update(overrides)
    return Task(**options)  # type: ignore[arg-type]


def test_examples_are_validated_into_model_instances() -> None:
    task = make([Example("red top", {"colour": "red", "size": None})])

    (example,) = task.examples
    assert example.output == Colour(colour="red")
    assert example.input.model_dump() == {"search": "red top"}
    assert task.description == "Find the colour."
    assert task.output_label == "Colour"


def test_example_of_the_wrong_type_names_task_example_and_field() -> None:
    with pytest.raises(TaskDefinitionError) as caught:
        make([Example("ok", {"colour": None}), Example("bad", {"colour": 7, "size": "xl"})])

    error = caught.value
    assert error.task == "colour-task"
    assert isinstance(error, ValueError)
    assert len(error.problems) == 2
    assert "example 1 output, field 'colour'" in error.problems[0]
    assert "example 1 output, field 'size'" in error.problems[1]
    assert "'xl'" in error.problems[1]


def test_missing_required_output_field_is_reported() -> None:
    class Required(BaseModel):
        label: str

    with pytest.raises(
        TaskDefinitionError, match=r"example 0 output, field 'label': Field required"
    ):
        make([Example("x", {})], output_model=Required)


def test_misspelt_output_key_is_not_silently_ignored() -> None:
    with pytest.raises(TaskDefinitionError, match=r"field 'color': not a field of Colour"):
        make([Example("red top", {"color": "red"})])


def test_example_output_that_is_not_a_mapping() -> None:
    with pytest.raises(
        TaskDefinitionError, match=r"example 0 output: expected Colour or a mapping"
    ):
        make([Example("red top", "red")])


def test_unsupported_field_type_is_a_definition_error() -> None:
    class WithComplex(BaseModel):
        when: datetime.date
        blob: complex
        pairs: dict[float, str]

    with pytest.raises(TaskDefinitionError) as caught:
        make([], output_model=WithComplex)
    assert [problem.split(";")[0] for problem in caught.value.problems] == [
        "output field 'blob' has unsupported type complex",
        "output field 'pairs' has unsupported type dict",
    ]


def test_every_unsupported_field_is_listed_not_only_the_first() -> None:
    class Inner(BaseModel):
        when: complex
        ok: str = ""

    class Many(BaseModel):
        at: complex
        name: str
        inner: Inner
        items: list[Inner] = []
        sleeve: Literal["long"] = field(aliases={"short": ["s"]})

    with pytest.raises(TaskDefinitionError) as raised:
        make([], output_model=Many)
    assert [problem.split(" has ")[0] for problem in raised.value.problems] == [
        "output field 'at'",
        "output field 'inner.when'",
        "output field 'items[].when'",
        "output field 'sleeve'",
    ]
    assert (
        "declares aliases for ['short'], which are not among its allowed values"
        in (raised.value.problems[-1])
    )


def test_alias_for_a_value_that_is_not_allowed() -> None:
    class Sleeve(BaseModel):
        sleeve: Literal["long", "short"] = field(aliases={"3/4": ["three quarter"]})

    with pytest.raises(TaskDefinitionError, match=r"declares aliases for \['3/4'\]"):
        make([], output_model=Sleeve)


def test_name_must_be_kebab_case_and_instructions_present() -> None:
    with pytest.raises(TaskDefinitionError) as caught:
        make([], name="Colour Task", instructions=" ")
    assert len(caught.value.problems) == 2


def test_a_grounded_check_must_name_string_fields_of_the_output() -> None:
    with pytest.raises(TaskDefinitionError) as caught:
        make([], checks=[grounded("colour", "size", "count", "shade", constrain=True)])
    problems = caught.value.problems
    assert list(problems) == [
        "check grounded('count'): the output has no str, vocabulary or list of them named 'count'",
        "check grounded('shade'): the output has no str, vocabulary or list of them named 'shade'",
    ]
    assert make([], checks=[grounded("colour", constrain=True)]).checks


def test_strategy_rejects_impossible_settings() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        Strategy(batch_size=0)
    with pytest.raises(ValueError, match="layout"):
        Strategy(layout="table")  # type: ignore[arg-type]


def test_bundled_tasks_are_found_by_name() -> None:
    tasks = registered_tasks()
    assert {"apparel-search", "search-intent"} <= set(tasks)
    assert load_task("apparel-search") is tasks["apparel-search"]
    assert len(tasks["apparel-search"].examples) >= 24


def test_unknown_task_name_lists_the_known_ones() -> None:
    with pytest.raises(TaskNotFoundError, match=r"no task named 'apparel'.*apparel-search"):
        load_task("apparel")


def test_load_by_module_and_attribute() -> None:
    task = load_task("promptkit_tasks.search_intent:search_intent")
    assert task.name == "search-intent"
    with pytest.raises(TaskNotFoundError, match="names nothing"):
        load_task("promptkit_tasks.search_intent:missing")
    with pytest.raises(TaskNotFoundError, match="cannot import module"):
        load_task("no_such_module_here:task")


def test_load_by_file_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.py"
    path.write_text(
        textwrap.dedent(
            """
            from promptkit import Example, Task
            from pydantic import BaseModel

            class Out(BaseModel):
                answer: str

            mine = Task(name="mine", instructions="Answer.", input_model="question",
                        output_model=Out, examples=[Example("q", {"answer": "a"})])
            """
        )
    )
    assert load_task(f"{path}:mine").name == "mine"
    with pytest.raises(TaskNotFoundError, match="no file"):
        load_task(f"{tmp_path / 'absent.py'}:mine")


def test_bad_example_in_a_file_fails_at_import(tmp_path: Path) -> None:
    path = tmp_path / "bad.py"
    path.write_text(
        "from promptkit import Example, Task\n"
        "from pydantic import BaseModel\n"
        "class Out(BaseModel):\n    answer: int\n"
        "bad = Task(name='bad', instructions='x', input_model='q', output_model=Out,\n"
        "           examples=[Example('q', {'answer': 'many'})])\n"
    )
    with pytest.raises(DefinitionError, match=r"(?s)task 'bad'.*example 0 output, field 'answer'"):
        load_task(f"{path}:bad")


def test_two_tasks_with_one_name(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Two installed distributions declare a task of one name under the entry-point group.
    body = (
        "from promptkit import Task\nfrom pydantic import BaseModel\n"
        "class Out(BaseModel):\n    answer: str\n"
        "task = Task(name='same', instructions='x', input_model='q', output_model=Out)\n"
    )
    for name in ("dupe_a", "dupe_b"):
        (tmp_path / f"{name}.py").write_text(body)
        info = tmp_path / f"{name}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[promptkit.tasks]\nsame = {name}:task\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    with pytest.raises(
        TaskNotFoundError, match=r"two tasks are named 'same': dupe_(a|b):task and dupe_(a|b):task"
    ):
        registered_tasks()


def test_two_tasks_with_one_name_in_one_file(tmp_path: Path) -> None:
    path = tmp_path / "twins.py"
    path.write_text(
        "from promptkit import Task\nfrom pydantic import BaseModel\n"
        "class Out(BaseModel):\n    answer: str\n"
        "one = Task(name='same', instructions='x', input_model='q', output_model=Out)\n"
        "two = Task(name='same', instructions='y', input_model='q', output_model=Out)\n"
    )
    with pytest.raises(TaskNotFoundError, match="two tasks are named 'same'"):
        load_task(f"{path}:one")


def test_a_file_with_one_task_loads_without_attr(tmp_path: Path) -> None:
    path = tmp_path / "single.py"
    path.write_text(
        "from promptkit import Task\nfrom pydantic import BaseModel\n"
        "class Out(BaseModel):\n    answer: str\n"
        "only = Task(name='only', instructions='x', input_model='q', output_model=Out)\n"
        "alias = only\n"
    )
    assert load_task(str(path)).name == "only"


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("def broken(:\n", r"single.py:1: syntax error"),
        ("import no_such_module_here\n", r"single.py failed to import: ModuleNotFoundError"),
        ("x = 1\n", r"holds no task"),
    ],
)
def test_a_task_file_that_fails_is_one_clear_error(tmp_path: Path, source: str, words: str) -> None:
    path = tmp_path / "single.py"
    path.write_text(source)
    with pytest.raises(TaskNotFoundError, match=words):
        load_task(str(path))


def test_make_input_accepts_string_mapping_and_model() -> None:
    task = make([])
    model = task.input_model_class
    assert task.make_input("red") == model(search="red")
    assert task.make_input({"search": "red"}) == model(search="red")
    assert task.make_input(model(search="red")) == model(search="red")


class Described(BaseModel):
    colour: str | None = field(None, description="the colour word as the search writes it")
    type: str | None = field(None, description="the product, with the words naming its kind")


def test_a_task_carries_only_the_descriptions_it_names_into_the_prompt() -> None:
    every = make([], output_model=Described)
    only_type = make([], output_model=Described, described=["type"])
    for task, shown in ((every, {"colour", "type"}), (only_type, {"type"})):
        prompt = compile_prompt(task, "red top", layout="chat")
        properties = prompt.json_schema["properties"]
        assert {name for name in properties if "description" in properties[name]} == shown
        header = prompt.messages[0].content
        assert ("colour word as the search writes it" in header) == ("colour" in shown)
        assert "words naming its kind" in header
    assert only_type.described == ("type",)


def test_describing_a_field_the_output_does_not_have_fails_at_definition() -> None:
    with pytest.raises(TaskDefinitionError) as caught:
        make([], output_model=Described, described=["colour", "typo"])
    assert caught.value.problems == ("described: 'typo' is not an output field (colour, type)",)
