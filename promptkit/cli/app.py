"""The typer app every command registers on, and the options commands share.

Choices come from the vocabularies in :mod:`promptkit._types`, so the CLI
offers exactly the layouts, selectors and schema styles the library accepts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from promptkit._types import Layout, SchemaStyle, SelectorName
from promptkit.backends.anthropic_wire import AnthropicMode
from promptkit.backends.openai_wire import Dialect, OutputMode
from promptkit.errors import JobFileError
from promptkit.jobs.files import read_inputs
from promptkit.task import Task

app = typer.Typer(
    name="promptkit",
    help="An LLM task as typed, testable code.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class FormatChoice(StrEnum):
    TEXT = "text"
    JSON = "json"


TaskArg = Annotated[
    str, typer.Argument(help="Task name (apparel-search), module:attr or path/to/file.py:attr.")
]
InputOpt = Annotated[list[str] | None, typer.Option("--input", "-i", help="An input (repeatable).")]
InputFileOpt = Annotated[
    Path | None,
    typer.Option(
        help="Inputs from a file: .txt (one per line), .jsonl (objects of input fields) "
        "or .csv (columns named by input fields)."
    ),
]
ShotsOpt = Annotated[
    int | None, typer.Option(min=0, help="Examples to show (default: the task's).")
]
LayoutOpt = Annotated[Layout | None, typer.Option(help="Prompt layout (default: the task's).")]
BatchSizeOpt = Annotated[int | None, typer.Option(min=1, help="Inputs packed into one prompt.")]
SchemaStyleOpt = Annotated[SchemaStyle | None, typer.Option(help="How the reply shape is written.")]
SelectorOpt = Annotated[
    SelectorName | None,
    typer.Option(help="How examples are selected for each input (default: the task's)."),
]
SeedOpt = Annotated[int | None, typer.Option(help="Seed of the random selector.")]
BackendMode = Literal[OutputMode, AnthropicMode]  # every mode some backend kind takes
ModeOpt = Annotated[
    BackendMode | None,
    typer.Option(
        help="How replies are constrained: openai text, json_object, json_schema (default) or "
        "tool; anthropic json (default) or tool.",
    ),
]
DialectOpt = Annotated[
    Dialect | None,
    typer.Option(help="How the openai backend's server takes a schema (default openai)."),
]


def read_cli_inputs(task: Task, given: Sequence[str], path: Path | None) -> Iterator[Any]:
    """Yield the inputs from --input values, then from --input-file; at least one is required.

    The file is read by the batch-run reader (:func:`promptkit.jobs.files.read_inputs`); here a
    row that is not a valid input is a usage error, since nothing has been sent yet.
    """
    yield from given
    if path is None:
        if not given:
            raise typer.BadParameter("give at least one --input or an --input-file")
        return
    try:
        items = read_inputs(path, task)
    except JobFileError as error:
        raise typer.BadParameter(str(error), param_hint="--input-file") from None
    for item in items:
        if item.problem is not None:
            raise typer.BadParameter(f"{path}, input {item.index + 1}: {item.problem}")
        yield item.value
