"""Solving one batch of a file run with the run layer, as plain outcomes.

A :data:`Solve` function turns a batch of validated inputs into one
:class:`Outcome` per input, in order. :func:`make_solver` builds one on a
backend with :func:`promptkit.run.run_many`, which does the work: one input
is run on its own; several are compiled into one batch prompt whose reply is
matched back by id; items the reply gets wrong (missing, duplicated,
wrongly numbered, invalid) are asked again without the others, and items
lost because the reply was cut off by the token limit are sent again in
smaller batches. Tokens of a batch call are shared out over its items.

A backend failure is raised rather than returned: a file run stops on it and
is resumed later, instead of writing failures that a retry would have cured.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from promptkit.backends.base import Backend, GenerationParams
from promptkit.errors import BackendError
from promptkit.result import Result
from promptkit.run import run_many
from promptkit.task import Layout, Task


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one input: an output or an error (type, message, raw reply), and usage."""

    output: dict[str, Any] | None
    error: dict[str, Any] | None
    attempts: int
    usage: Mapping[str, int] = field(default_factory=dict)

    @property
    def prompt_tokens(self) -> int:
        """This input's share of the prompt tokens."""
        return self.usage.get("prompt_tokens", 0)

    @property
    def completion_tokens(self) -> int:
        """This input's share of the completion tokens."""
        return self.usage.get("completion_tokens", 0)

    @classmethod
    def of(cls, result: Result[Any]) -> Outcome:
        """Return the outcome of a run layer result."""
        record = result.to_record()
        return cls(record["output"], record["error"], record["attempts"], record["usage"])


Solve = Callable[[Sequence[BaseModel]], Sequence[Outcome]]
"""Turns a batch of validated inputs into one outcome per input, in order."""


def make_solver(
    task: Task,
    backend: Backend,
    *,
    params: GenerationParams | None = None,
    shots: int | None = None,
    layout: Layout | None = None,
    **compile_options: Any,
) -> Solve:
    """Return the function that runs a batch of inputs on ``backend``, one outcome each.

    Args:
        task: the task.
        backend: where calls go.
        params: generation settings (the run layer's defaults when unset).
        shots: examples per prompt (the task's when unset).
        layout: the prompt layout (the backend's, then the task's, when unset).
        **compile_options: passed on to the compiler (``schema_style``...).

    The function raises :class:`~promptkit.errors.BackendError` when the backend
    failed for an input of the batch.
    """

    def solve(values: Sequence[BaseModel]) -> Sequence[Outcome]:
        results = run_many(
            task,
            values,
            backend=backend,
            params=params,
            batch_size=len(values),
            shots=shots,
            layout=layout,
            **compile_options,
        )
        for result in results:
            if isinstance(result.error, BackendError):
                raise result.error
        return [Outcome.of(result) for result in results]

    return solve
