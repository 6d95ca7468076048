"""Batch runs over files: packed, concurrent, cached, rate-limited and resumable.

:func:`run_file` reads inputs from a file one at a time, packs them into
batches, has up to ``concurrency`` batches in flight, and writes one record
per input to the output file, in input order. The run layer
(:mod:`promptkit.execution`) does the work for each batch: compile, call, parse,
retry items on their own; this module only schedules it and keeps the books.

The output file is the checkpoint: a record is written whole, and
``resume=True`` reads the file back, cuts off a torn last record and skips
every index already there, so after a kill at any moment a resumed run
leaves each input exactly once in the output. A backend failure that the
backend's own retries did not cure stops the run (what was finished stays
written) rather than filling the file with failures; resume when it is
fixed. An input that cannot be read, or a reply that cannot become an
output, is a failed record with its raw reply.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from promptkit._types import Layout, OutputFormat
from promptkit.backends.base import Backend, GenerationParams
from promptkit.errors import JobFileError
from promptkit.jobs.files import (
    Checkpoint,
    InputItem,
    format_record,
    input_digest,
    open_output,
    output_format,
    prepare_output,
    read_inputs,
)
from promptkit.jobs.packing import JobBackend, Outcome, Solve, job_backend, make_solver
from promptkit.jobs.progress import JobSummary, Price, Reporter, cost
from promptkit.task import Task, shown_input


@dataclass(frozen=True, slots=True)
class JobOptions:
    """How a file run is scheduled.

    Args:
        batch_size: inputs packed into one prompt.
        concurrency: batches in flight at once.
        rpm: requests per minute to the backend, or None.
        tpm: tokens per minute to the backend, or None.
        resume: finish the run an existing output file checkpoints.
    """

    batch_size: int = 1
    concurrency: int = 1
    rpm: float | None = None
    tpm: float | None = None
    resume: bool = False

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be 1 or more, not {self.batch_size}")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be 1 or more, not {self.concurrency}")


# -- scheduling --------------------------------------------------------------------


@dataclass(slots=True)
class _Slot:
    """One output position: an item and where its outcome comes from.

    A follower is a duplicate of an input already scheduled: it takes the
    outcome of its ``primary`` slot instead of being sent again.
    """

    item: InputItem
    future: Future[Sequence[Outcome]] | None = None
    position: int = 0
    primary: _Slot | None = None


@dataclass(slots=True)
class _Tally:
    written: int = 0
    succeeded: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


def run_items(
    task: Task,
    items: Iterable[InputItem],
    solve: Solve,
    output: Path,
    options: JobOptions = JobOptions(),
    reporter: Reporter | None = None,
) -> tuple[_Tally, Checkpoint]:
    """Solve every item not yet in ``output`` and append its record, in input order.

    Returns:
        The tally of this run and the checkpoint it resumed from.
    """
    fmt = output_format(output)
    checkpoint = prepare_output(output, task, resume=options.resume)
    if reporter is not None:
        reporter.skip(len(checkpoint.done))
    tally = _Tally()
    window = 4 * options.concurrency
    todo = _unfinished(items, checkpoint, task, output, fmt)
    with (
        open_output(output, task) as handle,
        ThreadPoolExecutor(options.concurrency, thread_name_prefix="promptkit-job") as pool,
    ):
        groups: deque[list[_Slot]] = deque()
        try:
            for group in _schedule(todo, solve, pool, options.batch_size):
                groups.append(group)
                # Write what is finished at once; wait for the oldest when the window is full.
                while groups and (len(groups) >= window or _ready(groups[0])):
                    _write_group(groups.popleft(), task, fmt, handle, tally, reporter)
            while groups:
                _write_group(groups.popleft(), task, fmt, handle, tally, reporter)
        except BaseException:
            for group in groups:
                for slot in group:
                    if slot.future is not None:
                        slot.future.cancel()
            raise
        finally:
            handle.flush()
    return tally, checkpoint


def _unfinished(
    items: Iterable[InputItem],
    checkpoint: Checkpoint,
    task: Task,
    output: Path,
    fmt: OutputFormat,
) -> Iterator[InputItem]:
    """Yield the items the output does not hold yet, after checking the ones it holds.

    The records already written must be of these inputs at these indices: a
    digest of the written ones is compared with the same digest of the
    input's items at those indices, as soon as the last of them is read.
    Records are written in input order, so that is before any new one.

    Raises:
        JobFileError: the input is not the one the output was written from.
    """
    expected, seen, digest = len(checkpoint.done), 0, 0
    for item in items:
        if item.index not in checkpoint.done:
            yield item
            continue
        digest = (digest + input_digest(item.index, _record_input(item), task, fmt)) % 2**64
        seen += 1
        if seen == expected and digest != checkpoint.inputs:
            raise JobFileError(
                f"output file {str(output)!r} holds records of other inputs than this input "
                f"file has at the same lines; resume with the input the run started from, "
                "or write to a new output file"
            )
    if seen < expected:
        raise JobFileError(
            f"output file {str(output)!r} holds {expected} records, but the input file has "
            f"only {seen} of their lines; resume with the input the run started from"
        )


def _schedule(
    items: Iterator[InputItem], solve: Solve, pool: ThreadPoolExecutor, size: int
) -> Iterator[list[_Slot]]:
    """Yield the slots of the items in input order, in groups each holding at most one batch.

    Inputs are packed into batches of ``size`` and submitted; an input already
    scheduled follows the first; an unreadable one needs no call. A group is
    yielded when its batch is submitted, or when it grows long without one.
    """
    scheduled: dict[str, _Slot] = {}
    group: list[_Slot] = []
    batch: list[_Slot] = []
    for item in items:
        if item.value is None:
            group.append(_Slot(item))
        else:
            key = json.dumps(item.value.model_dump(mode="json"), sort_keys=True)
            primary = scheduled.get(key)
            if primary is not None:
                group.append(_Slot(item, primary=primary))
            else:
                slot = _Slot(item, position=len(batch))
                scheduled[key] = slot
                batch.append(slot)
                group.append(slot)
        if len(batch) == size or len(group) >= 8 * size:
            if batch:
                _submit(batch, solve, pool)
            yield group
            group, batch = [], []
            if len(scheduled) > 64 * size:
                # Forget inputs whose outcomes are known; keep the map small.
                scheduled = {
                    k: v for k, v in scheduled.items() if v.future is None or not v.future.done()
                }
    if batch:
        _submit(batch, solve, pool)
    if group:
        yield group


def _submit(batch: list[_Slot], solve: Solve, pool: ThreadPoolExecutor) -> None:
    values = [slot.item.value for slot in batch if slot.item.value is not None]
    future = pool.submit(solve, values)
    for slot in batch:
        slot.future = future


_NO_USAGE = {"prompt_tokens": 0, "completion_tokens": 0, "cached_tokens": 0, "calls": 0}


def _shown(item: InputItem) -> Any:
    """Return an input as records show it: the bare value of a one-field input."""
    assert item.value is not None
    return shown_input(item.value)


def _record_input(item: InputItem) -> Any:
    """Return the input a record shows: the validated input, or the row as read if invalid."""
    return item.raw if item.value is None else _shown(item)


def _ready(group: list[_Slot]) -> bool:
    """Whether every outcome of a group is known, so writing it will not wait."""
    for slot in group:
        future = slot.primary.future if slot.primary is not None else slot.future
        if future is not None and not future.done():
            return False
    return True


def _write_group(
    group: list[_Slot],
    task: Task,
    fmt: OutputFormat,
    handle: TextIO,
    tally: _Tally,
    reporter: Reporter | None,
) -> None:
    """Write a group's records, then flush: a finished batch is on disk before the next."""
    for slot in group:
        _write(slot, task, fmt, handle, tally, reporter)
    handle.flush()


def _write(
    slot: _Slot,
    task: Task,
    fmt: OutputFormat,
    handle: TextIO,
    tally: _Tally,
    reporter: Reporter | None,
) -> None:
    """Write a slot's record, waiting for its outcome."""
    item = slot.item
    if slot.primary is not None:
        primary = slot.primary
        assert primary.future is not None  # a primary is submitted before its follower is written
        outcome = primary.future.result()[primary.position]
        outcome = dataclasses.replace(outcome, attempts=0, usage=_NO_USAGE)
    elif slot.future is not None:
        outcome = slot.future.result()[slot.position]
    else:
        error = {"type": "InputError", "message": item.problem, "raw": None}
        outcome = Outcome(None, error, 0, _NO_USAGE)
    record = {
        "index": item.index,
        "input": _record_input(item),
        "output": outcome.output,
        "error": outcome.error,
        "attempts": outcome.attempts,
        "usage": {**_NO_USAGE, **outcome.usage},
    }
    handle.write(format_record(record, task, fmt))
    tally.written += 1
    failed = outcome.error is not None
    tally.failed += failed
    tally.succeeded += not failed
    tally.prompt_tokens += outcome.prompt_tokens
    tally.completion_tokens += outcome.completion_tokens
    if reporter is not None:
        reporter.advance(1, int(failed), outcome.prompt_tokens + outcome.completion_tokens)


# -- a whole file --------------------------------------------------------------------


def run_file(
    task: Task,
    input_path: Path,
    output_path: Path,
    solve: Solve,
    *,
    options: JobOptions = JobOptions(),
    backend: JobBackend | None = None,
    price: Price | None = None,
    reporter: Reporter | None = None,
) -> JobSummary:
    """Run ``task`` over every input of ``input_path`` into ``output_path``.

    Args:
        task: the task.
        input_path: a ``.txt``, ``.jsonl`` or ``.csv`` file of inputs.
        output_path: a ``.jsonl`` or ``.csv`` file, the run's checkpoint.
        solve: turns a batch of inputs into outcomes (see :func:`make_solver`).
        options: batching, concurrency, limits and resume.
        backend: the wrapped backend ``solve`` calls, for call and cache counts.
        price: the model's price, for the cost.
        reporter: progress and summary display, or None for none.

    Raises:
        JobFileError: an input or output file cannot be used.
        BackendError: the backend failed for good; finished records stay written.
    """
    started = reporter.started if reporter is not None else time.monotonic()  # the bar's clock
    if reporter is not None and backend is not None:
        reporter.attach(backend)
    items = read_inputs(input_path, task)
    tally, checkpoint = run_items(task, items, solve, output_path, options, reporter)
    # Tokens spent: cached replies cost none (the records keep what their replies cost).
    fresh = (backend.prompt_tokens, backend.completion_tokens) if backend else None
    spent = fresh or (tally.prompt_tokens, tally.completion_tokens)
    prompt_tokens = checkpoint.prompt_tokens + spent[0]
    completion_tokens = checkpoint.completion_tokens + spent[1]
    return JobSummary(
        items=len(checkpoint.done) + tally.written,
        succeeded=len(checkpoint.done) - checkpoint.failed + tally.succeeded,
        failed=checkpoint.failed + tally.failed,
        resumed=len(checkpoint.done),
        cached=backend.cache_hits if backend else 0,
        calls=backend.calls if backend else 0,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        elapsed=time.monotonic() - started,
        cost=cost(price, *(fresh or (0, 0))) if price is not None else None,
    )


def run_job(
    task: Task,
    input_path: Path,
    output_path: Path,
    backend: Backend,
    *,
    options: JobOptions = JobOptions(),
    cache_path: Path | None = None,
    params: GenerationParams | None = None,
    shots: int | None = None,
    layout: Layout | None = None,
    price: Price | None = None,
    reporter: Reporter | None = None,
    **run_options: Any,
) -> JobSummary:
    """Run ``task`` over a file of inputs on ``backend``: the whole job in one call.

    Args:
        task: the task.
        input_path: a ``.txt``, ``.jsonl`` or ``.csv`` file of inputs.
        output_path: a ``.jsonl`` or ``.csv`` file of records, the run's checkpoint.
        backend: the backend.
        options: batch size, concurrency, rate limits, resume.
        cache_path: the SQLite response cache, or None for no cache.
        params: generation settings.
        shots: examples shown (default: the task's).
        layout: prompt layout (default: the backend's, then the task's).
        price: the model's price per million tokens, for the cost.
        reporter: progress and summary display, or None.
        **run_options: passed on to :func:`promptkit.execution.run_many` (``reasks``,
            ``schema_style``, ``selector``...).

    Raises:
        JobFileError: an input or output file cannot be used.
        BackendError: the backend failed for good; finished records stay written.
    """
    with job_backend(backend, cache_path=cache_path, rpm=options.rpm, tpm=options.tpm) as wrapped:
        solve = make_solver(task, wrapped, params=params, shots=shots, layout=layout, **run_options)
        return run_file(
            task,
            input_path,
            output_path,
            solve,
            options=options,
            backend=wrapped,
            price=price,
            reporter=reporter,
        )


def default_cache_path() -> Path:
    """Return where the response cache lives by default: ``$XDG_CACHE_HOME/promptkit/``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "promptkit" / "responses.sqlite"
