"""Mistakes a type checker must catch (checked by mypy in test_typing.py).

Each line below carries the ignore comment of the error it must raise;
mypy --strict warns about an unused ignore, so the test fails the day a
mistake stops being a type error.
"""

from __future__ import annotations

from pydantic import BaseModel

from promptkit import CompileOptions, Task, compile_prompt, run, run_many


class Attributes(BaseModel):
    colour: str | None = None


task = Task(name="typed", instructions="x", input_model="search", output_model=Attributes)

run(task, "red", shot=3)  # type: ignore[call-arg]
run_many(task, ["red"], layot="chat")  # type: ignore[call-arg]
run(task, "red", layout="sideways")  # type: ignore[arg-type]
run(task, "red", selector="nearest")  # type: ignore[arg-type]
compile_prompt(task, "red", shot=3)  # type: ignore[call-arg]
bad: CompileOptions = {"shot": 3}  # type: ignore[typeddict-unknown-key]
wrong: str = run(task, "red").value  # type: ignore[assignment]
