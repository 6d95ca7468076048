"""The requests of a batch job: recorded as a run would send them, answered from the batch.

:class:`Recorder` is a backend that sends nothing: it keeps the first request
the solver makes for a batch of inputs, which becomes a line of the provider
batch. :class:`Planner` is an executor that runs nothing, so that the file
runner's own scheduler packs the inputs exactly as a run would.
:class:`Replay` is the backend of the collect phase: it answers a request
from the batch line made for it, and sends on what the batch did not answer.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

from pydantic import BaseModel

from promptkit._types import Layout
from promptkit.backends.base import Backend, Completion, GenerationParams
from promptkit.errors import BackendError
from promptkit.jobs.batch_provider import BatchProvider, request_digest, scrubbed
from promptkit.jobs.files import InputItem
from promptkit.jobs.packing import JobBackend, Outcome, Solve
from promptkit.prompt import Prompt

T = TypeVar("T")


class PendingInputs:
    """The inputs still to plan, with room to put a batch's worth back."""

    def __init__(self, items: Iterator[InputItem]) -> None:
        self._items = items
        self._back: deque[InputItem] = deque()

    def __iter__(self) -> PendingInputs:
        return self

    def __next__(self) -> InputItem:
        return self._back.popleft() if self._back else next(self._items)

    def push_back(self, items: Sequence[InputItem]) -> None:
        self._back.extendleft(reversed(items))


class Planner:
    """A submitter that runs nothing: it keeps the batches the scheduler submits.

    The scheduler submits ``functools.partial(solve, values)``; the values are kept.
    """

    def __init__(self) -> None:
        self.submitted: list[Sequence[BaseModel]] = []

    def submit(self, call: Callable[[], Sequence[Outcome]]) -> Future[Sequence[Outcome]]:
        assert isinstance(call, functools.partial)
        self.submitted.append(call.args[0])
        future: Future[Sequence[Outcome]] = Future()
        future.set_result(())
        return future


def never(values: Sequence[BaseModel]) -> Sequence[Outcome]:
    raise AssertionError("the planner runs no batch")  # pragma: no cover


class Recorder:
    """A backend that answers nothing: it records the first request a batch would send.

    It names itself as the real backend does in cache keys, so that a reply cached by
    an earlier run is found and that request is not put into a batch.
    """

    def __init__(self, real: Backend) -> None:
        self._real = real
        self._identity = JobBackend(real).identity
        self.request: tuple[Prompt, GenerationParams] | None = None

    def __repr__(self) -> str:
        return self._identity

    @property
    def name(self) -> str:
        return self._real.name

    @property
    def layout(self) -> Layout | None:
        return self._real.layout

    def record(
        self, solve: Solve, values: Sequence[BaseModel]
    ) -> tuple[Prompt, GenerationParams] | None:
        """Return the first request ``solve`` makes for ``values`` that the cache lacks."""
        self.request = None
        with contextlib.suppress(BackendError):
            solve(values)
        return self.request

    def complete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        if self.request is None:
            self.request = (prompt, params)
        raise BackendError("recorded for a batch, not sent", retryable=False)

    async def acomplete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        return self.complete(prompt, params)


class Replay:
    """A backend that answers each request from its batch line, else sends it on.

    Lines refused for good raise their error (:func:`refusing` fails their items);
    everything else a batch did not answer goes to ``inner`` at the list price.
    """

    def __init__(self, provider: BatchProvider, inner: JobBackend) -> None:
        self._provider = provider
        self._inner = inner
        self._lines: dict[str, dict[str, Any]] = {}
        self._refusals: dict[int, BackendError] = {}
        self._lock = threading.Lock()
        self.replayed = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0

    def __repr__(self) -> str:
        return self._inner.identity

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def layout(self) -> Layout | None:
        layout: Layout | None = self._inner.layout
        return layout

    def load(self, lines: dict[str, dict[str, Any]]) -> None:
        """Answer from these lines (one batch's, by digest) from now on."""
        self._lines = lines
        self._refusals = {}

    def refused(self, error: BaseException) -> bool:
        """Whether ``error`` is a batch line's refusal raised by this backend."""
        return self._refusals.get(id(error)) is error

    def complete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        line = self._lines.get(request_digest(self._provider.request(prompt, params)))
        if line is not None:
            reply = self._provider.read(line, prompt, params)
            if isinstance(reply, Completion):
                with self._lock:
                    self.replayed += 1
                    self.prompt_tokens += reply.prompt_tokens
                    self.completion_tokens += reply.completion_tokens
                return reply
            if not reply.retryable:
                error = scrubbed(reply, self._provider.secrets())
                with self._lock:
                    self._refusals[id(error)] = error
                raise error
        return self._inner.complete(prompt, params)

    async def acomplete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        return self.complete(prompt, params)


def refusing(solve: Solve, replay: Replay) -> Solve:
    """Wrap a solver so that a batch line refused for good fails its items, not the job."""

    def run(values: Sequence[BaseModel]) -> Sequence[Outcome]:
        try:
            return solve(values)
        except BackendError as error:
            if not replay.refused(error):
                raise
            failure = {"type": "BackendError", "message": str(error), "raw": None}
            return [Outcome(None, failure, 1) for _ in values]

    return run
