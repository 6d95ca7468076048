"""Packing inputs into batch prompts, and matching a batch reply back to its inputs.

A :data:`Solve` function turns a batch of validated inputs into one
:class:`Outcome` per input, in order. :func:`make_solver` builds one on a
backend: one input runs on its own (the run layer: compile, call, parse,
re-ask); several are compiled into one batch prompt whose reply is matched
back by id. An item the reply gets wrong (missing, duplicated, wrongly
numbered, invalid) is run again on its own; items lost because the reply was
cut off by the token limit are split into two smaller batches instead.
Tokens of a batch call are shared out over its items, so that per-item usage
adds up to what was spent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from promptkit.backends.base import Backend, GenerationParams
from promptkit.compiler import compile_batch, compile_prompt
from promptkit.errors import OutputError
from promptkit.parsing import Parsed, parse_batch, parse_with_report
from promptkit.task import Layout, SchemaStyleName, Task


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one input: an output or an error, with its share of the tokens."""

    output: dict[str, Any] | None
    error: dict[str, Any] | None
    attempts: int
    prompt_tokens: int = 0
    completion_tokens: int = 0


Solve = Callable[[Sequence[BaseModel]], Sequence[Outcome]]
"""Turns a batch of validated inputs into one outcome per input, in order."""


def make_solver(
    task: Task,
    backend: Backend,
    *,
    params: GenerationParams | None = None,
    shots: int | None = None,
    layout: Layout | None = None,
    schema_style: SchemaStyleName | None = None,
) -> Solve:
    """Return the function that turns a batch of inputs into outcomes, on ``backend``.

    One input is run on its own (with re-asks). Several are compiled into one
    batch prompt; items the reply gets wrong (missing, duplicated, wrongly
    numbered, invalid) are run again on their own, and when the reply was cut
    off by the token limit the items it lost are split in two batches instead.
    """
    settings = _Settings(
        task, backend, params or GenerationParams(), shots, layout or backend.layout, schema_style
    )

    def solve(values: Sequence[BaseModel]) -> Sequence[Outcome]:
        return _solve(settings, list(values))

    return solve


@dataclass(frozen=True, slots=True)
class _Settings:
    task: Task
    backend: Backend
    params: GenerationParams
    shots: int | None
    layout: Layout | None
    schema_style: SchemaStyleName | None


def _solve(settings: _Settings, values: list[BaseModel]) -> list[Outcome]:
    if len(values) == 1:
        return [_solve_one(settings, values[0])]
    prompt = compile_batch(
        settings.task,
        values,
        shots=settings.shots,
        layout=settings.layout,
        schema_style=settings.schema_style,
    )
    completion = settings.backend.complete(prompt, settings.params)
    results = parse_batch(completion.text, settings.task, values)
    shares = _shares(completion.prompt_tokens, len(values))
    completion_shares = _shares(completion.completion_tokens, len(values))
    outcomes: list[Outcome | None] = [
        Outcome(result.value.model_dump(mode="json"), None, 1, shares[i], completion_shares[i])
        if isinstance(result, Parsed)
        else None
        for i, result in enumerate(results)
    ]
    failed = [i for i, outcome in enumerate(outcomes) if outcome is None]
    if failed and completion.truncated and len(failed) > 1:
        # The reply ran out of tokens: ask again in two halves rather than one by one.
        half = len(failed) // 2
        redone = _solve(settings, [values[i] for i in failed[:half]])
        redone += _solve(settings, [values[i] for i in failed[half:]])
    else:
        redone = [_solve_one(settings, values[i]) for i in failed]
    for i, outcome in zip(failed, redone, strict=True):
        outcomes[i] = dataclasses.replace(
            outcome,
            attempts=outcome.attempts + 1,
            prompt_tokens=outcome.prompt_tokens + shares[i],
            completion_tokens=outcome.completion_tokens + completion_shares[i],
        )
    return [outcome for outcome in outcomes if outcome is not None]


def _solve_one(settings: _Settings, value: BaseModel) -> Outcome:
    # Provisional until the run layer lands: one call, no re-ask.
    prompt = compile_prompt(
        settings.task,
        value,
        shots=settings.shots,
        layout=settings.layout,
        schema_style=settings.schema_style,
    )
    completion = settings.backend.complete(prompt, settings.params)
    try:
        parsed = parse_with_report(completion.text, settings.task, source=value)
    except OutputError as error:
        return Outcome(
            None,
            error_record(error),
            1,
            completion.prompt_tokens,
            completion.completion_tokens,
        )
    return Outcome(
        parsed.value.model_dump(mode="json"),
        None,
        1,
        completion.prompt_tokens,
        completion.completion_tokens,
    )


def error_record(error: Exception) -> dict[str, Any]:
    """Return the ``error`` of an output record: type, message and the raw reply."""
    return {"type": type(error).__name__, "message": str(error), "raw": getattr(error, "raw", None)}


def _shares(total: int, count: int) -> list[int]:
    """Split a batch's tokens over its items so that the shares add up to the total."""
    base, extra = divmod(total, count)
    return [base + (1 if i < extra else 0) for i in range(count)]
