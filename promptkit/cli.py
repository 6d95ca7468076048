"""The ``promptkit`` command: a thin typer app over the library.

Expected errors (a usage mistake, an unknown task, a bad definition) become
one readable line on stderr and an exit code, never a traceback: 2 for
usage, 1 for a check or run that found problems.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from promptkit.compiler import compile_batch, compile_prompt
from promptkit.errors import (
    DefinitionError,
    JobFileError,
    PromptkitError,
    TaskDefinitionError,
    validation_problems,
)
from promptkit.jobs.files import read_inputs
from promptkit.prompt import Prompt
from promptkit.registry import load_task, registered_tasks
from promptkit.task import Task

app = typer.Typer(
    name="promptkit",
    help="An LLM task as typed, testable code.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class LayoutChoice(StrEnum):
    CHAT = "chat"
    INLINE = "inline"
    COMPLETION = "completion"


class SchemaStyleChoice(StrEnum):
    COMPACT = "compact"
    JSONSCHEMA = "jsonschema"


class SelectorChoice(StrEnum):
    FIRST = "first"
    RANDOM = "random"
    SIMILAR = "similar"
    DIVERSE = "diverse"


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
LayoutOpt = Annotated[
    LayoutChoice | None, typer.Option(help="Prompt layout (default: the task's).")
]
BatchSizeOpt = Annotated[int | None, typer.Option(min=1, help="Inputs packed into one prompt.")]
SchemaStyleOpt = Annotated[
    SchemaStyleChoice | None, typer.Option(help="How the reply shape is written.")
]
SelectorOpt = Annotated[
    SelectorChoice | None,
    typer.Option(help="How examples are selected for each input (default: the task's)."),
]
SeedOpt = Annotated[int | None, typer.Option(help="Seed of the random selector.")]


@app.command("tasks")
def list_tasks() -> None:
    """List the tasks promptkit can find by name."""
    found = registered_tasks()
    console = Console()
    if not console.is_terminal:
        for name, task in sorted(found.items()):
            print(f"{name}\t{task.description}")
        return
    table = Table("task", "description", box=None)
    for name, task in sorted(found.items()):
        table.add_row(name, task.description)
    console.print(table)


@app.command()
def check(task: TaskArg) -> None:
    """Validate a task definition and its examples; exit 1 listing every problem."""
    try:
        loaded = load_task(task)
    except TaskDefinitionError as error:
        print(f"{error.task}: {len(error.problems)} problem(s)", file=sys.stderr)
        for problem in error.problems:
            print(f"  - {problem}", file=sys.stderr)
        raise typer.Exit(1) from None
    print(f"{loaded.name}: ok ({len(loaded.examples)} examples)")


@app.command()
def render(
    task: TaskArg,
    input_: InputOpt = None,
    input_file: InputFileOpt = None,
    shots: ShotsOpt = None,
    layout: LayoutOpt = None,
    batch_size: BatchSizeOpt = None,
    schema_style: SchemaStyleOpt = None,
    selector: SelectorOpt = None,
    seed: SeedOpt = None,
    format_: Annotated[
        FormatChoice, typer.Option("--format", help="text for people, json for tools.")
    ] = FormatChoice.TEXT,
) -> None:
    """Print exactly what would be sent for each prompt, roles included."""
    loaded = load_task(task)
    values = list(_inputs(loaded, input_ or [], input_file))
    size = batch_size or loaded.strategy.batch_size
    options: dict[str, Any] = {
        "shots": shots,
        "layout": layout.value if layout else None,
        "schema_style": schema_style.value if schema_style else None,
        "selector": selector.value if selector else None,
        "seed": seed,
    }
    prompts = [
        compile_batch(loaded, values[start : start + size], **options)
        if size > 1
        else compile_prompt(loaded, values[start], **options)
        for start in range(0, len(values), size)
    ]
    if format_ is FormatChoice.JSON:
        for prompt in prompts:
            print(prompt.to_json(indent=None))
        return
    _show(prompts)


def _show(prompts: Sequence[Prompt]) -> None:
    console = Console()
    for number, prompt in enumerate(prompts, start=1):
        heading = f"prompt {number} of {len(prompts)}" if len(prompts) > 1 else ""
        if not console.is_terminal:
            if heading:
                print(f"=== {heading} ===")
            print(prompt.render_text(), end="")
            continue
        if heading:
            console.rule(heading)
        turns = (
            [("text", prompt.text)]
            if prompt.text is not None
            else [(message.role, message.content) for message in prompt.messages]
        )
        for role, content in turns:
            console.print(Panel(Text(content), title=role, title_align="left"))


def _inputs(task: Task, given: Sequence[str], path: Path | None) -> Iterator[Any]:
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


@app.command("run")
def run_(
    task: TaskArg,
    input_: InputOpt = None,
    input_file: InputFileOpt = None,
    output: Annotated[
        Path | None, typer.Option(help="Write the records here instead of stdout.")
    ] = None,
    backend: Annotated[
        str, typer.Option(help="local (the embedded model, default), openai or anthropic.")
    ] = "local",
    model: Annotated[str | None, typer.Option(help="Model name, or a GGUF path.")] = None,
    base_url: Annotated[str | None, typer.Option(help="An OpenAI-compatible URL.")] = None,
    shots: ShotsOpt = None,
    layout: LayoutOpt = None,
    batch_size: BatchSizeOpt = None,
    max_tokens: Annotated[
        int | None, typer.Option(min=1, help="Output token budget (default 500).")
    ] = None,
    reasks: Annotated[int, typer.Option(min=0, help="Correction requests per input.")] = 2,
    concurrency: Annotated[int, typer.Option(min=1, help="Batches in flight at once.")] = 1,
    rpm: Annotated[float | None, typer.Option(min=1, help="Requests per minute, at most.")] = None,
    tpm: Annotated[float | None, typer.Option(min=1, help="Tokens per minute, at most.")] = None,
    cache: Annotated[
        Path | None, typer.Option(help="Response cache (default ~/.cache/promptkit/).")
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Bypass the cache.")] = False,
    resume: Annotated[bool, typer.Option(help="Finish the run --output checkpoints.")] = False,
    prices: Annotated[
        Path | None, typer.Option(help="JSON prices per million tokens by model.")
    ] = None,
) -> None:
    """Run a task on each input; write one JSON record per input, one per line.

    Records: index, input, output (or null), error (null or type, message,
    raw reply), attempts, usage. Exit 1 when any input failed. With
    --input-file and --output the run is a file job (docs/jobs.md): streamed,
    cached, concurrent, resumable; a .csv output has one column per field.
    """
    from promptkit.backends import GenerationParams, create_backend
    from promptkit.execution import iter_results

    loaded = load_task(task)
    try:
        chosen = create_backend(backend, model=model, base_url=base_url)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--backend") from None
    params = GenerationParams(max_tokens=max_tokens) if max_tokens else None
    if input_file is not None and output is not None and not input_:
        from promptkit.jobs.runner import JobOptions, default_cache_path

        options = JobOptions(batch_size or 1, concurrency, rpm, tpm, resume)
        cache_path = None if no_cache else cache or default_cache_path()
        _run_file(loaded, input_file, output, chosen, options, cache_path, prices,
                  params=params, reasks=reasks, shots=shots,
                  layout=layout.value if layout else None)  # fmt: skip
        return
    if resume or concurrency > 1 or rpm or tpm:
        raise typer.BadParameter("--resume, --concurrency, --rpm and --tpm need a file job")
    if output is not None and output.suffix.lower() == ".csv":
        raise typer.BadParameter("--output .csv needs --input-file (a file job); use .jsonl")
    values = list(_inputs(loaded, input_ or [], input_file))
    results = iter_results(
        loaded,
        values,
        backend=chosen,
        params=params,
        reasks=reasks,
        batch_size=batch_size,
        shots=shots,
        layout=layout.value if layout else None,
    )
    failed = 0
    with output.open("w", encoding="utf-8") if output else _stdout() as handle:
        for result in results:
            handle.write(json.dumps(result.to_record(), ensure_ascii=False) + "\n")
            handle.flush()
            failed += not result.ok
    if failed:
        print(f"promptkit: {failed} of {len(values)} inputs failed", file=sys.stderr)
        raise typer.Exit(1)


def _run_file(
    task: Task,
    source: Path,
    output: Path,
    backend: Any,
    options: Any,
    cache_path: Path | None,
    prices: Path | None,
    **run_options: Any,
) -> None:
    """Run a file job with a progress bar on a terminal; print the summary; exit 1 on failures."""
    from promptkit.errors import BackendError, JobFileError
    from promptkit.jobs.files import count_inputs
    from promptkit.jobs.progress import Reporter, load_prices, price_for
    from promptkit.jobs.runner import run_job

    console = Console(stderr=True)
    try:
        price = price_for(load_prices(prices), backend.name) if prices else None
        total = count_inputs(source) if console.is_terminal and source.is_file() else None
        with Reporter(console, total) as reporter:
            summary = run_job(task, source, output, backend, options=options,
                              cache_path=cache_path, price=price, reporter=reporter,
                              **run_options)  # fmt: skip
    except JobFileError as error:
        raise typer.BadParameter(str(error)) from None
    except BackendError as error:
        raise BackendError(f"{error}; the records written are kept: run again with --resume "
                           "to finish", status=error.status) from None  # fmt: skip
    reporter.summary(summary)
    if summary.failed:
        print(f"promptkit: {summary.failed} of {summary.items} inputs failed; see {output}",
              file=sys.stderr)  # fmt: skip
        raise typer.Exit(1)


def _stdout() -> Any:
    import contextlib

    return contextlib.nullcontext(sys.stdout)


@app.command("eval")
def eval_(
    task: TaskArg,
    data: Annotated[
        Path | None,
        typer.Option(help="Labelled JSONL: the task's input fields and expected output fields."),
    ] = None,
    shots: Annotated[
        str, typer.Option(help="Configurations to compare, as shot counts: 0,3,8.")
    ] = "0,3,8",
    selector: SelectorOpt = None,
    seed: Annotated[int, typer.Option(help="Seed of the random selector.")] = 0,
    token_budget: Annotated[
        int | None, typer.Option(min=0, help="Most tokens the examples of a prompt may take.")
    ] = None,
    pool: Annotated[
        Path | None,
        typer.Option(help="Labelled JSONL to select examples from instead of the task's own."),
    ] = None,
    cross_validate: Annotated[
        bool,
        typer.Option(help="Score the task on its own examples, each left out of its prompt."),
    ] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="Evaluate the first N items.")] = None,
    backend: Annotated[
        str, typer.Option(help="local (the embedded model), openai or anthropic.")
    ] = "local",
    model: Annotated[str | None, typer.Option(help="Model name, or a GGUF path.")] = None,
    base_url: Annotated[str | None, typer.Option(help="An OpenAI-compatible URL.")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
    report: Annotated[
        Path | None, typer.Option(help="Write a self-contained HTML report here.")
    ] = None,
) -> None:
    """Compare zero-shot and few-shot configurations of a task on the same labelled items."""
    import dataclasses

    from promptkit.backends import create_backend
    from promptkit.evaluation.comparison import (
        Configuration,
        evaluate,
        labelled_examples,
        load_labelled,
        parse_shots,
    )
    from promptkit.evaluation.report import comparison_table, html_report
    from promptkit.task import Example

    loaded = load_task(task)
    try:
        counts = parse_shots(shots)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--shots") from None
    if cross_validate == (data is not None):
        raise typer.BadParameter("give either --data PATH or --cross-validate")
    items = labelled_examples(loaded) if data is None else load_labelled(loaded, data)
    items = items[:limit] if limit else items
    if pool is not None:
        examples = [Example(item.input, item.expected) for item in load_labelled(loaded, pool)]
        loaded = dataclasses.replace(loaded, examples=examples)
    chosen = selector.value if selector else loaded.strategy.selector
    configurations = [Configuration(n, chosen, seed, token_budget) for n in counts]
    where = "own examples (leave-one-out)" if data is None else str(data)
    try:
        chosen_backend = create_backend(backend, model=model, base_url=base_url)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--backend") from None
    comparison = evaluate(loaded, items, chosen_backend, configurations, data=where)
    if report is not None:
        report.write_text(html_report(comparison), encoding="utf-8")
    if json_:
        print(comparison.to_json())
        return
    headers, rows = comparison_table(comparison)
    table = Table(*headers, title=f"{loaded.name} on {where}, {len(items)} items")
    for row in rows:
        table.add_row(*row)
    Console(width=max(160, len(" ".join(headers)) + 40)).print(table)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return its exit code, turning expected errors into one line."""
    command = typer.main.get_command(app)
    args = list(sys.argv[1:] if argv is None else argv) or ["--help"]
    try:
        code = command.main(
            args=args,
            prog_name="promptkit",
            standalone_mode=False,
        )
    except typer.TyperException as error:  # typer's own usage errors, exit code 2
        print(f"promptkit: error: {error.format_message()}", file=sys.stderr)
        return error.exit_code
    except typer.Abort:
        return 130
    except DefinitionError as error:
        print(f"promptkit: error: {error}", file=sys.stderr)
        return 2
    except ValidationError as error:
        problems = "; ".join(validation_problems(error))
        print(f"promptkit: error: invalid input: {problems}", file=sys.stderr)
        return 2
    except PromptkitError as error:
        print(f"promptkit: error: {error}", file=sys.stderr)
        return 1
    return code if isinstance(code, int) else 0
