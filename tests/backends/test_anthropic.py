"""The anthropic backend at the HTTP boundary (httpx.MockTransport), through the real SDK."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2 as httpx  # the HTTP package of anthropic 2.x
import pytest

from promptkit import compile_batch, compile_prompt, load_task
from promptkit.backends import GenerationParams, RetryPolicy
from promptkit.backends.anthropic import AnthropicBackend
from promptkit.errors import BackendError

TASK = load_task("apparel-search")
SECRET = "sk-ant-test-secret"
REPLY = '{"colour": "red", "type": "t shirts"}'


def message(content: list[dict[str, Any]], stop: str = "end_turn") -> dict[str, Any]:
    return {
        "id": "msg",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": content,
        "stop_reason": stop,
        "usage": {"input_tokens": 200, "output_tokens": 20, "cache_read_input_tokens": 150},
    }


def backend(
    answers: list[httpx.Response], seen: list[httpx.Request], **options: Any
) -> AnthropicBackend:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0) if len(answers) > 1 else answers[0]

    return AnthropicBackend(
        "claude-test",
        retry=RetryPolicy(base_delay=0.001, max_delay=0.01),
        http_client=httpx.Client(transport=httpx.MockTransport(handle)),
        async_http_client=httpx.AsyncClient(transport=httpx.MockTransport(handle)),
        **options,
    )


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)


def test_json_mode_request_and_reply() -> None:
    seen: list[httpx.Request] = []
    chosen = backend([httpx.Response(200, json=message([{"type": "text", "text": REPLY}]))], seen)
    prompt = compile_prompt(TASK, "red t shirts", layout="chat")
    reply = chosen.complete(prompt, GenerationParams())
    body = json.loads(seen[0].content)
    assert seen[0].url.path == "/v1/messages"
    headers = seen[0].headers
    assert SECRET in (headers.get("x-api-key"), headers.get("authorization", "")[7:])
    assert body["system"] == prompt.messages[0].content
    assert [turn["role"] for turn in body["messages"]][:2] == ["user", "assistant"]
    assert body["messages"][-1] == {"role": "user", "content": prompt.messages[-1].content}
    # API version 2026-10-21 (anthropic 2.x's default) refuses every sampling parameter.
    assert headers["anthropic-version"] >= "2026-10-21"
    assert not {"temperature", "top_p", "top_k"} & set(body)
    assert body["max_tokens"] == 500
    assert "tools" not in body
    assert (reply.text, reply.finish_reason, reply.model) == (REPLY, "stop", "claude-test")
    assert (reply.prompt_tokens, reply.completion_tokens, reply.cached_tokens) == (200, 20, 150)


def test_tool_mode_forces_the_tool_and_reads_its_input() -> None:
    seen: list[httpx.Request] = []
    block = {"type": "tool_use", "id": "t", "name": "apparel_search", "input": json.loads(REPLY)}
    chosen = backend([httpx.Response(200, json=message([block], "tool_use"))], seen, mode="tool")
    prompt = compile_batch(TASK, ["red top", "blue top"])
    reply = chosen.complete(prompt, GenerationParams(temperature=None))
    body = json.loads(seen[0].content)
    assert "top_p" not in body
    assert body["tools"][0]["input_schema"]["type"] == "object"  # a batch array is wrapped
    assert body["tool_choice"] == {"type": "tool", "name": body["tools"][0]["name"]}
    assert json.loads(reply.text) == json.loads(REPLY)


def test_prefill_opens_the_reply_for_older_models() -> None:
    seen: list[httpx.Request] = []
    rest = '"colour": "red"}'
    chosen = backend(
        [httpx.Response(200, json=message([{"type": "text", "text": rest}]))], seen, prefill=True
    )
    reply = chosen.complete(compile_prompt(TASK, "red"), GenerationParams())
    assert json.loads(seen[0].content)["messages"][-1] == {"role": "assistant", "content": "{"}
    assert reply.text == "{" + rest


def test_max_tokens_means_cut_off() -> None:
    seen: list[httpx.Request] = []
    answer = message([{"type": "text", "text": '{"colour": "re'}], "max_tokens")
    reply = backend([httpx.Response(200, json=answer)], seen).complete(
        compile_prompt(TASK, "red"), GenerationParams()
    )
    assert reply.truncated


def test_overloaded_is_retried_and_bad_requests_are_not() -> None:
    seen: list[httpx.Request] = []
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    ok = httpx.Response(200, json=message([{"type": "text", "text": REPLY}]))
    chosen = backend([httpx.Response(529, json=error), ok], seen)
    reply = chosen.complete(compile_prompt(TASK, "red"), GenerationParams())
    assert (reply.text, reply.requests, len(seen)) == (REPLY, 2, 2)

    seen.clear()
    bad = {"type": "error", "error": {"type": "invalid_request_error", "message": "no"}}
    with pytest.raises(BackendError) as raised:
        backend([httpx.Response(400, json=bad)], seen).complete(
            compile_prompt(TASK, "red"), GenerationParams()
        )
    assert (raised.value.status, raised.value.retryable, len(seen)) == (400, False, 1)
    assert SECRET not in str(raised.value)


def test_a_client_on_api_version_2023_06_01_sends_sampling_parameters() -> None:
    import anthropic

    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=message([{"type": "text", "text": REPLY}]))

    client = anthropic.Anthropic(
        api_key=SECRET,
        default_headers={"anthropic-version": "2023-06-01"},
        http_client=httpx.Client(transport=httpx.MockTransport(handle)),
    )
    chosen = AnthropicBackend("c", client=client)
    chosen.complete(compile_prompt(TASK, "red"), GenerationParams())
    chosen.complete(compile_prompt(TASK, "red"), GenerationParams(temperature=None))
    first, second = (json.loads(request.content) for request in seen)
    assert seen[0].headers["anthropic-version"] == "2023-06-01"
    # Newer Claude models refuse temperature with top_p: temperature wins.
    assert (first["temperature"], first["top_k"], "top_p" in first) == (0.05, 20, False)
    assert (second["top_p"], "temperature" in second) == (0.8, False)


def test_an_injected_client_has_its_retries_turned_off() -> None:
    import anthropic

    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500, json={"type": "error", "error": {"type": "api_error"}})

    client = anthropic.Anthropic(
        api_key=SECRET,
        max_retries=5,
        http_client=httpx.Client(transport=httpx.MockTransport(handle)),
    )
    chosen = AnthropicBackend(
        "c", client=client, retry=RetryPolicy(max_retries=1, base_delay=0.001)
    )
    with pytest.raises(BackendError) as raised:
        chosen.complete(compile_prompt(TASK, "red"), GenerationParams())
    assert (raised.value.status, raised.value.requests, len(seen)) == (500, 2, 2)


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="anthropic backend's mode must be json or tool"):
        AnthropicBackend("c", mode="json_schema")  # type: ignore[arg-type]


def test_missing_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(BackendError, match="ANTHROPIC_API_KEY"):
        AnthropicBackend("claude-test").complete(compile_prompt(TASK, "red"), GenerationParams())


def test_async_call() -> None:
    seen: list[httpx.Request] = []
    chosen = backend([httpx.Response(200, json=message([{"type": "text", "text": REPLY}]))], seen)
    reply = asyncio.run(chosen.acomplete(compile_prompt(TASK, "red"), GenerationParams()))
    assert reply.text == REPLY
    assert len(seen) == 1
