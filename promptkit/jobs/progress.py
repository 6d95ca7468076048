"""What a batch run shows while it works and when it ends: progress, summary, cost.

On a terminal a rich progress bar shows items done and failed, tokens,
items per second and time left; when output is piped nothing is drawn. At
the end a summary table is printed (to stderr, so stdout stays clean).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from promptkit.errors import JobFileError


@dataclass(frozen=True, slots=True)
class Price:
    """The price of a model in currency units per million tokens."""

    prompt: float
    completion: float


@dataclass(frozen=True, slots=True)
class JobSummary:
    """The totals of a run, including what an earlier run (resumed) had already written.

    ``cached`` counts the items whose every reply came from the response cache;
    ``calls`` the requests sent to the backend (its retries included); the tokens are
    those spent (a cached reply spends none).
    """

    items: int
    succeeded: int
    failed: int
    resumed: int
    cached: int
    calls: int
    prompt_tokens: int
    completion_tokens: int
    elapsed: float
    cost: float | None = None

    @property
    def items_per_second(self) -> float:
        """Items finished in this run per second of this run."""
        fresh = self.items - self.resumed
        return fresh / self.elapsed if self.elapsed > 0 else 0.0


def load_prices(path: Path) -> dict[str, Price]:
    """Read a price table: JSON ``{"model": {"prompt": 0.15, "completion": 0.6}}`` per 1M tokens.

    Raises:
        JobFileError: the file is missing or not such a table.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {
            str(model): Price(float(entry["prompt"]), float(entry["completion"]))
            for model, entry in data.items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise JobFileError(
            f"price table {str(path)!r} cannot be read ({error}); write JSON like "
            '{"gpt-4o-mini": {"prompt": 0.15, "completion": 0.6}} (per million tokens)'
        ) from None


def price_for(prices: Mapping[str, Price], backend: str) -> Price | None:
    """Find a backend's price by its full name (``openai:gpt-4o-mini``), then by model alone."""
    if backend in prices:
        return prices[backend]
    return prices.get(backend.partition(":")[2])


def cost(price: Price, prompt_tokens: int, completion_tokens: int) -> float:
    """Return the cost of the tokens at a price per million."""
    return (prompt_tokens * price.prompt + completion_tokens * price.completion) / 1_000_000


class Reporter:
    """Draws a progress bar on a terminal and prints the summary table.

    Args:
        console: where to draw; a console that is not a terminal draws no bar.
        total: the expected number of items, if known.
    """

    def __init__(self, console: Console | None = None, total: int | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._progress: Progress | None = None
        self._bar: TaskID | None = None
        self._total = total
        self._failed = 0
        self._tokens = 0

    def __enter__(self) -> Reporter:
        if self.console.is_terminal:
            self._progress = Progress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[failed]} failed"),
                TextColumn("{task.fields[tokens]} tokens"),
                TextColumn("{task.fields[rate]} items/s"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )
            self._progress.start()
            self._bar = self._progress.add_task(
                "run", total=self._total, failed=0, tokens=0, rate="-"
            )
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def skip(self, count: int) -> None:
        """Count items an earlier run already wrote."""
        if self._progress is not None and self._bar is not None:
            self._progress.update(self._bar, completed=count)

    def advance(self, done: int, failed: int, tokens: int) -> None:
        """Count items just written."""
        self._failed += failed
        self._tokens += tokens
        if self._progress is None or self._bar is None:
            return
        self._progress.advance(self._bar, done)
        task = self._progress.tasks[self._bar]
        rate = f"{task.speed:.1f}" if task.speed else "-"
        self._progress.update(self._bar, failed=self._failed, tokens=self._tokens, rate=rate)

    def summary(self, summary: JobSummary) -> None:
        """Print the summary table."""
        self.console.print(summary_table(summary))


def summary_table(summary: JobSummary) -> Table:
    """Return the end-of-run table."""
    table = Table(title="promptkit run", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    rows: list[tuple[str, Any]] = [
        ("items", summary.items),
        ("succeeded", summary.succeeded),
        ("failed", summary.failed),
        ("from an earlier run", summary.resumed),
        ("from the cache", summary.cached),
        ("backend calls", summary.calls),
        ("prompt tokens", summary.prompt_tokens),
        ("completion tokens", summary.completion_tokens),
        ("time", f"{summary.elapsed:.1f} s"),
        ("items/s", f"{summary.items_per_second:.2f}"),
    ]
    if summary.cost is not None:
        rows.append(("cost", f"{summary.cost:.4f}"))
    for name, value in rows:
        table.add_row(name, str(value))
    return table
