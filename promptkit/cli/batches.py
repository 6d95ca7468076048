"""``promptkit batches``: the provider batches of a batch job; and running a scaled file job.

``promptkit run ... --batch-api`` and ``--engine ray`` come here from
:mod:`promptkit.cli.run`; ``promptkit batches list|show|cancel OUTPUT`` read
the state file beside a job's output and ask the provider (key from the
environment) about its batches.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from promptkit.cli.app import app
from promptkit.task import Task

batches_app = typer.Typer(
    name="batches",
    help="List, show and cancel the provider batches of a --batch-api job.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(batches_app)

OutputArg = Annotated[Path, typer.Argument(help="The job's --output (its state is beside it).")]
BatchIdArg = Annotated[str | None, typer.Argument(help="One batch id (default: all of the job).")]


def run_scaled_file(
    task: Task,
    task_ref: str | None,
    source: Path,
    output: Path,
    backend: Any,
    options: Any,
    cache_path: Path | None,
    prices: Path | None,
    *,
    batch_api: bool,
    poll: float,
    engine: str,
    ray_address: str | None,
    **run_options: Any,
) -> None:
    """Run a file job through provider batches or on Ray; print the summary; exit 1 on failures."""
    from promptkit.errors import BackendError, JobFileError
    from promptkit.jobs.files import count_inputs
    from promptkit.jobs.progress import Reporter, load_prices, price_for

    if batch_api and engine != "local":
        raise typer.BadParameter("--batch-api runs on the provider; it takes no --engine")
    console = Console(stderr=True)
    try:
        price = price_for(load_prices(prices), backend.name) if prices else None
        total = count_inputs(source) if console.is_terminal and source.is_file() else None
        with Reporter(console, total) as reporter:
            if batch_api:
                from promptkit.jobs.batch_api import BatchOptions, run_batch_job

                batched = run_batch_job(task, source, output, backend, options=options,
                                        batch=BatchOptions(poll=poll), cache_path=cache_path,
                                        price=price, reporter=reporter, notify=console.print,
                                        **run_options)  # fmt: skip
                summary, note = batched.job, batched.describe()
            else:
                from promptkit.integrations.ray import run_ray_job

                summary = run_ray_job(task, source, output, backend, task_ref=task_ref,
                                      options=options, cache_path=cache_path, price=price,
                                      reporter=reporter, address=ray_address,
                                      **run_options)  # fmt: skip
                note = ""
    except (JobFileError, ValueError) as error:
        raise typer.BadParameter(str(error)) from None
    except BackendError as error:
        raise BackendError(f"{error}; the records written are kept: run again with --resume "
                           "to finish", status=error.status) from None  # fmt: skip
    reporter.summary(summary)
    if note:
        console.print(note)
    if summary.failed:
        print(f"promptkit: {summary.failed} of {summary.items} inputs failed; see {output}",
              file=sys.stderr)  # fmt: skip
        raise typer.Exit(1)


def _job(output: Path) -> tuple[Any, Any]:
    """Return the state of the batch job writing ``output`` and its provider's batch API."""
    from promptkit.backends import create_backend
    from promptkit.jobs.batch_provider import provider_for
    from promptkit.jobs.batch_state import load_state, state_path

    path = state_path(output)
    state = load_state(path)
    if state is None:
        raise typer.BadParameter(f"no batch job writes {str(output)!r} (no {path.name} beside it)")
    backend = create_backend(state.provider, model=state.model, base_url=state.base_url)
    return state, provider_for(backend)


def _chosen(state: Any, batch_id: str | None) -> list[Any]:
    records = [record for record in state.batches if record.id is not None]
    if batch_id is None:
        return records
    chosen = [record for record in records if record.id == batch_id]
    if not chosen:
        known = ", ".join(record.id for record in records) or "none"
        raise typer.BadParameter(f"batch {batch_id!r} is not of this job (its batches: {known})")
    return chosen


@batches_app.command("list")
def list_(
    output: OutputArg,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per batch.")] = False,
) -> None:
    """List a job's batches: inputs covered, requests, status now, records written."""
    state, provider = _job(output)
    rows = []
    for record in _chosen(state, None):
        status = record.status if record.written else provider.retrieve(record.id).status
        rows.append({"id": record.id, "inputs": f"{record.first}-{record.last}",
                     "requests": record.requests, "status": status,
                     "written": record.written})  # fmt: skip
    if as_json:
        for row in rows:
            print(json.dumps(row))
        return
    table = Table(title=f"{state.provider} batches of {output}")
    for column in ("id", "inputs", "requests", "status", "written"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(value) for value in row.values()))
    Console().print(table)


@batches_app.command("show")
def show(output: OutputArg, batch_id: BatchIdArg = None) -> None:
    """Show a batch as the provider reports it now (JSON)."""
    state, provider = _job(output)
    for record in _chosen(state, batch_id):
        status = provider.retrieve(record.id)
        print(json.dumps({**_fields(status), "first": record.first, "last": record.last}))


@batches_app.command("cancel")
def cancel(output: OutputArg, batch_id: BatchIdArg = None) -> None:
    """Cancel a job's batches that have not ended (finished requests are still charged)."""
    state, provider = _job(output)
    for record in _chosen(state, batch_id):
        if record.written:
            continue
        status = provider.cancel(record.id)
        print(json.dumps(_fields(status)))


def _fields(status: Any) -> dict[str, Any]:
    fields = ("id", "status", "ended", "total", "done", "failed", "errors")
    return {name: getattr(status, name) for name in fields}
