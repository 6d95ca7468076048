"""Solving one batch of a file run with the run layer, as plain outcomes.

A :data:`Solve` function turns a batch of validated inputs into one
:class:`Outcome` per input, in order. :func:`make_solver` builds one on a
backend with :func:`promptkit.execution.run_many`, which does the work: one input
is run on its own; several are compiled into one batch prompt whose reply is
matched back by id; items the reply gets wrong (missing, duplicated,
wrongly numbered, invalid) are asked again without the others, and items
lost because the reply was cut off by the token limit are sent again in
smaller batches. An item that still has no output is then run on its own.
Tokens of a batch call are shared out over its items.

A request the server refuses for good (a 4xx such as a 400 for its length or
content, see :func:`refused`) fails only the items it held: a batch holding
such an input is split until the input is alone, and its outcome carries
the status and message. Any other backend failure (a bad key, a server that
stays down) is raised: a file run stops on it and is resumed later, instead
of writing failures that a retry would have cured.

:class:`JobBackend` is the backend as a job's solver sees it: the response
cache first, then the shared rate limits, then the real backend, counting
the requests and tokens that were really spent, with secrets redacted from
its errors.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from promptkit._types import Layout
from promptkit.backends.base import Backend, Completion, GenerationParams, RetryPolicy
from promptkit.errors import BackendError
from promptkit.execution import run_many
from promptkit.jobs.cache import ResponseCache, cache_key
from promptkit.jobs.limits import JobStopped, RateLimiter, call_within_limits
from promptkit.prompt import Prompt
from promptkit.redaction import Redactor, client_secrets
from promptkit.result import Result
from promptkit.selection import estimate_tokens
from promptkit.task import Task

_NOT_PER_REQUEST = frozenset({401, 403, 404, 408, 409, 429})
"""4xx statuses about the account, the URL or the traffic, not about one request."""


def refused(error: BackendError) -> bool:
    """Whether the server refused this one request for good, so only its items fail.

    That is a 4xx other than 401, 403, 404, 408, 409 and 429 that is not
    retryable: a 400 for a too-long prompt or a content policy, a 413, a 422.
    """
    status = error.status
    return (
        status is not None
        and 400 <= status < 500
        and status not in _NOT_PER_REQUEST
        and not error.retryable
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one input: an output or an error (type, message, raw reply), and usage."""

    output: dict[str, Any] | None
    error: dict[str, Any] | None
    attempts: int
    usage: Mapping[str, int] = field(default_factory=dict)
    cached: bool = False
    """Whether every reply it took came from the response cache."""

    @property
    def prompt_tokens(self) -> int:
        """This input's share of the prompt tokens."""
        return self.usage.get("prompt_tokens", 0)

    @property
    def completion_tokens(self) -> int:
        """This input's share of the completion tokens."""
        return self.usage.get("completion_tokens", 0)

    @classmethod
    def of(cls, result: Result[Any]) -> Outcome:
        """Return the outcome of a run layer result."""
        record = result.to_record()
        error = record["error"]
        if isinstance(result.error, BackendError):
            error = {**error, "status": result.error.status}
        return cls(record["output"], error, record["attempts"], record["usage"])


Solve = Callable[[Sequence[BaseModel]], Sequence[Outcome]]
"""Turns a batch of validated inputs into one outcome per input, in order."""


def make_solver(
    task: Task,
    backend: Backend,
    *,
    params: GenerationParams | None = None,
    shots: int | None = None,
    layout: Layout | None = None,
    **options: Any,
) -> Solve:
    """Return the function that runs a batch of inputs on ``backend``, one outcome each.

    Args:
        task: the task.
        backend: where calls go.
        params: generation settings (the run layer's defaults when unset).
        shots: examples per prompt (the task's when unset).
        layout: the prompt layout (the backend's, then the task's, when unset).
        **options: passed on to :func:`promptkit.execution.run_many` (``reasks``, ``shots``...).

    The function raises :class:`~promptkit.errors.BackendError` when the backend
    failed for an input of the batch other than by refusing it (:func:`refused`).
    """

    def run_batch(values: Sequence[BaseModel]) -> list[Result[Any]]:
        results = run_many(
            task,
            values,
            backend=backend,
            params=params,
            batch_size=len(values),
            shots=shots,
            layout=layout,
            **options,
        )
        for result in results:
            if isinstance(result.error, BackendError) and not refused(result.error):
                raise result.error
        return results

    def solve_batch(values: Sequence[BaseModel]) -> list[Outcome]:
        results = run_batch(values)
        outcomes = [Outcome.of(result) for result in results]
        if len(values) == 1:
            return outcomes
        # A refused request failed every item it held: halve them until the culprit is alone.
        failed = [n for n, result in enumerate(results) if isinstance(result.error, BackendError)]
        half = (len(failed) + 1) // 2
        for part in (failed[:half], failed[half:]):
            again = solve_batch([values[n] for n in part]) if part else []
            for n, outcome in zip(part, again, strict=True):
                outcomes[n] = _joined(outcomes[n], outcome)
        for n, result in enumerate(results):
            if result.ok or n in failed:
                continue
            # What the batch (and its re-asks) could not answer is asked on its own:
            # a small model that loses count in a batch usually answers one input.
            alone = Outcome.of(run_batch([result.input])[0])
            outcomes[n] = _joined(outcomes[n], alone)
        return outcomes

    def solve(values: Sequence[BaseModel]) -> Sequence[Outcome]:
        if not isinstance(backend, JobBackend):
            return solve_batch(values)
        before = backend.tally_here()
        outcomes = solve_batch(values)
        sent, hits = backend.tally_here()
        if sent == before[0] and hits > before[1]:  # every reply came from the cache
            outcomes = [dataclasses.replace(outcome, cached=True) for outcome in outcomes]
        return outcomes

    return solve


def _joined(before: Outcome, after: Outcome) -> Outcome:
    """Return the outcome of a retry, counting the attempts and tokens before it too."""
    usage = {key: before.usage.get(key, 0) + after.usage.get(key, 0) for key in after.usage}
    return Outcome(after.output, after.error, before.attempts + after.attempts, usage)


class JobBackend:
    """A backend as a run sees it: cache first, then the rate limits, then the real backend.

    Counts the requests that reached the backend and the tokens they spent; a
    reply from the cache costs nothing, so it comes back with no tokens. Its
    errors have secrets redacted (:mod:`promptkit.redaction`).

    Args:
        backend: the real backend.
        cache: the response cache, or None for no cache.
        limiter: the shared rate limiter, or None for no limits.
        stop: once set, no new request is made (:class:`JobStopped` instead).
        redactor: what removes secrets from errors; the environment's and the
            backend's client keys when unset.
    """

    def __init__(
        self,
        backend: Backend,
        cache: ResponseCache | None = None,
        limiter: RateLimiter | None = None,
        *,
        stop: threading.Event | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self.inner = backend
        self.cache = cache
        self.limiter = limiter or RateLimiter()
        self.stop = stop or threading.Event()
        self.redactor = redactor or Redactor.of(client_secrets(backend))
        # The backend retries for itself; the run only waits out what it hands back unslept.
        policy = getattr(backend, "retry", None)
        self._policy = policy if isinstance(policy, RetryPolicy) else None
        self.calls = 0
        self.cache_hits = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self._lock = threading.Lock()
        self._here = threading.local()

    @property
    def name(self) -> str:
        """The real backend's name."""
        return self.inner.name

    @property
    def identity(self) -> str:
        """Name the real backend in cache keys: its own repr (model, URL, mode), else its name."""
        if type(self.inner).__repr__ is not object.__repr__:
            return repr(self.inner)
        return self.inner.name

    @property
    def layout(self) -> Any:
        """The real backend's layout."""
        return self.inner.layout

    def tally_here(self) -> tuple[int, int]:
        """Return the requests sent and the cache hits of the calling thread so far."""
        return getattr(self._here, "sent", 0), getattr(self._here, "hits", 0)

    def complete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        """Return the cached reply for this request, or call the backend and cache its reply.

        Raises:
            BackendError: the backend failed (secrets redacted from the message).
            JobStopped: the run stopped; the request was not made.
        """
        if self.stop.is_set():
            raise JobStopped
        key = None
        if self.cache is not None:
            key = cache_key(self.identity, "", dataclasses.asdict(params), prompt)
            stored = self.cache.get(key)
            if stored is not None:
                with self._lock:
                    self.cache_hits += 1
                self._here.hits = self.tally_here()[1] + 1
                completion = Completion(**{**stored, "prompt_tokens": 0, "completion_tokens": 0})
                # A recording backend (promptkit.backends.recording) logs cache hits too.
                record = getattr(self.inner, "record_cached", None)
                if record is not None:
                    record(prompt, params, completion)
                return completion
        completion = self._call(prompt, params)
        if self.cache is not None and key is not None:
            self.cache.put(key, dataclasses.asdict(completion))
        return completion

    def _call(self, prompt: Prompt, params: GenerationParams) -> Completion:
        estimate = _estimate_tokens(prompt) + params.max_tokens
        sends = 0

        def send() -> Completion:
            nonlocal sends
            sends += 1
            return self.inner.complete(prompt, params)

        policy = self._policy
        try:
            completion = call_within_limits(
                send,
                self.limiter,
                tokens=estimate,
                longest_wait=policy.max_delay if policy else 0.0,
                handbacks=(policy or RetryPolicy()).max_retries,
            )
        except BackendError as error:
            self._count(sends - 1 + self._requests_of(error))
            raise self._redacted(error) from None
        actual = completion.prompt_tokens + completion.completion_tokens
        self.limiter.settle(estimate, actual or estimate)
        self._count(sends - 1 + completion.usage.calls, completion)
        return completion

    def _requests_of(self, error: BackendError) -> int:
        """The requests a failed call made: all its retries, unless it failed without them."""
        policy = self._policy
        if policy is None or not error.retryable:
            return 1
        handed_back = error.retry_after is not None and error.retry_after > policy.max_delay
        return 1 if handed_back else policy.max_retries + 1

    def _count(self, requests: int, completion: Completion | None = None) -> None:
        self._here.sent = self.tally_here()[0] + requests
        with self._lock:
            self.calls += requests
            if completion is not None:
                self.prompt_tokens += completion.prompt_tokens
                self.completion_tokens += completion.completion_tokens

    def _redacted(self, error: BackendError) -> BackendError:
        """Return ``error`` with secrets redacted from its message, its fields kept."""
        clean = copy.copy(error)
        clean.args = (self.redactor(str(error)),)
        return clean

    async def acomplete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        """Async form of :meth:`complete` (runs the sync call; jobs use threads)."""
        return self.complete(prompt, params)


def _estimate_tokens(prompt: Prompt) -> int:
    """Guess a prompt's tokens as a quarter of its characters, before the backend counts."""
    text = prompt.text if prompt.text is not None else "".join(m.content for m in prompt.messages)
    return estimate_tokens(text)


@contextlib.contextmanager
def job_backend(
    backend: Backend,
    *,
    cache_path: Path | None,
    rpm: float | None = None,
    tpm: float | None = None,
    stop: threading.Event | None = None,
) -> Iterator[JobBackend]:
    """Wrap a backend with the cache at ``cache_path`` (None: no cache) and rate limits.

    ``stop``, once set, ends waits for the limits and refuses new requests.

    Raises:
        JobFileError: the cache file cannot be used.
    """
    stop = stop or threading.Event()
    limiter = RateLimiter(rpm, tpm, sleep=stop.wait, stop=stop)
    cache = ResponseCache(cache_path) if cache_path is not None else None
    try:
        yield JobBackend(backend, cache, limiter, stop=stop)
    finally:
        if cache is not None:
            cache.close()
