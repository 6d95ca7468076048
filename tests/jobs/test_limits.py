"""Requests/tokens per minute and Retry-After, on a clock driven by hand."""

from __future__ import annotations

import pytest

from promptkit.errors import BackendError
from promptkit.jobs.limits import RateLimiter, call_with_retries


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_requests_per_minute_spaces_calls_after_the_first_minute_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rpm=6, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(9):
        limiter.acquire()
        starts.append(clock.now)
    assert starts[:6] == [0.0] * 6
    assert starts[6:] == pytest.approx([10.0, 20.0, 30.0])


def test_tokens_per_minute_waits_for_enough_tokens_and_settles() -> None:
    clock = FakeClock()
    limiter = RateLimiter(tpm=600, clock=clock, sleep=clock.sleep)
    limiter.acquire(500)
    limiter.acquire(100)
    assert clock.now == 0
    limiter.acquire(300)  # 300 tokens refill in 30 s
    assert clock.now == pytest.approx(30)
    limiter.settle(estimated=300, actual=0)  # the call used none: tokens come back
    limiter.acquire(300)
    assert clock.now == pytest.approx(30)


def test_a_request_bigger_than_the_bucket_waits_for_a_full_bucket() -> None:
    clock = FakeClock()
    limiter = RateLimiter(tpm=100, clock=clock, sleep=clock.sleep)
    limiter.acquire(50)
    limiter.acquire(1000)
    assert clock.now == pytest.approx(30)


def test_retry_after_pauses_then_retries() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    replies: list[object] = [
        BackendError("slow down", status=429, retryable=True, retry_after=7),
        BackendError("busy", status=503, retryable=True),
        "ok",
    ]

    def call() -> str:
        reply = replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        assert isinstance(reply, str)
        return reply

    assert call_with_retries(call, limiter, backoff=1.0) == ("ok", 3)
    assert clock.sleeps == pytest.approx([7.0, 2.0])


def test_non_retryable_errors_and_exhausted_retries_raise() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    calls = 0

    def fail() -> None:
        nonlocal calls
        calls += 1
        raise BackendError("bad key", status=401)

    with pytest.raises(BackendError, match="bad key"):
        call_with_retries(fail, limiter)
    assert calls == 1

    def busy() -> None:
        raise BackendError("busy", status=503, retryable=True, retry_after=1)

    with pytest.raises(BackendError, match="busy"):
        call_with_retries(busy, limiter, retries=2)
    assert clock.sleeps == [1, 1]


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rpm must be more than 0"):
        RateLimiter(rpm=0)
