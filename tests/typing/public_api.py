"""The public API's types, as a type checker sees them (checked by mypy in test_typing.py).

Never run: every call here would need a backend. ``assert_type`` fails the
mypy run when an inferred type differs from the one written.
"""

from __future__ import annotations

from typing import assert_type

from hypothesis.strategies import SearchStrategy
from pydantic import BaseModel

from promptkit import (
    CompileOptions,
    Example,
    Parsed,
    Prompt,
    Result,
    Task,
    arun,
    arun_many,
    compile_prompt,
    parse,
    parse_with_report,
    run,
    run_many,
)
from promptkit.backends import ScriptedBackend
from promptkit.testing import inputs, model_replies, valid_outputs


class Search(BaseModel):
    search: str


class Attributes(BaseModel):
    colour: str | None = None
    sleeve: str | None = None


task = Task(
    name="typed",
    instructions="Structure the search.",
    input_model=Search,
    output_model=Attributes,
    examples=[Example("red shirt", {"colour": "red"})],
)
assert_type(task, Task[Search, Attributes])

one_field = Task(name="typed", instructions="x", input_model="search", output_model=Attributes)
assert_type(one_field, Task[BaseModel, Attributes])

backend = ScriptedBackend()
assert_type(run(task, "red shirt", backend=backend), Result[Attributes])
assert_type(run(task, "red shirt", backend=backend).value, Attributes)
assert_type(run(one_field, "red shirt", backend=backend, shots=3, layout="chat").value, Attributes)
assert_type(run_many(task, ["a", "b"], backend=backend), list[Result[Attributes]])
assert_type(task.make_input("red shirt"), Search)


async def asynchronous() -> None:
    assert_type(await arun(task, "red shirt", backend=backend), Result[Attributes])
    assert_type(await arun_many(task, ["a"], backend=backend), list[Result[Attributes]])


assert_type(parse('{"colour": "red"}', Attributes), Attributes)
assert_type(parse('{"colour": "red"}', task), Attributes)
assert_type(parse_with_report("{}", task), Parsed[Attributes])
assert_type(parse_with_report("{}", task).value, Attributes)

assert_type(valid_outputs(task), SearchStrategy[Attributes])
assert_type(valid_outputs(Attributes), SearchStrategy[Attributes])
assert_type(model_replies(task), SearchStrategy[tuple[str, Attributes]])
assert_type(inputs(task), SearchStrategy[Search])

options: CompileOptions = {"shots": 2, "selector": "similar"}
assert_type(compile_prompt(task, "red shirt", **options), Prompt)
