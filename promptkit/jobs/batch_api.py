"""Provider batch APIs: a file job sent as provider batches, at half the list price.

::

    inputs --plan--> the very prompts a run sends --provider JSONL--> batches (state file)
        --poll--> results --replay--> the run layer (parse, re-ask) --> records in input order

A batch job runs in two phases. **Plan and submit**: the inputs are packed
exactly as a file run packs them (:func:`promptkit.jobs.runner.schedule_batches`,
the same solver, shots and selection), the first request of every batch
prompt is recorded instead of sent, and the requests are written as the
provider's JSONL, with a ``custom_id`` naming the input indices the prompt
covers. Inputs are split into several provider batches within the
provider's limits (requests and bytes per batch); each is created, and its
ids saved in the state file beside the output (:mod:`promptkit.jobs.batch_state`).
A prompt whose reply is already in the response cache is not sent.

**Collect**, batch by batch in input order: poll with backoff (a line per
change of status), download the results and errors, then run the ordinary
file job over that batch's inputs on a backend that answers each request
from the batch's reply to it. Every reply is parsed, validated and
re-asked exactly as in a normal run; what a batch did not answer goes
through the normal path at list price, at once:

- re-asks, cut-off retries and splits (requests the batch never held);
- lines that failed in a way a retry may cure: expired, cancelled, timed
  out, 429 or 5xx, and requests the results lack altogether.

A line refused for good (a 4xx such as a context-length error) fails its
items without another call: their records carry the status and message.
A batch that failed as a whole (invalid file) stops the job.

The output is written in input order by the file runner, so ``--resume``
after a kill at any moment re-attaches to the batches in the state file
(none is created twice), redoes a batch whose records were half written,
and leaves every input exactly once in the output.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from promptkit._types import Layout
from promptkit.backends.base import Backend, GenerationParams
from promptkit.errors import BackendError, JobFileError
from promptkit.jobs.batch_provider import (
    BatchProvider,
    BatchStatus,
    provider_for,
    request_digest,
    scrubbed,
)
from promptkit.jobs.batch_requests import PendingInputs, Planner, Recorder, Replay, never, refusing
from promptkit.jobs.batch_state import (
    BatchJobState,
    BatchRecord,
    load_state,
    save_state,
    state_path,
)
from promptkit.jobs.checkpoint import Checkpoint, claim_output, scan_output
from promptkit.jobs.files import read_inputs
from promptkit.jobs.packing import JobBackend, job_backend, make_solver
from promptkit.jobs.progress import JobSummary, Price, Reporter, cost
from promptkit.jobs.runner import JobOptions, run_items, schedule_batches
from promptkit.prompt import Prompt
from promptkit.task import Task

_Request = tuple[Prompt, GenerationParams]

DISCOUNT = 0.5
"""What a batch costs against the list price: both providers charge half."""


@dataclass(frozen=True, slots=True)
class BatchOptions:
    """How a batch job polls and how large its batches may grow.

    Args:
        poll: seconds before the first poll; the wait grows 1.5 times per poll.
        max_poll: the longest wait between two polls.
        max_requests: requests per batch, at most the provider's limit.
        max_bytes: bytes of requests per batch, at most the provider's limit.
    """

    poll: float = 10.0
    max_poll: float = 60.0
    max_requests: int | None = None
    max_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class BatchSummary:
    """A batch job's totals: the file job's, and what went through the batches."""

    job: JobSummary
    batches: int
    requests: int
    uploaded_bytes: int
    replayed: int
    """Replies of this run taken from the batches, at the batch price."""
    list_price_calls: int
    """Requests of this run sent at list price (re-asks, lines a batch did not answer)."""

    def describe(self) -> str:
        """Return a line saying how the work was split between batch and list price."""
        return (
            f"batch API: {self.requests} requests in {self.batches} batches; "
            f"{self.replayed} replies used at {DISCOUNT:.0%} of the list price, "
            f"{self.list_price_calls} requests at the list price (re-asks and lines the "
            "batches did not answer)"
        )


# -- the job -------------------------------------------------------------------------


def run_batch_job(
    task: Task,
    input_path: Path,
    output_path: Path,
    backend: Backend,
    *,
    options: JobOptions | None = None,
    batch: BatchOptions | None = None,
    cache_path: Path | None = None,
    params: GenerationParams | None = None,
    shots: int | None = None,
    layout: Layout | None = None,
    price: Price | None = None,
    reporter: Reporter | None = None,
    notify: Callable[[str], None] | None = None,
    provider: BatchProvider | None = None,
    **run_options: Any,
) -> BatchSummary:
    """Run ``task`` over a file of inputs through the provider's batch API.

    Arguments are those of :func:`promptkit.jobs.runner.run_job`, and:

    Args:
        batch: polling and batch size limits.
        notify: called with each progress line (a batch's status and counts).
        provider: the batch API to use (by default the backend's provider's).

    Raises:
        JobFileError: an input, output or state file cannot be used.
        BackendError: the provider failed for good, or a batch failed whole; what
            was written stays, and ``--resume`` re-attaches to the batches.
    """
    provider = provider or provider_for(backend)
    options = options or JobOptions()
    started = time.monotonic()
    solver_options: dict[str, Any] = {"params": params, "shots": shots, "layout": layout}
    solver_options.update(run_options)
    job = _Job(
        task,
        input_path,
        output_path,
        provider,
        options,
        batch or BatchOptions(),
        solver_options,
        notify,
    )
    try:
        job.start(backend, cache_path)
        with job_backend(backend, cache_path=None, rpm=options.rpm, tpm=options.tpm) as limited:
            replay = Replay(provider, limited)
            with job_backend(replay, cache_path=cache_path) as outer:
                for record in job.state.batches:
                    if not record.written:
                        job.collect(record, replay, outer, reporter)
    except BackendError as error:
        raise scrubbed(error, provider.secrets()) from None
    totals = scan_output(output_path, task)
    spent = None
    if price is not None:
        spent = cost(price, limited.prompt_tokens, limited.completion_tokens)
        spent += DISCOUNT * cost(price, replay.prompt_tokens, replay.completion_tokens)
    summary = JobSummary(
        items=len(totals.done),
        succeeded=len(totals.done) - totals.failed,
        failed=totals.failed,
        resumed=len(totals.done) - job.written,
        cached=outer.cache_hits,
        calls=limited.calls,
        prompt_tokens=totals.prompt_tokens,
        completion_tokens=totals.completion_tokens,
        elapsed=time.monotonic() - started,
        cost=spent,
    )
    batches = [record for record in job.state.batches if record.id is not None]
    return BatchSummary(
        summary,
        batches=len(batches),
        requests=sum(record.requests for record in batches),
        uploaded_bytes=job.uploaded,
        replayed=replay.replayed,
        list_price_calls=limited.calls,
    )


class _Job:
    """The state of one batch job between its phases."""

    def __init__(
        self,
        task: Task,
        input_path: Path,
        output_path: Path,
        provider: BatchProvider,
        options: JobOptions,
        batch: BatchOptions,
        solver_options: dict[str, Any],
        notify: Callable[[str], None] | None,
    ) -> None:
        self.task = task
        self.input_path = input_path
        self.output_path = output_path
        self.provider = provider
        self.options = options
        self.batch = batch
        self.solver_options = solver_options
        self.notify = notify or (lambda line: None)
        self.path = state_path(output_path)
        self.state = BatchJobState(provider.name, "", "")
        self.uploaded = 0
        self.written = 0

    def start(self, backend: Backend, cache_path: Path | None) -> None:
        """Load or begin the state, then plan and create the batches not yet created.

        The output is locked meanwhile (as a file run locks it), so that a run
        writing it is not cut short and no batch is created for inputs it writes.
        """
        settings = _settings(self.task, backend, self.options.batch_size, self.solver_options)
        state = load_state(self.path)
        if state is not None and not self.options.resume:
            raise JobFileError(
                f"{str(self.path)!r} holds the batches of an earlier run of this job; pass "
                "--resume to re-attach to them (none is created twice), or cancel them "
                "(promptkit batches cancel) and move the file away"
            )
        if state is not None and (state.settings != settings or state.backend != repr(backend)):
            raise JobFileError(
                f"{str(self.path)!r} holds batches made with another backend, task, batch "
                "size or strategy; resume with the options the run started with"
            )
        with claim_output(self.output_path, self.task, resume=self.options.resume) as (
            _,
            checkpoint,
        ):
            if state is None:
                state = BatchJobState(
                    self.provider.name,
                    repr(backend),
                    settings,
                    self.provider.model,
                    self.provider.base_url,
                )
            self.state = state
            if not state.plan_complete:
                self._plan_all(backend, cache_path, checkpoint)

    def _plan_all(self, backend: Backend, cache_path: Path | None, checkpoint: Checkpoint) -> None:
        """Plan and create a batch after another until every pending input is in one."""
        state = self.state
        items = read_inputs(self.input_path, self.task)
        pending = PendingInputs(
            item
            for item in items
            if item.index >= state.planned and item.index not in checkpoint.done
        )
        with job_backend(Recorder(backend), cache_path=cache_path) as recording:
            recorder = recording.inner
            assert isinstance(recorder, Recorder)
            solve = make_solver(self.task, recording, **self.solver_options)
            while True:
                planned = self._plan(pending, lambda values: recorder.record(solve, values))
                if planned is None:
                    break
                self._create(*planned)
        state.plan_complete = True
        save_state(self.path, state)

    def _plan(
        self,
        pending: PendingInputs,
        record: Callable[[Sequence[BaseModel]], tuple[Prompt, Any] | None],
    ) -> tuple[list[dict[str, Any]], int, int, int] | None:
        """Take the next batch's worth of inputs: its lines, first and last index, bytes."""
        limit_requests = min(self.provider.max_requests, self.batch.max_requests or 10**12)
        limit_bytes = min(self.provider.max_bytes, self.batch.max_bytes or 10**15)
        planner = Planner()
        lines: list[dict[str, Any]] = []
        size = 0
        first: int | None = None
        last = 0
        for group in schedule_batches(pending, never, planner.submit, self.options.batch_size):
            line = None
            if planner.submitted:
                covered = [s.item.index for s in group if s.future is not None and not s.primary]
                request = record(planner.submitted.pop())
                if request is not None:
                    body = self.provider.request(*request)
                    custom_id = f"{min(covered)}-{max(covered)}-{request_digest(body)}"
                    line = {"custom_id": custom_id, **body}
            encoded = len(json.dumps(line, ensure_ascii=False).encode()) + 1 if line else 0
            if (
                line is not None
                and lines
                and (len(lines) >= limit_requests or size + encoded > limit_bytes)
            ):
                pending.push_back([slot.item for slot in group])  # they open the next batch
                break
            if encoded > limit_bytes:
                raise JobFileError(
                    f"the request for inputs {line and line['custom_id']} is {encoded} bytes, "
                    f"more than a {self.provider.name} batch may hold ({limit_bytes}); "
                    "use a smaller --batch-size"
                )
            if line is not None:
                lines.append(line)
                size += encoded
            first = group[0].item.index if first is None else first
            last = group[-1].item.index
        return None if first is None else (lines, first, last, size)

    def _create(self, lines: list[dict[str, Any]], first: int, last: int, size: int) -> None:
        record = BatchRecord(first, last, len(lines), size, status="empty")
        if lines:
            record.id, record.input_file_id = self.provider.create(lines)
            record.status = "created"
            self.uploaded += size
            self.notify(
                f"batch {record.id}: created with {len(lines)} requests for inputs "
                f"{first}-{last} ({size} bytes)"
            )
        self.state.batches.append(record)
        self.state.planned = last + 1
        save_state(self.path, self.state)

    def collect(
        self, record: BatchRecord, replay: Replay, outer: JobBackend, reporter: Reporter | None
    ) -> None:
        """Wait for one batch, then write its inputs' records from its replies."""
        lines: dict[str, dict[str, Any]] = {}
        if record.id is not None:
            status = self._wait(record)
            record.status = status.status
            save_state(self.path, self.state)
            if status.failed_whole:
                raise BackendError(
                    f"{self.provider.name} batch {record.id} failed as a whole: {status.errors}; "
                    f"nothing of it was run. Fix the cause, move {str(self.path)!r} away and run "
                    "again with --resume: the inputs not yet written go into new batches",
                    retryable=False,
                )
            for line in self.provider.results(status):
                lines[str(line.get("custom_id", "")).rpartition("-")[2]] = line
        size = self.output_path.stat().st_size if self.output_path.exists() else 0
        if record.offset is None:
            record.offset = size
            save_state(self.path, self.state)
        elif size > record.offset:
            with self.output_path.open("r+b") as handle:  # redo a half-written batch whole
                handle.truncate(record.offset)
        replay.load(lines)
        solve = refusing(make_solver(self.task, outer, **self.solver_options), replay)
        upto = itertools.takewhile(
            lambda item: item.index <= record.last, read_inputs(self.input_path, self.task)
        )
        options = JobOptions(self.options.batch_size, self.options.concurrency, resume=True)
        tally, _ = run_items(self.task, upto, solve, self.output_path, options, reporter)
        self.written += tally.written
        record.written = True
        save_state(self.path, self.state)

    def _wait(self, record: BatchRecord) -> BatchStatus:
        assert record.id is not None
        delay, shown = self.batch.poll, ""
        while True:
            status = self.provider.retrieve(record.id)
            line = (
                f"batch {status.id}: {status.status}, {status.done} of {status.total} requests "
                f"done, {status.failed} failed"
            )
            if line != shown:
                self.notify(line)
                shown = line
            if status.ended:
                return status
            time.sleep(delay)
            delay = min(delay * 1.5, max(self.batch.max_poll, self.batch.poll))


def _settings(task: Task, backend: Backend, batch_size: int, options: Mapping[str, Any]) -> str:
    """A digest of everything that shapes the prompts of a job, to check a resume against."""
    shown = {"task": task.name, "backend": repr(backend), "batch_size": batch_size}
    shown.update({key: repr(value) for key, value in sorted(options.items())})
    return request_digest(shown)
