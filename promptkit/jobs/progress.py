"""What a batch run shows while it works and when it ends: progress, summary, cost.

On a terminal a rich progress bar shows items done, failed and cached,
tokens spent, items per second over a moving window and the time left; when
output is piped nothing is drawn. At the end a summary table is printed (to
stderr, so stdout stays clean); its items per second and the bar's last
value are the same number, on the same clock.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Mapping
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


class Meter:
    """Items per second over a moving window, and the time left, on one monotonic clock.

    The rate counts the items finished in the last ``window`` seconds over the
    time since the sample just before them; until the window has filled, that
    is the time since the start, so a first burst (a packed batch of eight at
    once) cannot show thousands of items per second.

    Args:
        total: the items expected, for the time left; None when unknown.
        window: seconds of history the rate is taken over.
        clock: the clock, ``time.monotonic`` by default.
    """

    def __init__(
        self,
        total: int | None = None,
        *,
        window: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.window = window
        self._clock = clock
        self.started = clock()
        self.done = 0
        self._samples: deque[tuple[float, int]] = deque([(self.started, 0)])

    def add(self, count: int) -> None:
        """Count items just finished."""
        now = self._clock()
        self.done += count
        self._samples.append((now, self.done))
        while len(self._samples) > 2 and self._samples[1][0] <= now - self.window:
            self._samples.popleft()

    def rate(self) -> float | None:
        """Items per second over the window, or None before any time has passed."""
        when, done = self._samples[0]
        spent = self._clock() - when
        return (self.done - done) / spent if spent > 0 else None

    def average(self) -> float:
        """Items per second since the start: what the summary reports."""
        spent = self._clock() - self.started
        return self.done / spent if spent > 0 else 0.0

    def remaining(self) -> float | None:
        """Seconds left at the current rate, or None when the total or the rate is unknown."""
        speed = self.rate()
        if self.total is None or not speed:
            return None
        return max(0, self.total - self.done) / speed

    def elapsed(self) -> float:
        """Seconds since the start."""
        return self._clock() - self.started


def duration(seconds: float | None) -> str:
    """Write seconds as ``m:ss`` (or ``h:mm:ss``); ``-:--`` when unknown."""
    if seconds is None:
        return "-:--"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


class Reporter:
    """Draws a progress bar on a terminal and prints the summary table.

    The bar's items/s and time left come from a :class:`Meter` over a moving
    window; when the run ends the bar shows the average since the start, the
    number the summary prints. Tokens are those really spent: once a job's
    backend is attached (:meth:`attach`), replies from the response cache count
    as cached, not as tokens.

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
        self._skipped = 0
        self._spent: Any = None
        self.meter = Meter(total)

    @property
    def started(self) -> float:
        """When the run started, on the monotonic clock the summary uses too."""
        return self.meter.started

    def __enter__(self) -> Reporter:
        self.meter = Meter(self._total)
        if self.console.is_terminal:
            self._progress = Progress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[failed]} failed"),
                TextColumn("{task.fields[cached]} cached"),
                TextColumn("{task.fields[tokens]} tokens"),
                TextColumn("{task.fields[rate]} items/s"),
                TextColumn("{task.fields[elapsed]} elapsed, {task.fields[left]} left"),
                console=self.console,
                transient=False,
            )
            self._progress.start()
            self._bar = self._progress.add_task("run", total=self._total, **self._fields())
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._progress is not None and self._bar is not None:
            average = f"{self.meter.average():.2f}"
            self._progress.update(self._bar, **{**self._fields(), "rate": average, "left": "0:00"})
            self._progress.stop()

    def attach(self, backend: Any) -> None:
        """Read spent tokens and cache hits from a job's backend (``prompt_tokens``,
        ``completion_tokens``, ``cache_hits``) instead of from the records."""
        self._spent = backend

    def skip(self, count: int) -> None:
        """Count items an earlier run already wrote."""
        self._skipped = count
        if self.meter.total is not None:
            self.meter.total = max(0, self.meter.total - count)
        if self._progress is not None and self._bar is not None:
            self._progress.update(self._bar, completed=count)

    def advance(self, done: int, failed: int, tokens: int) -> None:
        """Count items just written (``tokens``: theirs, used when no backend is attached)."""
        self._failed += failed
        self._tokens += tokens
        self.meter.add(done)
        if self._progress is None or self._bar is None:
            return
        self._progress.update(self._bar, advance=done, **self._fields())

    def _fields(self) -> dict[str, Any]:
        spent, cached = self._tokens, 0
        if self._spent is not None:
            spent = self._spent.prompt_tokens + self._spent.completion_tokens
            cached = self._spent.cache_hits
        speed = self.meter.rate() if self.meter.done else None
        return {
            "failed": self._failed,
            "cached": cached,
            "tokens": spent,
            "rate": "-" if speed is None else f"{speed:.2f}",
            "elapsed": duration(self.meter.elapsed()),
            "left": duration(self.meter.remaining()),
        }

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
        ("replies from the cache", summary.cached),
        ("backend calls", summary.calls),
        ("prompt tokens spent", summary.prompt_tokens),
        ("completion tokens spent", summary.completion_tokens),
        ("time", f"{summary.elapsed:.1f} s"),
        ("items/s", f"{summary.items_per_second:.2f}"),
    ]
    if summary.cost is not None:
        rows.append(("cost", f"{summary.cost:.4f}"))
    for name, value in rows:
        table.add_row(name, str(value))
    return table
