"""The backend protocol: one call from a compiled :class:`Prompt` to a :class:`Completion`.

A backend sits at the transport boundary. It takes a prompt and generation
parameters, sends them, and returns the reply text with its finish reason,
token counts, model and latency; it knows nothing about tasks, parsing or
re-asking. Every backend has a sync and an async form of the same call.

Transient failures (429, 5xx, a reset connection, a timeout, a reply cut
off in transit) are retried here, and only here: a bounded number of times
with jittered exponential backoff that honours ``Retry-After`` and
``retry-after-ms``. What is left is raised as :class:`~promptkit.errors.BackendError`
with its status, whether trying again later may help, and how many requests
were sent. Nothing above the backend retries on top (docs/backends.md).
"""

from __future__ import annotations

import dataclasses
import email.utils
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

from promptkit._types import Layout
from promptkit.errors import BackendError
from promptkit.prompt import GenerationParams as GenerationParams  # re-exported: a call's settings
from promptkit.prompt import Prompt

T = TypeVar("T")

RETRYABLE_STATUSES = frozenset({408, 409, 425, 429})  # and every 5xx but 501 and 505


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens spent and requests sent, summed over calls.

    ``cached_tokens`` were served from a prompt cache. ``calls`` counts the
    requests a backend sent (for an HTTP backend, every try of a retried call
    is one), so that a summary reports what a server received.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    calls: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cached_tokens + other.cached_tokens,
            self.calls + other.calls,
        )

    def to_dict(self) -> dict[str, int]:
        """Return the usage as plain JSON-ready data."""
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class Completion:
    """What a backend returned for one call.

    ``finish_reason`` is ``"stop"`` for a reply that ended on its own and
    ``"length"`` for one cut off by the token limit (see :attr:`truncated`).
    ``latency`` is in seconds, measured around the request that answered.
    ``requests`` counts the requests sent for this reply, retries included.
    """

    text: str
    finish_reason: str | None = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str = ""
    latency: float = 0.0
    cached_tokens: int = 0
    requests: int = 1

    @property
    def truncated(self) -> bool:
        """Whether the reply was cut off by the token limit."""
        return self.finish_reason == "length"

    @property
    def usage(self) -> Usage:
        """The tokens of this call as a :class:`Usage`."""
        return Usage(self.prompt_tokens, self.completion_tokens, self.cached_tokens, self.requests)


@runtime_checkable
class Backend(Protocol):
    """Anything that turns a prompt into a completion, in sync and async form.

    ``layout`` is the layout the backend's model needs (``"completion"`` for
    a base model with no chat template), or ``None`` to use the task's.
    """

    @property
    def name(self) -> str:
        """A short name for reports (``"openai:gpt-4o-mini"``)."""
        ...

    @property
    def layout(self) -> Layout | None:
        """The layout the model needs, or ``None`` for the task's own."""
        ...

    def complete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        """Send one prompt and return the reply."""
        ...

    async def acomplete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        """Send one prompt and return the reply, without blocking the event loop."""
        ...


# -- retries ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to wait before trying a failed call again.

    Args:
        max_retries: retries after the first try (0 disables retrying).
        base_delay: the first backoff ceiling in seconds; doubled per retry, with full jitter.
        max_delay: the longest single wait; a ``Retry-After`` longer than this is not
            waited for, the error is raised with ``retry_after`` set instead.
        timeout: seconds allowed for one request (connect, write, read each).
    """

    max_retries: int = 2
    base_delay: float = 0.5
    max_delay: float = 20.0
    timeout: float = 60.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, not {self.max_retries}")
        if self.timeout <= 0:
            raise ValueError(f"timeout must be positive, not {self.timeout}")

    def delay(self, retry: int, retry_after: float | None, rng: random.Random) -> float | None:
        """Return the seconds to wait before retry number ``retry`` (0-based), or ``None``.

        ``None`` means do not retry: the server asked for a longer wait than
        ``max_delay``. A ``Retry-After`` is honoured as a floor, plus a little
        jitter so that many clients do not come back at once.
        """
        if retry_after is not None:
            if retry_after > self.max_delay:
                return None
            return retry_after + rng.uniform(0, min(self.base_delay, 1.0))
        ceiling = min(self.max_delay, self.base_delay * 2**retry)
        return rng.uniform(0, ceiling)


def status_error(
    status: int, message: str, *, retry_after: float | None = None, provider: str = "backend"
) -> BackendError:
    """Return the :class:`BackendError` for an HTTP error status."""
    retryable = status in RETRYABLE_STATUSES or (status >= 500 and status not in (501, 505))
    hint = ""
    if status in (401, 403):
        hint = "; check the API key in the environment"
    elif status == 404:
        hint = "; check the base URL and model name"
    return BackendError(
        f"{provider} returned HTTP {status}: {message}{hint}",
        status=status,
        retryable=retryable,
        retry_after=retry_after,
    )


def parse_retry_after(value: str | None) -> float | None:
    """Read a ``Retry-After`` header (seconds or an HTTP date) as seconds from now."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def retry_after_of(headers: Mapping[str, str]) -> float | None:
    """Read how long a server asks to be left alone: ``retry-after-ms``, else ``Retry-After``.

    The milliseconds header (OpenAI's and Anthropic's) is the more precise one
    and wins, as in the providers' own SDKs.
    """
    milliseconds = parse_retry_after(headers.get("retry-after-ms"))
    if milliseconds is not None:
        return milliseconds / 1000
    return parse_retry_after(headers.get("retry-after"))


def retried(
    send: Callable[[], T],
    policy: RetryPolicy,
    *,
    rng: random.Random | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[T, int]:
    """Call ``send`` until it succeeds, a non-retryable error, or the retries run out.

    Returns what ``send`` returned and how many requests were sent; an error
    raised carries that count in ``requests``. Any request an SDK makes
    (a completion, a batch upload) retries through here.
    """
    tries = _Tries(policy, rng or random.Random())
    while True:
        try:
            value = send()
            tries.sent += 1
            return value, tries.sent
        except BackendError as error:
            wait = tries.failed(error)
        sleep(wait)


def call_with_retries(
    send: Callable[[], Completion],
    policy: RetryPolicy,
    *,
    rng: random.Random | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Completion:
    """Call ``send`` as :func:`retried` does; the completion carries the requests sent."""
    completion, requests = retried(send, policy, rng=rng, sleep=sleep)
    return dataclasses.replace(completion, requests=requests) if requests > 1 else completion


async def acall_with_retries(
    send: Callable[[], Awaitable[Completion]],
    policy: RetryPolicy,
    *,
    rng: random.Random | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> Completion:
    """Async form of :func:`call_with_retries` (``sleep`` defaults to ``asyncio.sleep``)."""
    import asyncio  # here, not at module top: asyncio brings concurrent.futures and logging

    tries = _Tries(policy, rng or random.Random())
    sleep = sleep or asyncio.sleep
    while True:
        try:
            return tries.succeeded(await send())
        except BackendError as error:
            wait = tries.failed(error)
        await sleep(wait)


class _Tries:
    """The bookkeeping of one call's tries: how many were sent, and how long to wait."""

    def __init__(self, policy: RetryPolicy, rng: random.Random) -> None:
        self.policy = policy
        self.rng = rng
        self.sent = 0

    def succeeded(self, completion: Completion) -> Completion:
        """Return the completion, counting the tries before it."""
        self.sent += 1
        if self.sent == 1:
            return completion
        return dataclasses.replace(completion, requests=self.sent)

    def failed(self, error: BackendError) -> float:
        """Return the wait before the next try, or raise ``error`` when it is the last."""
        self.sent += 1
        error.requests = self.sent
        retry = self.sent - 1
        if not error.retryable or retry >= self.policy.max_retries:
            raise error
        wait = self.policy.delay(retry, error.retry_after, self.rng)
        if wait is None:  # the server asks for a longer wait than this policy takes
            raise error
        return wait
