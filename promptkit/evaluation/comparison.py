"""Evaluation: score a task's outputs against labelled data, per field, per configuration.

Labelled data is JSONL, one row per item holding the task's input fields and
its expected output fields. Each configuration (shots, selector, seed, token
budget) runs on the same items; every item's output is compared field by
field after normalisation (case, spacing, hyphens, plurals):

- a field the gold labels null and the model fills is a **false positive**
  (a hallucinated attribute: the zero-shot failure mode);
- a wrong value is a false positive and a false negative;
- a field left null that the gold fills is a false negative;
- a reply that never became a valid output counts every field wrong.

Metrics: precision, recall and F1 on non-null values per field and micro
over fields, field accuracy, accuracy on nulls, items with all fields
right, validity, repairs, re-asks, tokens and latency per item, and any
metric the task defines (``Task.metrics``). The comparison functions live in
:mod:`promptkit.evaluation.metrics`; :func:`evaluate` is the only function here that
does I/O, through the backend it is given.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from promptkit._types import ReplyFormat, SelectorName
from promptkit.errors import DataError
from promptkit.evaluation.metrics import FieldOutcome, FieldScore, item_outcomes
from promptkit.pools import read_rows
from promptkit.task import Task

if TYPE_CHECKING:
    from promptkit.result import Result

# -- data ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabelledItem:
    """One item to evaluate: a validated input and the expected output."""

    input: BaseModel
    expected: BaseModel
    line: int = 0


def load_labelled(task: Task, path: str | Path) -> tuple[LabelledItem, ...]:
    """Read labelled JSONL: each row holds the task's input fields and expected output fields.

    Spellings of a vocabulary value become the canonical value, as in examples; a
    value outside a closed vocabulary is kept as written (no output can match it).

    Raises:
        DataError: the file is missing or a row is not a valid input and output, with its line.
    """
    items = []
    for number, row in read_rows(Path(path), str(path)):
        problems: list[str] = []
        example = task.labelled(row, f"{path}:{number}", problems, gold=True)
        if example is None:
            raise DataError("; ".join(problems))
        items.append(LabelledItem(example.input, example.output, number))
    return tuple(items)


def labelled_examples(task: Task) -> tuple[LabelledItem, ...]:
    """Return the examples a task selects from (its own, then its pool's), for cross-validation.

    Each is left out of its own prompt by the selectors, so the score is leave-one-out.
    """
    return tuple(
        LabelledItem(example.input, example.output, index)
        for index, example in enumerate(task.candidates)
    )


# -- configurations and results -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Configuration:
    """One way to prompt: how many examples, selected how, and how the reply is written."""

    shots: int
    selector: SelectorName = "first"
    seed: int = 0
    token_budget: int | None = None
    reply_format: ReplyFormat = "json"
    pinned: int | None = None  # the task's first examples that open every prompt; None: the task's

    @property
    def name(self) -> str:
        """A short label: ``0-shot``, ``3-shot similar``, ``8-shot random/1``, ``8-shot table``."""
        suffix = f" {self.reply_format}" if self.reply_format != "json" else ""
        if self.shots == 0:
            return "0-shot" + suffix
        name = f"{self.shots}-shot"
        if self.selector != "first":
            name += f" {self.selector}"
        if self.selector == "random":
            name += f"/{self.seed}"
        if self.token_budget is not None:
            name += f" <={self.token_budget}tok"
        if self.pinned:
            name += f" {self.pinned} pinned"
        return name + suffix

    def apply(self, task: Task) -> Task:
        """Return the task with this configuration as its strategy."""
        strategy = dataclasses.replace(
            task.strategy,
            shots=self.shots,
            selector=self.selector,
            seed=self.seed,
            token_budget=self.token_budget,
            reply_format=self.reply_format,
            pinned=task.strategy.pinned if self.pinned is None else self.pinned,
        )
        return dataclasses.replace(task, strategy=strategy)


@dataclass(frozen=True, slots=True)
class ItemResult:
    """What one configuration made of one item."""

    index: int
    input: dict[str, Any]
    expected: dict[str, Any]
    output: dict[str, Any] | None
    outcomes: dict[str, FieldOutcome]
    raw: str = ""
    error: str | None = None
    attempts: int = 1
    repaired: bool = False
    reasks: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency: float = 0.0
    extra: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def valid(self) -> bool:
        """Whether the reply became a valid output."""
        return self.output is not None

    @property
    def all_correct(self) -> bool:
        """Whether every field came out right."""
        return all(outcome in ("correct", "null") for outcome in self.outcomes.values())

    @property
    def failures(self) -> int:
        """How many fields came out wrong."""
        return sum(outcome not in ("correct", "null") for outcome in self.outcomes.values())


@dataclass(frozen=True, slots=True)
class Summary:
    """One configuration's scores over all items."""

    fields: dict[str, FieldScore]
    micro: FieldScore
    items: int
    all_correct: float
    validity: float
    repaired: float
    reasks: float
    prompt_tokens: float
    completion_tokens: float
    latency: float
    items_per_second: float
    extra: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """Return the summary as plain data."""
        data = {item.name: getattr(self, item.name) for item in dataclasses.fields(self)}
        data["fields"] = {name: score.to_dict() for name, score in self.fields.items()}
        data["micro"] = self.micro.to_dict()
        return data


def summarise(
    fields: Sequence[str],
    results: Sequence[ItemResult],
    wall_seconds: float | None = None,
) -> Summary:
    """Score a configuration's item results; ``wall_seconds`` gives items per second."""
    scores = {
        name: FieldScore.of(
            (result.outcomes[name] for result in results),
            (result.expected.get(name) is None for result in results),
        )
        for name in fields
    }
    micro = sum(scores.values(), FieldScore())
    count = len(results) or 1
    wall = sum(result.latency for result in results) if wall_seconds is None else wall_seconds
    names = sorted({name for result in results for name in result.extra})
    extra = {}
    for name in names:
        values = [result.extra[name] for result in results if name in result.extra]
        extra[name] = sum(values) / len(values)
    return Summary(
        fields=scores,
        micro=micro,
        items=len(results),
        all_correct=sum(result.all_correct for result in results) / count,
        validity=sum(result.valid for result in results) / count,
        repaired=sum(result.repaired for result in results) / count,
        reasks=sum(result.reasks for result in results) / count,
        prompt_tokens=sum(result.prompt_tokens for result in results) / count,
        completion_tokens=sum(result.completion_tokens for result in results) / count,
        latency=sum(result.latency for result in results) / count,
        items_per_second=len(results) / wall if wall > 0 else 0.0,
        extra=extra,
    )


@dataclass(frozen=True, slots=True)
class ConfigurationResult:
    """A configuration, its item results and their summary."""

    configuration: Configuration
    items: tuple[ItemResult, ...]
    summary: Summary

    def worst(self, count: int = 10) -> list[ItemResult]:
        """Return the items with the most fields wrong (invalid first), in data order on ties."""
        failed = [item for item in self.items if item.failures]
        failed.sort(key=lambda item: (item.valid, -item.failures, item.index))
        return failed[:count]

    def to_dict(self, *, items: bool = True) -> dict[str, Any]:
        """Return the configuration, its summary and (optionally) every item as plain data."""
        data: dict[str, Any] = {
            "name": self.configuration.name,
            "configuration": dataclasses.asdict(self.configuration),
            "summary": self.summary.to_dict(),
        }
        if items:
            data["items"] = [dataclasses.asdict(item) for item in self.items]
        return data


@dataclass(frozen=True, slots=True)
class Comparison:
    """Every configuration's results on the same items, and what the run was (``metadata``).

    ``metadata`` holds task, backend, data, items, promptkit version and date,
    and whatever the caller adds (model, pool, selector, seed, shots).
    """

    task: str
    fields: tuple[str, ...]
    backend: str
    data: str
    results: tuple[ConfigurationResult, ...]
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self, *, items: bool = True) -> dict[str, Any]:
        """Return the comparison as plain JSON-ready data."""
        return {
            "task": self.task,
            "fields": list(self.fields),
            "backend": self.backend,
            "data": self.data,
            "metadata": dict(self.metadata),
            "configurations": [result.to_dict(items=items) for result in self.results],
        }

    def to_json(self, *, items: bool = True, indent: int | None = 2) -> str:
        """Return the comparison as JSON."""
        return json.dumps(self.to_dict(items=items), ensure_ascii=False, indent=indent)


def parse_shots(text: str) -> tuple[int, ...]:
    """Read a comma-separated shot list (``"0,3,8"``), refusing negatives and junk."""
    try:
        shots = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        shots = ()
    if not shots or any(count < 0 for count in shots):
        raise ValueError(f"shots must be comma-separated whole numbers, like 0,3,8; got {text!r}")
    return shots


# -- running ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemRun:
    """What running one input gave: the output (or ``None``), the raw reply and the costs."""

    output: BaseModel | None
    raw: str = ""
    error: str | None = None
    attempts: int = 1
    repaired: bool = False
    reasks: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


Runner = Callable[[Task, BaseModel, Any], ItemRun]
"""Runs one input of a task on a backend: ``runner(task, input, backend) -> ItemRun``."""


def evaluate(
    task: Task,
    items: Sequence[LabelledItem],
    backend: Any,
    configurations: Sequence[Configuration],
    *,
    runner: Runner | None = None,
    data: str = "",
    on_item: Callable[[Configuration, int], None] | None = None,
    on_result: Callable[[ConfigurationResult], None] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Comparison:
    """Run every configuration on the same items and score each against the expected outputs.

    Args:
        task: the task; its examples are the pool each configuration selects from.
        items: the labelled items.
        backend: the backend every call goes to.
        configurations: the ways to prompt, compared in the order given.
        runner: runs one input; defaults to :func:`promptkit.execution.run` through the backend.
        data: where the items came from, for the report.
        on_item: called after each item (for progress), with the configuration and item index.
        on_result: called after each configuration, with its results.
        metadata: what else to record of the run (model, pool, selector, seed, shots).
    """
    run_one = runner or run_item
    fields = tuple(task.output_model.model_fields)
    results = []
    for configuration in configurations:
        variant = configuration.apply(task)
        done: list[ItemResult] = []
        started = time.perf_counter()
        for index, item in enumerate(items):
            began = time.perf_counter()
            ran = run_one(variant, item.input, backend)
            latency = time.perf_counter() - began
            done.append(_result(task, fields, index, item, ran, latency))
            if on_item is not None:
                on_item(configuration, index)
        wall = time.perf_counter() - started
        summary = summarise(fields, done, wall)
        results.append(ConfigurationResult(configuration, tuple(done), summary))
        if on_result is not None:
            on_result(results[-1])
    name = str(getattr(backend, "name", type(backend).__name__))
    info = run_metadata(task.name, name, data, len(items))
    return Comparison(task.name, fields, name, data, tuple(results), {**info, **(metadata or {})})


def run_metadata(task: str, backend: str, data: str, items: int) -> dict[str, Any]:
    """Return what every comparison records of its run: what, where, which version, when."""
    import datetime
    import importlib.metadata

    return {
        "task": task,
        "backend": backend,
        "data": data,
        "items": items,
        "promptkit": importlib.metadata.version("promptkit"),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def _result(
    task: Task,
    fields: tuple[str, ...],
    index: int,
    item: LabelledItem,
    ran: ItemRun,
    latency: float,
) -> ItemResult:
    extra = {}
    for metric in task.metrics:
        score = metric(item.expected, ran.output)
        if score is not None:
            extra[getattr(metric, "__name__", "metric")] = float(score)
    return ItemResult(
        index=index,
        input=item.input.model_dump(mode="json"),
        expected=item.expected.model_dump(mode="json"),
        output=None if ran.output is None else ran.output.model_dump(mode="json"),
        outcomes=item_outcomes(fields, item.expected, ran.output),
        raw=ran.raw,
        error=ran.error,
        attempts=ran.attempts,
        repaired=ran.repaired,
        reasks=ran.reasks,
        prompt_tokens=ran.prompt_tokens,
        completion_tokens=ran.completion_tokens,
        latency=latency,
        extra=extra,
    )


def run_item(task: Task, value: BaseModel, backend: Any) -> ItemRun:
    """Run one input with :func:`promptkit.execution.run` and keep what evaluation reports.

    Under a token budget, examples are counted with the backend's
    ``count_tokens`` when it has one.
    """
    from promptkit.execution import run  # the run layer imports backends; keep evaluation light

    options: dict[str, Any] = {}
    counter = getattr(backend, "count_tokens", None)
    if task.strategy.token_budget is not None and callable(counter):
        options["count_tokens"] = counter
    return item_run_of(run(task, value, backend=backend, **options))


def item_run_of(result: Result[Any]) -> ItemRun:
    """Keep what evaluation reports of one run result."""
    error = None if result.error is None else f"{type(result.error).__name__}: {result.error}"
    report = result.report
    return ItemRun(
        output=result.output,
        raw=result.raw,
        error=error,
        attempts=len(result.attempts),
        repaired=bool(report is not None and report.of_kind("repair")),
        reasks=result.reasks,
        prompt_tokens=result.usage.prompt_tokens,
        completion_tokens=result.usage.completion_tokens,
    )
