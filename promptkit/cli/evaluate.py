"""``promptkit eval``: zero- vs few-shot configurations compared on labelled items."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from promptkit._types import REPLY_FORMATS, ReplyFormat
from promptkit.cli.app import (
    BackendOpt,
    BaseUrlOpt,
    DialectOpt,
    LogOpt,
    ModelOpt,
    ModeOpt,
    PoolOpt,
    SeedOpt,
    SelectorOpt,
    TaskArg,
    TokenBudgetOpt,
    app,
    number,
    open_backend,
    warn_shots,
    with_pool,
)
from promptkit.errors import DataError
from promptkit.jobs.progress import Meter, duration
from promptkit.registry import load_task

if TYPE_CHECKING:
    from promptkit.evaluation.comparison import Comparison, Configuration, ConfigurationResult
    from promptkit.task import Task


@app.command("eval")
def eval_(
    ctx: typer.Context,
    task: TaskArg,
    data: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH",
            help="Labelled JSONL: the task's input fields and expected output fields.",
        ),
    ] = None,
    shots: Annotated[
        str,
        typer.Option(metavar="N,N,...", help="Configurations to compare, as shot counts: 0,3,8."),
    ] = "0,3,8",
    reply_format: Annotated[
        str,
        typer.Option(
            metavar="FORMAT,...",
            help="Reply formats to compare: json, table or json,table (rows: flat outputs only).",
        ),
    ] = "json",
    selector: SelectorOpt = None,
    seed: SeedOpt = None,
    token_budget: TokenBudgetOpt = None,
    pool: PoolOpt = None,
    cross_validate: Annotated[
        bool,
        typer.Option(help="Score the task on its own examples, each left out of its prompt."),
    ] = False,
    limit: Annotated[
        int | None, typer.Option(metavar="N", parser=number(1), help="Evaluate the first N items.")
    ] = None,
    backend: BackendOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    mode: ModeOpt = None,
    dialect: DialectOpt = None,
    json_: Annotated[
        bool, typer.Option("--json", help="Print the whole comparison as JSON.")
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option(metavar="PATH", help="Write a self-contained HTML report here."),
    ] = None,
    log: LogOpt = None,
) -> None:
    """Compare zero-shot and few-shot configurations of a task on the same labelled items.

    Progress goes to stderr: a bar on a terminal, a line per configuration when piped.
    The table fits the terminal, leaving out the least important columns (--json keeps all).
    """

    from promptkit.evaluation.comparison import (
        Configuration,
        evaluate,
        labelled_examples,
        load_labelled,
        parse_shots,
    )
    from promptkit.evaluation.report import html_report

    loaded = with_pool(load_task(task), pool)
    try:
        counts = parse_shots(shots)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--shots") from None
    if cross_validate == (data is not None):
        raise typer.BadParameter("give either --data PATH or --cross-validate")
    try:
        items = labelled_examples(loaded) if data is None else load_labelled(loaded, data)
    except DataError as error:
        raise typer.BadParameter(str(error), param_hint="--data") from None
    items = items[:limit] if limit else items
    available = len(loaded.candidates) - (1 if data is None else 0)  # leave-one-out
    for count in sorted(set(counts)):
        warn_shots(loaded, count, available)
    chosen = selector or loaded.strategy.selector
    seed = loaded.strategy.seed if seed is None else seed
    formats = _reply_formats(reply_format)
    configurations = [
        Configuration(n, chosen, seed, token_budget, fmt) for fmt in formats for n in counts
    ]
    where = "own examples and pool (leave-one-out)" if data is None else str(data)
    chosen_backend = ctx.with_resource(
        open_backend(backend, model, base_url, log, mode=mode, dialect=dialect)
    )
    metadata = {
        "model": getattr(chosen_backend, "model", None),
        "pool": str(pool) if pool is not None else _pool_of(loaded),
        "selector": chosen,
        "seed": seed,
        "shots": ",".join(map(str, counts)),
        "pinned": loaded.strategy.pinned,
        "token budget": token_budget,
        "reply formats": ",".join(formats),
    }
    with EvalProgress(Console(stderr=True), configurations, len(items)) as progress:
        comparison = evaluate(loaded, items, chosen_backend, configurations, data=where,
                              on_item=progress.item, on_result=progress.result,
                              metadata=metadata)  # fmt: skip
    if report is not None:
        try:
            report.write_text(html_report(comparison), encoding="utf-8")
        except OSError as error:
            raise typer.BadParameter(f"cannot write {str(report)!r}: {error.strerror}",
                                     param_hint="--report") from None  # fmt: skip
    if json_:
        print(comparison.to_json())
        return
    print_table(Console(), comparison)


def _reply_formats(text: str) -> list[ReplyFormat]:
    """Read ``--reply-format``: formats separated by commas, each known, once each."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if name not in REPLY_FORMATS:
            listed = " or ".join(REPLY_FORMATS)
            raise typer.BadParameter(f"{name!r} is not a reply format: use {listed}",
                                     param_hint="--reply-format")  # fmt: skip
    if not names:
        raise typer.BadParameter("name at least one reply format", param_hint="--reply-format")
    return list(dict.fromkeys(cast("list[ReplyFormat]", names)))


def _pool_of(task: Task) -> str:
    """What a task selects examples from, in words."""
    own = f"the task's {len(task.examples)} examples"
    if task.pool is None:
        return own
    return f"{own} and {len(task.candidates) - len(task.examples)} in {task.pool.name}"


def print_table(console: Console, comparison: Comparison) -> None:
    """Print the run's metadata and the comparison table, fitted to the console's width."""
    from promptkit.evaluation.report import comparison_columns, fit_columns, metadata_lines

    def build(columns: Any) -> Table:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for position, column in enumerate(columns):
            width = max(9, *(len(cell) for cell in column.cells))
            header = "\n".join(textwrap.wrap(column.header, width, break_long_words=False))
            table.add_column(header, justify="left" if position == 0 else "right")
        for n in range(len(comparison.results)):
            table.add_row(*(column.cells[n] for column in columns))
        return table

    unbounded = console.options.update_width(1_000_000)

    def measure(columns: Any) -> int:
        return console.measure(build(columns), options=unbounded).maximum

    kept, dropped = fit_columns(comparison_columns(comparison), console.width, measure)
    for line in _packed(metadata_lines(comparison), console.width):
        console.print(line, highlight=False, soft_wrap=True)
    console.print(build(kept))
    if dropped:
        left_out = ", ".join(column.header for column in dropped)
        console.print(f"(left out to fit: {left_out}; --json has every column)", highlight=False)


def _packed(pieces: list[str], width: int) -> list[str]:
    """Join pieces two spaces apart into lines of at most ``width`` (a long piece stands alone)."""
    lines: list[str] = []
    for piece in pieces:
        if lines and len(lines[-1]) + 2 + len(piece) <= width:
            lines[-1] += "  " + piece
        else:
            lines.append(piece)
    return lines


class EvalProgress:
    """Shows configurations x items on stderr: a bar with ETA on a terminal, else a line each.

    Args:
        console: where to draw (stderr).
        configurations: the configurations, in the order they run.
        items: items per configuration.
    """

    def __init__(self, console: Console, configurations: list[Configuration], items: int) -> None:
        self.console = console
        self.items = items
        self.count = len(configurations)
        self.meter = Meter(items * len(configurations))
        self._since = 0.0  # when the current configuration started, in seconds of the run
        self._progress: Progress | None = None
        self._bar: TaskID | None = None
        self._number = 0

    def __enter__(self) -> EvalProgress:
        self.meter = Meter(self.meter.total)
        if self.console.is_terminal:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]} items/s"),
                TextColumn("{task.fields[elapsed]} elapsed, {task.fields[left]} left"),
                console=self.console,
                transient=True,
            )
            self._progress.start()
            self._bar = self._progress.add_task(
                self._description(), total=self.meter.total, rate="-", elapsed="0:00", left="-:--"
            )
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def _description(self) -> str:
        return f"configuration {min(self._number + 1, self.count)} of {self.count}"

    def item(self, configuration: Configuration, index: int) -> None:
        """Count one item of a configuration done."""
        self.meter.add(1)
        if self._progress is None or self._bar is None:
            return
        speed = self.meter.rate()
        self._progress.update(
            self._bar,
            advance=1,
            description=f"{configuration.name} ({self._description()})",
            rate="-" if speed is None else f"{speed:.2f}",
            elapsed=duration(self.meter.elapsed()),
            left=duration(self.meter.remaining()),
        )

    def result(self, result: ConfigurationResult) -> None:
        """Report a finished configuration: a line when there is no bar."""
        from promptkit.evaluation.report import rate

        self._number += 1
        now = self.meter.elapsed()
        took, self._since = now - self._since, now
        summary = result.summary
        line = (
            f"promptkit: {result.configuration.name} ({self._number} of {self.count}): "
            f"{summary.items} items in {took:.1f} s, micro F1 {rate(summary.micro.f1)}"
        )
        if self._progress is not None:
            self._progress.console.print(line, highlight=False)
        else:
            print(line, file=sys.stderr, flush=True)
