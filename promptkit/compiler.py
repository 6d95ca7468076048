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

import dataclasses
import difflib
import functools
import json
from collections.abc import Sequence
from typing import Any, NamedTuple, TypedDict

from pydantic import BaseModel

from promptkit._types import Layout, ReplyFormat, SchemaStyle, SelectorName
from promptkit.checks import Grounded, Lessons, Narrowing, learn, supported_values
from promptkit.formats import (
    batch_schema,
    exact_batch_schema,
    json_schema,
    narrowed,
    render_schema,
    response_format,
)
from promptkit.notation import field_notes
from promptkit.prompt import Message, Prompt
from promptkit.rows import header as table_header
from promptkit.rows import row_grammar, table_fields, write_cell, write_rows, write_table
from promptkit.schema import FieldSpec
from promptkit.selection import TokenCounter, select_examples
from promptkit.task import Example, Task, shown_input, shown_output


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
    reply_format: ReplyFormat | None


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
    reply_format: ReplyFormat | None = None,
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
        reply_format: ``json``, or ``table`` for rows (a flat output only: see
            :mod:`promptkit.rows`); defaults to the task's strategy. A table prompt
            is a batch of one: its reply is a header and one row.
    """
    chosen = _Selection(selector, seed, token_budget, count_tokens, reply_format)
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
    reply_format: ReplyFormat | None = None,
) -> Prompt:
    """Compile several inputs into one prompt whose reply is matched back by id.

    The reply is a JSON array of objects, or with ``reply_format="table"`` a
    header and one row per item. The examples are shown as a batch numbered
    from 1, and the items are numbered after them (with 8 examples, from 9),
    so that no item can be mistaken for an example; ``Prompt.item_ids`` holds
    the ids the reply must carry. Arguments are as for :func:`compile_prompt`.
    """
    if not values:
        raise ValueError("compile_batch needs at least one input")
    items = tuple(task.make_input(value) for value in values)
    chosen = _Selection(selector, seed, token_budget, count_tokens, reply_format)
    return _compile(task, items, True, shots, layout, schema_style, examples, chosen)


class _Selection(NamedTuple):
    """Per-call overrides of the strategy's example selection."""

    selector: SelectorName | None
    seed: int | None
    token_budget: int | None
    count_tokens: TokenCounter | None
    reply_format: ReplyFormat | None


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
            pinned=strategy.pinned,
        )
    fmt_name = chosen.reply_format or strategy.reply_format
    table = fmt_name == "table"
    batch = batch or table
    demos = _demos(task, tuple(examples), batch, fmt_name)
    narrowings = _narrowings(task, items)
    listed = _listed(task, narrowings) if table else ()
    header = _header(task, style, batch, fmt_name, listed)
    first = len(examples) + 1 if batch and examples else 1
    ids = tuple(range(first, first + len(items))) if batch else ()
    query = _render_input(items[0])
    if batch:
        query = _render_rows(items, first) if table else _render_items(items, first)
    label = f"{task.output_label}:"
    schema, fmt = _contract(task, batch)
    schema = _reply_schema(narrowings, batch, schema, ids)
    grammar = None
    if table:
        keys = [spec.key for spec in table_fields(task.output_shape)]
        grammar = row_grammar(schema["prefixItems"], ids, keys)
        fmt = {}
    stop = ("\n\n",)
    wire = (schema, fmt)
    answers = tuple(shown_output(example.output) for example in examples) if batch else ()
    tail: dict[str, Any] = {
        "item_ids": ids,
        "reply_format": fmt_name,
        "grammar": grammar,
        "example_outputs": answers,
    }

    if layout == "chat":
        messages = [Message("system", header)]
        for shown, answer in demos:
            messages += [Message("user", shown), Message("assistant", answer)]
        messages.append(Message("user", query))
        return Prompt(task.name, layout, tuple(messages), None, *wire, (), **tail)
    separator = "\n" if table else " "  # a table starts on its own line
    blocks = [f"{shown}\n{label}{separator}{answer}" for shown, answer in demos]
    if layout == "inline":
        document = "\n\n".join([header, *blocks, query])
        return Prompt(task.name, layout, (Message("user", document),), None, *wire, (), **tail)
    document = "\n\n".join([header, *blocks, f"{query}\n{label}"])
    return Prompt(task.name, layout, (), document, *wire, stop, **tail)


@functools.lru_cache(maxsize=256)
def _contract(task: Task, batch: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The reply's JSON Schema and response format, built once per task and shared.

    Prompts share these dicts, so they are read-only by contract.
    """
    shape = task.output_shape
    schema = batch_schema(shape) if batch else json_schema(shape)
    return schema, response_format(shape, task.name, batch=batch)


def _narrowings(task: Task, items: tuple[BaseModel, ...]) -> tuple[Narrowing, ...]:
    """What each input's reply may hold, when a ``grounded(..., constrain=True)`` check narrows it.

    The fields of such a check may only take what their own input supports
    (:func:`~promptkit.checks.supported_values`); a task without one has no
    narrowings.
    """
    constraining = _constraining_checks(task)
    if not constraining:
        return ()
    return tuple(
        supported_values(task.output_shape, constraining, item, _labelled_narrowing(task, item))
        for item in items
    )


def _reply_schema(
    narrowings: tuple[Narrowing, ...],
    batch: bool,
    shared: dict[str, Any],
    ids: tuple[int, ...],
) -> dict[str, Any]:
    """The JSON Schema these inputs' reply must match: the task's, narrowed per input.

    A batch reply must hold every item once, in order, with its id.
    """
    if not narrowings:
        return exact_batch_schema([shared["items"]] * len(ids), ids) if batch else shared
    item_schema = shared["items"] if batch else shared
    per_item = [narrowed(item_schema, allowed, filled) for allowed, filled in narrowings]
    return exact_batch_schema(per_item, ids) if batch else per_item[0]


def _listed(
    task: Task, narrowings: tuple[Narrowing, ...]
) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """The values a table prompt lists for each vocabulary column: those its items may take.

    A column narrowed for every item lists the values any of them may take,
    in the vocabulary's order (none: the column's line is left out); any
    other column is not in the result, and lists its whole vocabulary.
    """
    listed = []
    for spec in table_fields(task.output_shape):
        if spec.shape.kind != "enum" or not narrowings:
            continue
        if any(spec.key not in allowed for allowed, _ in narrowings):
            continue
        taken = {value for allowed, _ in narrowings for value in allowed[spec.key]}
        listed.append((spec.key, tuple(v for v in spec.shape.values if v in taken)))
    return tuple(listed)


@functools.lru_cache(maxsize=256)
def _constraining_checks(task: Task) -> tuple[Grounded, ...]:
    """The task's ``grounded(..., constrain=True)`` checks."""
    return tuple(check for check in task.checks if isinstance(check, Grounded) and check.constrain)


def _labelled_narrowing(task: Task, item: BaseModel) -> Lessons:
    """What the task's labelled examples teach the narrowing of one input (see :func:`learn`).

    As an input is never among its own examples, an example's label does not
    narrow its own input (so leave-one-out evaluation stays honest); for
    every other input the lessons are learned once per task.
    """
    if item.model_dump_json() not in _labelled_inputs(task):
        return _lessons(task)
    return _learn(task, [example for example in task.candidates if example.input != item])


@functools.lru_cache(maxsize=64)
def _labelled_inputs(task: Task) -> frozenset[str]:
    return frozenset(example.input.model_dump_json() for example in task.candidates)


@functools.lru_cache(maxsize=64)
def _lessons(task: Task) -> Lessons:
    return _learn(task, task.candidates)


def _learn(task: Task, examples: Sequence[Example]) -> Lessons:
    pairs = [(example.input, example.output) for example in examples]
    return learn(task.output_shape, _constraining_checks(task), pairs)


@functools.lru_cache(maxsize=256)
def _header(
    task: Task,
    style: SchemaStyle,
    batch: bool,
    reply_format: ReplyFormat,
    listed: tuple[tuple[str, tuple[Any, ...]], ...],
) -> str:
    if reply_format == "table":
        fields = table_fields(task.output_shape)
        ask = (
            "Reply with one row per item in these columns, tab-separated, id first; "
            "an empty cell for null:"
        )
        values = dict(listed)
        typed = [
            _column(spec, values.get(spec.key))
            for spec in fields
            if not _plain_text(spec) and values.get(spec.key, True)
        ]
        return "\n".join([f"{task.instructions.strip()}\n\n{ask}", table_header(fields), *typed])
    shape = render_schema(task.output_shape, style, batch=batch)
    ask = "Reply with a JSON array, one object per numbered item:" if batch else "Reply with JSON:"
    return f"{task.instructions.strip()}\n\n{ask}\n{shape}"


def _plain_text(spec: FieldSpec) -> bool:
    """Whether a column is text or null with nothing more to say (its header says it all)."""
    return spec.shape.kind == "string" and not spec.shape.constraints and not field_notes(spec)


def _column(spec: FieldSpec, values: tuple[Any, ...] | None = None) -> str:
    """A column's line under the header: its values as its cells write them, then its notes.

    ``sleeve: long sleeve | short sleeve | sleeveless``: a vocabulary's values
    (or the given ones of them) bare, as a row writes them (a value with a
    ``|`` in it quoted); any other type in the compact notation. An empty
    cell is null, so null is not listed.
    """
    shape = dataclasses.replace(spec.shape, nullable=False)
    if shape.kind == "enum":
        cells = [write_cell(value) for value in (shape.values if values is None else values)]
        written = " | ".join(
            json.dumps(cell, ensure_ascii=False) if "|" in cell else cell for cell in cells
        )
    else:
        written = render_schema(shape, "compact")
    notes = field_notes(spec)
    return f"{spec.key}: {written}" + (f" // {notes}" if notes else "")


@functools.lru_cache(maxsize=256)
def _demos(
    task: Task, examples: tuple[Example, ...], batch: bool, reply_format: ReplyFormat
) -> tuple[tuple[str, str], ...]:
    """Return (shown input, expected reply) pairs; a batch shows its examples as one batch."""
    if not examples:
        return ()
    if batch:
        shown = tuple(example.input for example in examples)
        table = reply_format == "table"
        inputs = _render_rows(shown, 1) if table else _render_items(shown, 1)
        numbered = [
            (number, _output_data(task, example.output))
            for number, example in enumerate(examples, start=1)
        ]
        if table:
            return ((inputs, write_table(numbered, table_fields(task.output_shape))),)
        return ((inputs, _json([{"id": number, **data} for number, data in numbered])),)
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
    given = shown_output(output)
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


def _render_items(items: tuple[BaseModel, ...], first: int) -> str:
    """Write a batch as numbered lines, ``<id>. <JSON literal>``, numbered from ``first``.

    A one-field input is written as its value, any other as an object.
    """
    lines = []
    for number, item in enumerate(items, start=first):
        lines.append(f"{number}. {_json(shown_input(item))}")
    return "\n".join(lines)


def _render_rows(items: tuple[BaseModel, ...], first: int) -> str:
    """Write a table prompt's inputs as rows numbered from ``first`` under an ``id`` header.

    Each cell is the value as text, or a JSON literal where text could be
    misread (:func:`promptkit.rows.write_cell`): no input can add a row or a cell.
    """
    numbered = [(n, item.model_dump(mode="json")) for n, item in enumerate(items, start=first)]
    return write_rows(numbered, list(numbered[0][1]))


@functools.cache
def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _json(value: Any) -> str:
    """Write a value as compact JSON: fewest tokens, and quotes and newlines escaped."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
