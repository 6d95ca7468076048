"""``promptkit tasks`` and ``promptkit check``: finding and validating task definitions."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.table import Table

from promptkit.cli.app import TaskArg, app
from promptkit.errors import TaskDefinitionError
from promptkit.registry import load_task, registered_tasks


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
        pooled = len(loaded.candidates) - len(loaded.examples)
    except TaskDefinitionError as error:
        print(f"{error.task}: {len(error.problems)} problem(s)", file=sys.stderr)
        for problem in error.problems:
            print(f"  - {problem}", file=sys.stderr)
        raise typer.Exit(1) from None
    pool = f", {pooled} in its pool" if loaded.pool is not None else ""
    print(f"{loaded.name}: ok ({len(loaded.examples)} examples{pool})")
