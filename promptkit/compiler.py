"""Compile a task and its inputs into a :class:`Prompt`: pure, deterministic, no I/O.

Three layouts share one set of parts (the instructions, the reply shape,
each example's input and output block):

- ``chat``: instructions as the system message, each example as a user turn
  and an assistant turn, the input as the last user turn;
- ``inline``: everything in one user message, examples as labelled blocks;
- ``completion``: the same document as plain text ending in the output label,
  for base models with no chat template.

Inputs are data, never template code: every input value is written as a JSON
literal (quotes, newlines and control characters escaped) after a fixed
label, so no input can close its delimiter or add a turn, and nothing in it
is ever interpreted.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Sequence
from typing import Any, NamedTuple, TypedDict

from pydantic import BaseModel

from promptkit._types import Layout, SchemaStyle, SelectorName
from promptkit.checks import Grounded, supported_values
from promptkit.formats import (
    batch_schema,
    exact_batch_schema,
    json_schema,
    narrowed,
    render_schema,
    response_format,
)
from promptkit.prompt import Message, Prompt
from promptkit.selection import TokenCounter, select_examples
from promptkit.task import Example, Task, shown_input


class CompileOptions(TypedDict, total=False):
    """How to compile a prompt, per call; every option left out takes the task's strategy.

    The keyword arguments of :func:`compile_prompt` and :func:`compile_batch`,
    and of the run functions, which pass them on.
    """

    shots: int | None
    layout: Layout | None
    schema_style: SchemaStyle | None
    examples: Sequence[Example] | None
    selector: SelectorName | None
    seed: int | None
    token_budget: int | None
    count_tokens: TokenCounter | None


COMPILE_OPTIONS: frozenset[str] = frozenset(CompileOptions.__annotations__)


def check_options(options: dict[str, Any]) -> None:
    """Raise ``TypeError`` naming an unknown compile option, a likely meaning and the valid ones."""
    for name in sorted(set(options) - COMPILE_OPTIONS):
        close = difflib.get_close_matches(name, COMPILE_OPTIONS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        valid = ", ".join(sorted(COMPILE_OPTIONS))
        raise TypeError(f"unknown option {name!r}{hint}; compile options are: {valid}")


def compile_prompt(
    task: Task,
    value: Any,
    *,
    shots: int | None = None,
    layout: Layout | None = None,
    schema_style: SchemaStyle | None = None,
    examples: Sequence[Example] | None = None,
    selector: SelectorName | None = None,
    seed: int | None = None,
    token_budget: int | None = None,
    count_tokens: TokenCounter | None = None,
) -> Prompt:
    """Compile one input into a prompt whose reply is one output.

    Args:
        task: the task.
        value: the input: a string for a one-field input, a mapping, or an input model instance.
        shots: how many examples to show; defaults to the task's strategy (all when unset).
        layout: ``chat``, ``inline`` or ``completion``; defaults to the task's strategy.
        schema_style: ``compact`` or ``jsonschema``; defaults to the task's strategy.
        examples: the examples to show, instead of selecting ``shots`` of the task's.
        selector: how to select examples (``first``, ``random``, ``similar``, ``diverse``);
            defaults to the task's strategy. An input never appears among its own examples.
        seed: the ``random`` selector's seed; defaults to the task's strategy.
        token_budget: the most tokens the examples may take; defaults to the task's strategy.
        count_tokens: counts a text's tokens for the budget (a backend's tokenizer);
            defaults to characters / 4.
    """
    chosen = _Selection(selector, seed, token_budget, count_tokens)
    items = (task.make_input(value),)
    return _compile(task, items, False, shots, layout, schema_style, examples, chosen)


def compile_batch(
    task: Task,
    values: Sequence[Any],
    *,
    shots: int | None = None,
    layout: Layout | None = None,
    schema_style: SchemaStyle | None = None,
    examples: Sequence[Example] | None = None,
    selector: SelectorName | None = None,
    seed: int | None = None,
    token_budget: int | None = None,
    count_tokens: TokenCounter | None = None,
) -> Prompt:
    """Compile several inputs into one prompt whose reply is a JSON array matched back by id.

    Items are numbered from 1 in the order given; ``Prompt.item_ids`` holds
    the ids the reply must carry. Arguments are as for :func:`compile_prompt`.
    """
    if not values:
        raise ValueError("compile_batch needs at least one input")
    items = tuple(task.make_input(value) for value in values)
    chosen = _Selection(selector, seed, token_budget, count_tokens)
    return _compile(task, items, True, shots, layout, schema_style, examples, chosen)


class _Selection(NamedTuple):
    """Per-call overrides of the strategy's example selection."""

    selector: SelectorName | None
    seed: int | None
    token_budget: int | None
    count_tokens: TokenCounter | None


def _compile(
    task: Task,
    items: tuple[BaseModel, ...],
    batch: bool,
    shots: int | None,
    layout: Layout | None,
    schema_style: SchemaStyle | None,
    examples: Sequence[Example] | None,
    chosen: _Selection,
) -> Prompt:
    strategy = task.strategy
    layout = layout or strategy.layout
    style = schema_style or strategy.schema_style
    if examples is None:
        budget = strategy.token_budget if chosen.token_budget is None else chosen.token_budget
        examples = select_examples(
            task,
            items,
            shots=strategy.shots if shots is None else shots,
            selector=chosen.selector or strategy.selector,
            seed=strategy.seed if chosen.seed is None else chosen.seed,
            token_budget=budget,
            count_tokens=chosen.count_tokens,
        )
    demos = _demos(task, tuple(examples), batch, layout)
    header = _header(task, style, batch)
    query = _render_items(items) if batch else _render_input(items[0])
    label = f"{task.output_label}:"
    schema, fmt = _contract(task, batch)
    schema = _reply_schema(task, items, batch, schema)
    ids = tuple(range(1, len(items) + 1)) if batch else ()
    stop = ("\n\n",)

    if layout == "chat":
        messages = [Message("system", header)]
        for shown, answer in demos:
            messages += [Message("user", shown), Message("assistant", answer)]
        messages.append(Message("user", query))
        return Prompt(task.name, layout, tuple(messages), None, schema, fmt, (), ids)
    blocks = [f"{shown}\n{label} {answer}" for shown, answer in demos]
    if layout == "inline":
        document = "\n\n".join([header, *blocks, query])
        return Prompt(task.name, layout, (Message("user", document),), None, schema, fmt, (), ids)
    document = "\n\n".join([header, *blocks, f"{query}\n{label}"])
    return Prompt(task.name, layout, (), document, schema, fmt, stop, ids)


@functools.lru_cache(maxsize=256)
def _contract(task: Task, batch: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The reply's JSON Schema and response format, built once per task and shared.

    Prompts share these dicts, so they are read-only by contract.
    """
    shape = task.output_shape
    schema = batch_schema(shape) if batch else json_schema(shape)
    return schema, response_format(shape, task.name, batch=batch)


def _reply_schema(
    task: Task, items: tuple[BaseModel, ...], batch: bool, shared: dict[str, Any]
) -> dict[str, Any]:
    """The JSON Schema these inputs' reply must match.

    A batch reply must hold every item once, in order, with its id; fields of
    a ``grounded(..., constrain=True)`` check may only take what their own
    input supports (:func:`~promptkit.checks.supported_values`). Otherwise
    the task's shared schema.
    """
    constraining = _constraining_checks(task)
    if not batch and not constraining:
        return shared
    per_item = []
    for item in items:
        schema = shared["items"] if batch else shared
        if constraining:
            allowed, filled = supported_values(task.output_shape, constraining, item)
            schema = narrowed(schema, allowed, filled)
        per_item.append(schema)
    return exact_batch_schema(per_item) if batch else per_item[0]


@functools.lru_cache(maxsize=256)
def _constraining_checks(task: Task) -> tuple[Grounded, ...]:
    """The task's ``grounded(..., constrain=True)`` checks."""
    return tuple(check for check in task.checks if isinstance(check, Grounded) and check.constrain)


@functools.lru_cache(maxsize=256)
def _header(task: Task, style: SchemaStyle, batch: bool) -> str:
    shape = render_schema(task.output_shape, style, batch=batch)
    ask = "Reply with a JSON array, one object per numbered item:" if batch else "Reply with JSON:"
    return f"{task.instructions.strip()}\n\n{ask}\n{shape}"


@functools.lru_cache(maxsize=256)
def _demos(
    task: Task, examples: tuple[Example, ...], batch: bool, layout: Layout
) -> tuple[tuple[str, str], ...]:
    """Return (shown input, expected reply) pairs; a batch shows its examples as one batch."""
    if not examples:
        return ()
    if batch:
        inputs = _render_items(tuple(example.input for example in examples))
        outputs = [
            {"id": number, **_output_data(task, example.output)}
            for number, example in enumerate(examples, start=1)
        ]
        return ((inputs, _json(outputs)),)
    return tuple(
        (_render_input(example.input), _json(_output_data(task, example.output)))
        for example in examples
    )


def _output_data(task: Task, output: BaseModel) -> dict[str, Any]:
    """An example's output as a model should write it: fields left at their default omitted.

    A narrowed field (see :func:`_reply_schema`) is always written, null
    included, as the reply must write it. Keys are written by alias (the one
    name the prompt and schema use).
    """
    everything = output.model_dump(mode="json", by_alias=True)
    given = output.model_dump(mode="json", exclude_defaults=True, by_alias=True)
    written = _written_keys(task)
    return {key: value for key, value in everything.items() if key in given or key in written}


@functools.lru_cache(maxsize=256)
def _written_keys(task: Task) -> frozenset[str]:
    """The keys of the fields a reply must always write: those its schema narrows."""
    constrained = {name for check in _constraining_checks(task) for name in check.fields}
    return frozenset(spec.key for spec in task.output_shape.fields if spec.name in constrained)


def _render_input(item: BaseModel) -> str:
    """Write one input as ``Label: <JSON literal>`` lines, one per field."""
    data = item.model_dump(mode="json")
    return "\n".join(f"{_label(name)}: {_json(value)}" for name, value in data.items())


def _render_items(items: tuple[BaseModel, ...]) -> str:
    """Write a batch as numbered lines, ``<id>. <JSON literal>``.

    A one-field input is written as its value, any other as an object.
    """
    lines = []
    for number, item in enumerate(items, start=1):
        lines.append(f"{number}. {_json(shown_input(item))}")
    return "\n".join(lines)


@functools.cache
def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _json(value: Any) -> str:
    """Write a value as compact JSON: fewest tokens, and quotes and newlines escaped."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
