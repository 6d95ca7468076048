"""The backend protocol's values, retry policy and retry loop."""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Callable

import pytest

from promptkit.backends import Backend, Completion, GenerationParams, RetryPolicy, Usage
from promptkit.backends.base import (
    acall_with_retries,
    call_with_retries,
    parse_retry_after,
    retry_after_of,
    status_error,
)
from promptkit.backends.scripted import ScriptedBackend
from promptkit.errors import BackendError
from promptkit.prompt import Prompt


def _prompt(stop: tuple[str, ...] = ()) -> Prompt:
    return Prompt("t", "completion", (), "Q:", {}, {}, stop)


def test_generation_defaults_are_the_source_blogs() -> None:
    params = GenerationParams()
    assert (params.temperature, params.top_p, params.top_k, params.max_tokens) == (
        0.05,
        0.8,
        20,
        500,
    )
    assert params.replace(max_tokens=80).max_tokens == 80
    assert params.replace(max_tokens=80).top_k == 20


@pytest.mark.parametrize(
    "bad",
    [{"max_tokens": 0}, {"temperature": -1.0}, {"top_p": 0.0}, {"top_p": 1.5}, {"top_k": 0}],
)
def test_generation_params_refuse_impossible_settings(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        GenerationParams(**bad)  # type: ignore[arg-type]


def test_stops_put_the_prompts_first_without_duplicates() -> None:
    params = GenerationParams(stop=["\n\n", "END"])
    assert params.stops_for(_prompt(("\n\n", "\nQ:"))) == ("\n\n", "\nQ:", "END")


def test_usage_sums_and_completion_reports_truncation() -> None:
    total = Usage(10, 2, 5, 1) + Completion("x", "length", 7, 3, cached_tokens=4).usage
    assert total == Usage(17, 5, 9, 2)
    # A reply that took three requests (two retried) counts three.
    assert (total + Completion("y", requests=3).usage).calls == 5
    assert total.total_tokens == 22
    assert Completion("x", "length").truncated
    assert not Completion("x", "stop").truncated


def test_scripted_backend_satisfies_the_protocol() -> None:
    assert isinstance(ScriptedBackend(), Backend)


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (529, True),
        (400, False),
        (401, False),
        (404, False),
        (501, False),
    ],
)
def test_status_errors_say_whether_retrying_may_help(status: int, retryable: bool) -> None:
    error = status_error(status, "nope", retry_after=1.5)
    assert (error.status, error.retryable, error.retry_after) == (status, retryable, 1.5)
    assert f"HTTP {status}" in str(error)


def test_retry_after_is_read_as_seconds_or_a_date() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.25") == 0.25
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    later = email.utils.formatdate(time.time() + 120, usegmt=True)
    seconds = parse_retry_after(later)
    assert seconds is not None
    assert 100 < seconds <= 120


def test_backoff_is_jittered_under_a_doubling_ceiling() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0)
    rng = random.Random(7)
    for retry, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (5, 3.0)]:
        waits = {policy.delay(retry, None, rng) for _ in range(50)}
        assert all(w is not None and 0 <= w <= ceiling for w in waits)
        assert len(waits) > 40  # jittered, not fixed


def test_retry_after_is_a_floor_and_too_long_a_wait_is_not_taken() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=10.0)
    rng = random.Random(1)
    waits = [policy.delay(0, 2.0, rng) for _ in range(20)]
    assert all(w is not None and 2.0 <= w <= 2.5 for w in waits)
    assert policy.delay(0, 60.0, rng) is None


def _flaky(errors: list[BackendError]) -> tuple[list[int], Callable[[], Completion]]:
    calls: list[int] = []

    def send() -> Completion:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return Completion("done")

    return calls, send


def test_retries_transient_errors_and_honours_retry_after() -> None:
    waits: list[float] = []
    calls, send = _flaky([BackendError("busy", status=429, retryable=True, retry_after=1.0)])
    result = call_with_retries(send, RetryPolicy(), rng=random.Random(0), sleep=waits.append)
    assert (result.text, result.requests, result.usage.calls) == ("done", 2, 2)
    assert len(calls) == 2
    assert len(waits) == 1
    assert waits[0] >= 1.0


def test_a_call_that_needs_no_retry_counts_one_request() -> None:
    calls, send = _flaky([])
    result = call_with_retries(send, RetryPolicy(), sleep=pytest.fail)
    assert (len(calls), result.requests, result.usage.calls) == (1, 1, 1)


def test_gives_up_after_max_retries_with_the_last_error_and_the_requests_sent() -> None:
    waits: list[float] = []
    errors = [BackendError(f"down {n}", status=503, retryable=True) for n in range(5)]
    calls, send = _flaky(errors)
    with pytest.raises(BackendError, match="down 2") as raised:
        call_with_retries(send, RetryPolicy(max_retries=2), sleep=waits.append)
    assert len(calls) == 3
    assert len(waits) == 2
    assert raised.value.requests == 3


def test_does_not_retry_what_cannot_succeed() -> None:
    waits: list[float] = []
    calls, send = _flaky([BackendError("bad key", status=401, retryable=False)])
    with pytest.raises(BackendError, match="bad key") as raised:
        call_with_retries(send, RetryPolicy(max_retries=5), sleep=waits.append)
    assert (len(calls), waits, raised.value.requests) == (1, [], 1)


def test_a_retry_after_longer_than_the_longest_wait_is_handed_back_not_slept() -> None:
    waits: list[float] = []
    error = BackendError("slow down", status=429, retryable=True, retry_after=120.0)
    calls, send = _flaky([error])
    with pytest.raises(BackendError) as raised:
        call_with_retries(send, RetryPolicy(max_retries=3, max_delay=20.0), sleep=waits.append)
    assert (len(calls), waits, raised.value.retry_after) == (1, [], 120.0)


def test_async_retries_follow_the_same_rules() -> None:
    waits: list[float] = []
    errors = [BackendError("busy", status=500, retryable=True)]

    async def send() -> Completion:
        if errors:
            raise errors.pop(0)
        return Completion("done")

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    result = asyncio.run(acall_with_retries(send, RetryPolicy(), sleep=sleep))
    assert (result.text, result.requests) == ("done", 2)
    assert len(waits) == 1


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),  # milliseconds win, as in the SDKs
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_how_long_a_server_asks_to_wait_is_read_from_either_header(
    headers: dict[str, str], seconds: float | None
) -> None:
    assert retry_after_of(headers) == seconds
