"""Requests/tokens per minute and long Retry-After pauses, on a clock driven by hand."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from promptkit.errors import BackendError
from promptkit.jobs.limits import JobStopped, RateLimiter, call_within_limits


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


def scripted(*replies: object) -> tuple[list[object], Callable[[], str]]:
    """A call answering from ``replies`` (errors raised), and the list it pops from."""
    queue = list(replies)

    def call() -> str:
        reply = queue.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        assert isinstance(reply, str)
        return reply

    return queue, call


def test_a_retry_after_longer_than_the_backend_waits_pauses_every_caller_then_calls_again() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    long_wait = BackendError("slow down", status=429, retryable=True, retry_after=30)
    _, call = scripted(long_wait, long_wait, "ok")
    assert call_within_limits(call, limiter, longest_wait=20, handbacks=2) == "ok"
    assert clock.sleeps == pytest.approx([30.0, 30.0])


def test_the_handbacks_are_the_backends_retries_not_more() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    long_wait = BackendError("slow down", status=429, retryable=True, retry_after=30)
    queue, call = scripted(long_wait, long_wait, long_wait, "ok")
    with pytest.raises(BackendError, match="slow down"):
        call_within_limits(call, limiter, longest_wait=20, handbacks=2)
    assert queue == ["ok"]  # three calls: the first and two handbacks


@pytest.mark.parametrize(
    "error",
    [
        BackendError("busy", status=503, retryable=True),  # the backend retried it already
        BackendError("busy", status=429, retryable=True, retry_after=5),  # and waited 5 s
        BackendError("bad key", status=401),
        BackendError("too long", status=400),
    ],
)
def test_no_other_error_is_tried_again(error: BackendError) -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    queue, call = scripted(error, "ok")
    with pytest.raises(BackendError) as raised:
        call_within_limits(call, limiter, longest_wait=20, handbacks=2)
    assert raised.value is error
    assert queue == ["ok"]
    assert clock.sleeps == []


def test_a_stopped_limiter_lets_no_waiting_caller_through() -> None:
    stop = threading.Event()
    clock = FakeClock()
    limiter = RateLimiter(rpm=1, clock=clock, sleep=lambda seconds: stop.set(), stop=stop)
    limiter.acquire()
    with pytest.raises(JobStopped):
        limiter.acquire()  # waits for the next minute; the run stops meanwhile


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rpm must be more than 0"):
        RateLimiter(rpm=0)
