"""Batch runs over files: packed, concurrent, cached, rate-limited and resumable.

:func:`run_file` reads inputs from a file one at a time, packs them into
batches, has up to ``concurrency`` batches in flight, and writes one record
per input to the output file, in input order. The run layer
(:mod:`promptkit.execution`) does the work for each batch: compile, call, parse,
retry items on their own; this module only schedules it and keeps the books.

The output file is the checkpoint: it is locked for the run, a record is
written whole, and ``resume=True`` reads the file back, cuts off a torn last
record and skips every index already there, so after a kill at any moment a
resumed run leaves each input exactly once in the output
(:mod:`promptkit.jobs.checkpoint`).

A backend failure that the backend's own retries did not cure, or Ctrl-C,
stops the run at once (:mod:`promptkit.jobs.workers`): nothing new is sent,
calls in flight are abandoned, the records finished in input order are
written, and the error is raised; resume when it is fixed. An input the
server refuses for good, an input that cannot be read, or a reply that
cannot become an output, is a failed record (with the status, or the raw
reply), and the run goes on.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptkit._types import Layout, OutputFormat
from promptkit.backends.base import Backend, GenerationParams
from promptkit.errors import JobFileError
from promptkit.jobs.checkpoint import Checkpoint, OutputFile, claim_output
from promptkit.jobs.files import InputItem, format_record, input_digest, output_format, read_inputs
from promptkit.jobs.packing import JobBackend, Outcome, Solve, job_backend, make_solver
from promptkit.jobs.progress import JobSummary, Price, Reporter, cost
from promptkit.jobs.workers import Workers
from promptkit.redaction import Redactor
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
    outcome of its ``primary`` slot instead of being sent again. ``written``
    is set just before its record is: a Ctrl-C while a group is written
    leaves the rest of the group to be written, and nothing twice.
    """

    item: InputItem
    future: Future[Sequence[Outcome]] | None = None
    position: int = 0
    primary: _Slot | None = None
    written: bool = False


@dataclass(slots=True)
class _Tally:
    written: int = 0
    succeeded: int = 0
    failed: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True, slots=True)
class _Sink:
    """Where records go: the output file, in its format, redacted, counted and reported."""

    task: Task
    fmt: OutputFormat
    output: OutputFile
    tally: _Tally
    reporter: Reporter | None
    redactor: Redactor


def run_items(
    task: Task,
    items: Iterable[InputItem],
    solve: Solve,
    output: Path,
    options: JobOptions = JobOptions(),
    reporter: Reporter | None = None,
    *,
    stop: threading.Event | None = None,
    redactor: Redactor | None = None,
) -> tuple[_Tally, Checkpoint]:
    """Solve every item not yet in ``output`` and append its record, in input order.

    On an error (or Ctrl-C) nothing new starts, the records finished in input
    order are written, and the error is raised without waiting for calls in flight.

    Returns:
        The tally of this run and the checkpoint it resumed from.
    """
    fmt = output_format(output)
    with claim_output(output, task, resume=options.resume) as (handle, checkpoint):
        if reporter is not None:
            reporter.skip(len(checkpoint.done))
        sink = _Sink(task, fmt, handle, _Tally(), reporter, redactor or Redactor.of())
        window = 4 * options.concurrency
        todo = _unfinished(items, checkpoint, task, output, fmt)
        workers = Workers(options.concurrency, stop or threading.Event())
        groups: deque[list[_Slot]] = deque()
        try:
            for group in schedule_batches(todo, solve, workers.submit, options.batch_size):
                groups.append(group)
                # Write what is finished at once; wait for the oldest when the window is full.
                while groups and (len(groups) >= window or _ready(groups[0])):
                    _write_group(groups[0], sink, workers.result)
                    groups.popleft()
            while groups:
                _write_group(groups[0], sink, workers.result)
                groups.popleft()
        except BaseException as error:
            workers.halt()
            if not isinstance(error, JobFileError) or error is workers.error:
                # Keep what is finished, in input order; the rest is redone on resume.
                while groups and _finished(groups[0]):
                    _write_group(groups.popleft(), sink, Future.result)
            raise
        finally:
            workers.close()
            handle.flush()
    return sink.tally, checkpoint


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


def schedule_batches(
    items: Iterator[InputItem], solve: Solve, submit: Submit, size: int
) -> Iterator[list[_Slot]]:
    """Yield the slots of the items in input order, in groups each holding at most one batch.

    Inputs are packed into batches of ``size`` and submitted; an input already
    scheduled follows the first; an unreadable one needs no call. A group is
    yielded when its batch is submitted, or when it grows long without one.
    The provider batch API (:mod:`promptkit.jobs.batch_api`) plans its requests
    with this too, so that they are the very prompts a run of the same items sends.
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
                _submit(batch, solve, submit)
            yield group
            group, batch = [], []
            if len(scheduled) > 64 * size:
                # Forget inputs whose outcomes are known; keep the map small.
                scheduled = {
                    k: v for k, v in scheduled.items() if v.future is None or not v.future.done()
                }
    if batch:
        _submit(batch, solve, submit)
    if group:
        yield group


Submit = Callable[[Callable[[], Sequence[Outcome]]], Future[Sequence[Outcome]]]


def _submit(batch: list[_Slot], solve: Solve, submit: Submit) -> None:
    values = [slot.item.value for slot in batch if slot.item.value is not None]
    future = submit(functools.partial(solve, values))
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


def _futures(group: list[_Slot]) -> Iterator[Future[Sequence[Outcome]]]:
    for slot in group:
        future = slot.primary.future if slot.primary is not None else slot.future
        if future is not None:
            yield future


def _ready(group: list[_Slot]) -> bool:
    """Whether every outcome of a group is known (or failed), so writing it will not wait."""
    return all(future.done() for future in _futures(group))


def _finished(group: list[_Slot]) -> bool:
    """Whether every outcome of a group is there, none failed or cancelled."""
    return all(
        future.done() and not future.cancelled() and future.exception() is None
        for future in _futures(group)
    )


_Result = Callable[[Future[Sequence[Outcome]]], Sequence[Outcome]]


def _write_group(group: list[_Slot], sink: _Sink, result: _Result) -> None:
    """Write a group's records not yet written, then flush: a batch is on disk before the next."""
    for slot in group:
        if not slot.written:
            _write(slot, sink, result)
    sink.output.flush()


def _write(slot: _Slot, sink: _Sink, result: _Result) -> None:
    """Write a slot's record, waiting for its outcome with ``result``."""
    item = slot.item
    if slot.primary is not None:
        primary = slot.primary
        assert primary.future is not None  # a primary is submitted before its follower is written
        outcome = result(primary.future)[primary.position]
        outcome = dataclasses.replace(outcome, attempts=0, usage=_NO_USAGE, cached=False)
    elif slot.future is not None:
        outcome = result(slot.future)[slot.position]
    else:
        error = {"type": "InputError", "message": item.problem, "raw": None}
        outcome = Outcome(None, error, 0, _NO_USAGE)
    slot.written = True
    record = {
        "index": item.index,
        "input": _record_input(item),
        "output": outcome.output,
        "error": sink.redactor.error(outcome.error),
        "attempts": outcome.attempts,
        "usage": {**_NO_USAGE, **outcome.usage},
    }
    sink.output.write(format_record(record, sink.task, sink.fmt))
    tally = sink.tally
    tally.written += 1
    failed = outcome.error is not None
    tally.failed += failed
    tally.succeeded += not failed
    tally.cached += outcome.cached
    tally.prompt_tokens += outcome.prompt_tokens
    tally.completion_tokens += outcome.completion_tokens
    if sink.reporter is not None:
        sink.reporter.advance(1, int(failed), outcome.prompt_tokens + outcome.completion_tokens)


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
        backend: the wrapped backend ``solve`` calls, for request counts, the spent
            tokens, the stop it watches and the secrets it redacts.
        price: the model's price, for the cost.
        reporter: progress and summary display, or None for none.

    Raises:
        JobFileError: an input or output file cannot be used, or another run holds it.
        BackendError: the backend failed for good; finished records stay written.
        KeyboardInterrupt: Ctrl-C; finished records stay written.
    """
    started = reporter.started if reporter is not None else time.monotonic()  # the bar's clock
    if reporter is not None and backend is not None:
        reporter.attach(backend)
    items = read_inputs(input_path, task)
    stop, redactor = (backend.stop, backend.redactor) if backend else (None, None)
    tally, checkpoint = run_items(
        task, items, solve, output_path, options, reporter, stop=stop, redactor=redactor
    )
    prompt_tokens = checkpoint.prompt_tokens + tally.prompt_tokens
    completion_tokens = checkpoint.completion_tokens + tally.completion_tokens
    spent = (backend.prompt_tokens, backend.completion_tokens) if backend else (0, 0)
    return JobSummary(
        items=len(checkpoint.done) + tally.written,
        succeeded=len(checkpoint.done) - checkpoint.failed + tally.succeeded,
        failed=checkpoint.failed + tally.failed,
        resumed=len(checkpoint.done),
        cached=tally.cached,
        calls=backend.calls if backend else 0,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        elapsed=time.monotonic() - started,
        cost=cost(price, *spent) if price is not None else None,
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
        JobFileError: an input, output or cache file cannot be used, or another run
            holds the output.
        BackendError: the backend failed for good; finished records stay written.
        KeyboardInterrupt: Ctrl-C; finished records stay written.
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
