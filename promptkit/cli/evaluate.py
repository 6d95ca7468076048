"""``promptkit eval``: zero- vs few-shot configurations compared on labelled items."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from promptkit.cli.app import DialectOpt, ModeOpt, SelectorOpt, TaskArg, app
from promptkit.registry import load_task


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
    mode: ModeOpt = None,
    dialect: DialectOpt = None,
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
    chosen = selector or loaded.strategy.selector
    configurations = [Configuration(n, chosen, seed, token_budget) for n in counts]
    where = "own examples (leave-one-out)" if data is None else str(data)
    try:
        chosen_backend = create_backend(
            backend, model=model, base_url=base_url, mode=mode, dialect=dialect
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
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
