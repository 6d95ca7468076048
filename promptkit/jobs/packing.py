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

A backend failure is raised rather than returned: a file run stops on it and
is resumed later, instead of writing failures that a retry would have cured.

:class:`JobBackend` is the backend as a job's solver sees it: the response
cache first, then the shared rate limits, then the real backend, counting
the calls and tokens that were really spent.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from promptkit._types import Layout
from promptkit.backends.base import Backend, Completion, GenerationParams
from promptkit.errors import BackendError
from promptkit.execution import run_many
from promptkit.jobs.cache import ResponseCache, cache_key
from promptkit.jobs.limits import RateLimiter, call_with_retries
from promptkit.prompt import Prompt
from promptkit.result import Result
from promptkit.selection import estimate_tokens
from promptkit.task import Task


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one input: an output or an error (type, message, raw reply), and usage."""

    output: dict[str, Any] | None
    error: dict[str, Any] | None
    attempts: int
    usage: Mapping[str, int] = field(default_factory=dict)

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
        return cls(record["output"], record["error"], record["attempts"], record["usage"])


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
    failed for an input of the batch.
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
            if isinstance(result.error, BackendError):
                raise result.error
        return results

    def solve(values: Sequence[BaseModel]) -> Sequence[Outcome]:
        results = run_batch(values)
        if len(values) == 1:
            return [Outcome.of(results[0])]
        outcomes = []
        for result in results:
            if result.ok:
                outcomes.append(Outcome.of(result))
                continue
            # What the batch (and its re-asks) could not answer is asked on its own:
            # a small model that loses count in a batch usually answers one input.
            alone = run_batch([result.input])[0]
            outcomes.append(_joined(Outcome.of(result), Outcome.of(alone)))
        return outcomes

    return solve


def _joined(before: Outcome, after: Outcome) -> Outcome:
    """Return the outcome of a retry, counting the attempts and tokens before it too."""
    usage = {key: before.usage.get(key, 0) + after.usage.get(key, 0) for key in after.usage}
    return Outcome(after.output, after.error, before.attempts + after.attempts, usage)


class JobBackend:
    """A backend as a run sees it: cache first, then the rate limits, then the real backend.

    Counts the calls that reached the backend and the tokens they spent.

    Args:
        backend: the real backend.
        cache: the response cache, or None for no cache.
        limiter: the shared rate limiter, or None for no limits.
        retries: how often a call the backend gave up on as retryable (a Retry-After
            longer than its own retries wait) is tried again, after pausing every worker.
    """

    def __init__(
        self,
        backend: Backend,
        cache: ResponseCache | None = None,
        limiter: RateLimiter | None = None,
        retries: int = 3,
    ) -> None:
        self.inner = backend
        self.cache = cache
        self.limiter = limiter or RateLimiter()
        self.retries = retries
        self.calls = 0
        self.cache_hits = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self._lock = threading.Lock()

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

    def complete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        """Return the cached reply for this request, or call the backend and cache its reply."""
        key = None
        if self.cache is not None:
            key = cache_key(self.identity, "", dataclasses.asdict(params), prompt)
            stored = self.cache.get(key)
            if stored is not None:
                with self._lock:
                    self.cache_hits += 1
                completion = Completion(**stored)
                # A recording backend (promptkit.backends.recording) logs cache hits too.
                record = getattr(self.inner, "record_cached", None)
                if record is not None:
                    record(prompt, params, completion)
                return completion
        estimate = _estimate_tokens(prompt) + params.max_tokens
        completion, calls = call_with_retries(
            lambda: self.inner.complete(prompt, params),
            self.limiter,
            tokens=estimate,
            retries=self.retries,
        )
        actual = completion.prompt_tokens + completion.completion_tokens
        self.limiter.settle(estimate, actual or estimate)
        with self._lock:
            self.calls += calls
            self.prompt_tokens += completion.prompt_tokens
            self.completion_tokens += completion.completion_tokens
        if self.cache is not None and key is not None:
            self.cache.put(key, dataclasses.asdict(completion))
        return completion

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
) -> Iterator[JobBackend]:
    """Wrap a backend with the cache at ``cache_path`` (None: no cache) and rate limits."""
    limiter = RateLimiter(rpm, tpm) if rpm is not None or tpm is not None else None
    cache = ResponseCache(cache_path) if cache_path is not None else None
    try:
        yield JobBackend(backend, cache, limiter)
    finally:
        if cache is not None:
            cache.close()
