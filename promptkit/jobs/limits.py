"""Rate limits for concurrent calls: requests and tokens per minute, and Retry-After.

A :class:`RateLimiter` is two token buckets (requests and tokens) that refill
continuously at their per-minute rate, shared by every worker thread of a run.
A worker asks for one request and its estimated tokens before each call and
waits until both buckets hold enough. When a provider answers "slow down"
with a Retry-After longer than the backend waits itself,
:meth:`RateLimiter.pause` holds every worker, not just the one that was
told (:func:`call_within_limits`). Retrying is the backends' alone.

The clock and the sleep are injectable, so tests drive time by hand.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from promptkit.errors import BackendError

T = TypeVar("T")

Clock = Callable[[], float]
Sleep = Callable[[float], object]


class JobStopped(Exception):
    """The run stopped (a fatal error, Ctrl-C): a call that had not started is not made.

    Internal to a job: the run raises what stopped it, never this.
    """


class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits shared by threads.

    Args:
        rpm: requests per minute, or None for no limit.
        tpm: tokens (prompt and completion) per minute, or None for no limit.
        clock: monotonic seconds.
        sleep: waits the given seconds.
        stop: once set, a caller waiting for its turn raises :class:`JobStopped` instead;
            ``sleep`` should return early when it is set (``stop.wait`` does).
    """

    def __init__(
        self,
        rpm: float | None = None,
        tpm: float | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        stop: threading.Event | None = None,
    ) -> None:
        for name, value in (("rpm", rpm), ("tpm", tpm)):
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be more than 0, not {value}")
        self.rpm = rpm
        self.tpm = tpm
        self._clock = clock
        self._sleep = sleep
        self._stop = stop
        self._lock = threading.Lock()
        now = clock()
        self._updated = now
        # Buckets start full: a burst of one minute's worth may go at once.
        self._requests = rpm or 0.0
        self._tokens = tpm or 0.0
        self._paused_until = now
        self.waited = 0.0

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._updated = now
        if self.rpm is not None:
            self._requests = min(self.rpm, self._requests + elapsed * self.rpm / 60)
        if self.tpm is not None:
            self._tokens = min(self.tpm, self._tokens + elapsed * self.tpm / 60)

    def _wait_time(self, tokens: float, now: float) -> float:
        wait = max(0.0, self._paused_until - now)
        if self.rpm is not None and self._requests < 1:
            wait = max(wait, (1 - self._requests) * 60 / self.rpm)
        if self.tpm is not None:
            # A request larger than the whole bucket waits for a full bucket, then goes.
            need = min(tokens, self.tpm)
            if self._tokens < need:
                wait = max(wait, (need - self._tokens) * 60 / self.tpm)
        return wait

    def acquire(self, tokens: float = 0) -> None:
        """Wait until one request of ``tokens`` estimated tokens may go, then take it.

        Raises:
            JobStopped: the run stopped before the turn came.
        """
        while True:
            if self._stop is not None and self._stop.is_set():
                raise JobStopped
            with self._lock:
                now = self._clock()
                self._refill(now)
                wait = self._wait_time(tokens, now)
                if wait <= 0:
                    if self.rpm is not None:
                        self._requests -= 1
                    if self.tpm is not None:
                        self._tokens -= tokens
                    return
            self.waited += wait
            self._sleep(wait)

    def settle(self, estimated: float, actual: float) -> None:
        """Correct the token bucket once a call's real token count is known."""
        if self.tpm is None:
            return
        with self._lock:
            self._refill(self._clock())
            self._tokens = min(self.tpm, self._tokens + estimated - actual)

    def pause(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` from now (a Retry-After)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)


def call_within_limits(
    call: Callable[[], T],
    limiter: RateLimiter,
    *,
    tokens: float = 0,
    longest_wait: float = 0.0,
    handbacks: int = 2,
) -> T:
    """Call ``call`` within the limits; wait out a long Retry-After for every caller.

    Backends retry transient failures themselves: this is not a second retry
    layer. The one error it acts on is a retryable :class:`BackendError` whose
    ``retry_after`` is longer than ``longest_wait``, the longest pause the
    backend sleeps itself: the backend handed the wait back without sleeping
    (and without spending its retries), so every caller is paused that long
    and the call goes again, at most ``handbacks`` times (the retries the
    backend would have made). Any other error is raised at once.

    Raises:
        BackendError: what the backend raised.
        JobStopped: the run stopped while this call waited for its turn.
    """
    left = handbacks
    while True:
        limiter.acquire(tokens)
        try:
            return call()
        except BackendError as error:
            wait = error.retry_after
            if not error.retryable or wait is None or wait <= longest_wait or left == 0:
                raise
            left -= 1
            limiter.pause(wait)
