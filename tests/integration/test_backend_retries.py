"""The one retry layer, counted at a real HTTP server on loopback.

Each backend is built with its SDK's own default client (no injected
client or transport). A prompt that always gets HTTP 500 costs exactly
``max_retries + 1`` requests: the backend's retries, with the SDK's own
turned off, and nothing above the backend retrying on top.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest
from anthropic_server import KEY, MessagesAPI, error
from loopback import Answer, Loopback, Seen, chat_completion, serving

from promptkit import compile_prompt, load_task
from promptkit.backends import GenerationParams, RetryPolicy
from promptkit.backends.anthropic import AnthropicBackend
from promptkit.backends.openai import OpenAIBackend
from promptkit.backends.sdk import PostingBackend
from promptkit.errors import BackendError
from promptkit.execution import arun, run, run_many

pytestmark = pytest.mark.integration

TASK = load_task("apparel-search")
REPLY = '{"colour": "red", "type": "t shirts"}'


class Script:
    """Answers each request with the next scripted answer; the last one repeats."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)

    def __call__(self, seen: Seen) -> Answer:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def always_500(seen: Seen) -> Answer:
    if seen.path.endswith("/messages"):
        return error(500, "Internal server error")
    return Answer(500, {"error": {"message": "The server had an error", "type": "server_error"}})


def policy(retries: int) -> RetryPolicy:
    return RetryPolicy(max_retries=retries, base_delay=0.01, max_delay=5.0, timeout=10.0)


def openai_backend(server: Loopback, retries: int) -> PostingBackend:
    return OpenAIBackend("m", base_url=f"{server.root}/v1", retry=policy(retries))


def anthropic_backend(server: Loopback, retries: int) -> PostingBackend:
    return AnthropicBackend("claude-test", base_url=server.root, retry=policy(retries))


BACKENDS = {"openai": openai_backend, "anthropic": anthropic_backend}
Make = Callable[[Loopback, int], PostingBackend]


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # a local server: the placeholder key


@pytest.fixture
def failing() -> Iterator[Loopback]:
    with serving(always_500) as server:
        yield server


@pytest.mark.parametrize("kind", BACKENDS)
@pytest.mark.parametrize("retries", [0, 2, 3])
def test_a_prompt_that_always_gets_500_costs_max_retries_plus_one_requests(
    failing: Loopback, kind: str, retries: int
) -> None:
    chosen = BACKENDS[kind](failing, retries)
    with pytest.raises(BackendError) as raised:
        chosen.complete(compile_prompt(TASK, "red"), GenerationParams())
    assert len(failing.seen) == retries + 1
    assert (raised.value.status, raised.value.retryable) == (500, True)
    assert raised.value.requests == retries + 1


@pytest.mark.parametrize("kind", BACKENDS)
def test_the_async_twin_costs_the_same(failing: Loopback, kind: str) -> None:
    chosen = BACKENDS[kind](failing, 2)
    with pytest.raises(BackendError) as raised:
        asyncio.run(chosen.acomplete(compile_prompt(TASK, "red"), GenerationParams()))
    assert (len(failing.seen), raised.value.requests) == (3, 3)


@pytest.mark.parametrize("kind", BACKENDS)
def test_the_run_layer_does_not_retry_on_top(failing: Loopback, kind: str) -> None:
    chosen = BACKENDS[kind](failing, 2)
    result = run(TASK, "red", backend=chosen)
    assert isinstance(result.error, BackendError)
    assert len(failing.seen) == 3
    result = asyncio.run(arun(TASK, "red", backend=chosen))
    assert isinstance(result.error, BackendError)
    assert len(failing.seen) == 6
    # A batch run: each prompt once, with its retries; nothing re-asks a backend error.
    failing.seen.clear()
    results = run_many(TASK, ["red", "blue"], backend=chosen, batch_size=2)
    assert all(isinstance(result.error, BackendError) for result in results)
    assert len(failing.seen) == 3


def _openai_ok() -> Answer:
    return Answer(200, chat_completion(REPLY))


def _anthropic_ok() -> Answer:
    body = {"model": "claude-test", "messages": [{"role": "user", "content": "red"}]}
    return Answer(200, MessagesAPI(reply=REPLY).message(body))


def _throttled(kind: str, headers: dict[str, str]) -> Answer:
    if kind == "anthropic":
        return error(429, "Number of requests has exceeded your rate limit", headers)
    return Answer(429, {"error": {"message": "Rate limit reached", "type": "requests"}}, headers)


@pytest.mark.parametrize("kind", BACKENDS)
@pytest.mark.parametrize(
    "headers", [{"retry-after": "0"}, {"retry-after-ms": "20"}], ids=["seconds", "milliseconds"]
)
def test_a_short_retry_after_is_waited_out_and_the_requests_counted(
    kind: str, headers: dict[str, str]
) -> None:
    ok = _openai_ok() if kind == "openai" else _anthropic_ok()
    with serving(Script(_throttled(kind, dict(headers)), ok)) as server:
        reply = BACKENDS[kind](server, 2).complete(compile_prompt(TASK, "red"), GenerationParams())
        assert (reply.text, reply.requests, reply.usage.calls, len(server.seen)) == (
            REPLY,
            2,
            2,
            2,
        )


@pytest.mark.parametrize("kind", BACKENDS)
@pytest.mark.parametrize(
    ("headers", "seconds"),
    [({"retry-after": "120"}, 120.0), ({"retry-after-ms": "90000", "retry-after": "1"}, 90.0)],
    ids=["seconds", "milliseconds win"],
)
def test_a_retry_after_beyond_the_longest_wait_is_handed_back_not_slept(
    kind: str, headers: dict[str, str], seconds: float
) -> None:
    with serving(Script(_throttled(kind, dict(headers)))) as server:
        with pytest.raises(BackendError) as raised:
            BACKENDS[kind](server, 3).complete(compile_prompt(TASK, "red"), GenerationParams())
        assert (raised.value.status, raised.value.retry_after, len(server.seen)) == (
            429,
            seconds,
            1,
        )


@pytest.mark.parametrize(
    "fault",
    [
        Answer(200, b'{"id": "chatcmpl-1", "choices": [{"index": 0, "message": {"content": "{'),
        Answer(200, {"id": "chatcmpl-1", "object": "chat.completion", "choices": []}),
        Answer(200, chat_completion(None)),
    ],
    ids=["truncated body", "empty choices", "null content"],
)
def test_a_200_reply_cut_off_or_empty_is_retried(fault: Answer) -> None:
    with serving(Script(fault, _openai_ok())) as server:
        reply = openai_backend(server, 2).complete(compile_prompt(TASK, "red"), GenerationParams())
        assert (reply.text, reply.requests, len(server.seen)) == (REPLY, 2, 2)
    with serving(Script(fault)) as server:
        with pytest.raises(BackendError) as raised:
            openai_backend(server, 2).complete(compile_prompt(TASK, "red"), GenerationParams())
        assert (raised.value.retryable, raised.value.requests, len(server.seen)) == (True, 3, 3)
        assert "base URL" not in str(raised.value)


def test_a_request_the_server_refuses_is_sent_once() -> None:
    refused = Answer(400, {"error": {"message": "context length exceeded", "type": "invalid"}})
    with serving(Script(refused)) as server:
        with pytest.raises(BackendError, match="context length exceeded") as raised:
            openai_backend(server, 3).complete(compile_prompt(TASK, "red"), GenerationParams())
        assert (raised.value.status, raised.value.retryable, len(server.seen)) == (400, False, 1)
