"""The openai backend at the HTTP boundary (httpx.MockTransport), through the real SDK."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from promptkit import compile_batch, compile_prompt, load_task
from promptkit.backends import GenerationParams, RetryPolicy
from promptkit.backends.openai import OpenAIBackend, is_strict_compatible
from promptkit.errors import BackendError

TASK = load_task("apparel-search")
SECRET = "sk-test-secret-value"
REPLY = '{"colour": "red", "type": "t shirts"}'


def chat_reply(text: str = REPLY, finish: str = "stop", **message: Any) -> dict[str, Any]:
    return {
        "id": "x",
        "object": "chat.completion",
        "model": "served-model",
        "choices": [
            {
                "index": 0,
                "finish_reason": finish,
                "message": {"role": "assistant", "content": text, **message},
            }
        ],
        "usage": {
            "prompt_tokens": 120,
            "completion_tokens": 12,
            "total_tokens": 132,
            "prompt_tokens_details": {"cached_tokens": 100},
        },
    }


class Recorder:
    """A MockTransport handler that records requests and answers from a list."""

    def __init__(self, *answers: httpx.Response | Callable[[httpx.Request], httpx.Response]):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer(request) if callable(answer) else answer

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(request.content) for request in self.requests]


def backend(recorder: Recorder, **options: Any) -> OpenAIBackend:
    options.setdefault("base_url", "http://127.0.0.1:9/v1")
    options.setdefault("retry", RetryPolicy(base_delay=0.001, max_delay=0.01))
    return OpenAIBackend(
        "my-model",
        http_client=httpx.Client(transport=httpx.MockTransport(recorder)),
        async_http_client=httpx.AsyncClient(transport=httpx.MockTransport(recorder)),
        **options,
    )


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)


def test_json_schema_mode_sends_the_prompt_and_a_strict_schema() -> None:
    recorder = Recorder(httpx.Response(200, json=chat_reply()))
    prompt = compile_prompt(TASK, "red t shirts", layout="chat")
    reply = backend(recorder).complete(prompt, GenerationParams(seed=3))
    (request,) = recorder.requests
    body = recorder.bodies[0]
    assert request.url.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert body["messages"] == [{"role": m.role, "content": m.content} for m in prompt.messages]
    assert body["response_format"]["type"] == "json_schema"
    schema = prompt.response_format["json_schema"]["schema"]
    assert body["response_format"]["json_schema"]["schema"] == schema
    assert body["response_format"]["json_schema"]["strict"] is is_strict_compatible(schema)
    assert body["response_format"]["json_schema"]["strict"] is True
    assert (body["temperature"], body["top_p"], body["top_k"], body["max_tokens"]) == (
        0.05,
        0.8,
        20,
        500,
    )
    assert body["seed"] == 3
    assert (reply.text, reply.finish_reason, reply.model) == (REPLY, "stop", "served-model")
    assert (reply.prompt_tokens, reply.completion_tokens, reply.cached_tokens) == (120, 12, 100)


def test_openai_itself_gets_no_top_k_and_the_new_token_field() -> None:
    recorder = Recorder(httpx.Response(200, json=chat_reply()))
    prompt = compile_prompt(TASK, "red t shirts")
    backend(recorder, base_url="https://api.openai.com/v1").complete(prompt, GenerationParams())
    body = recorder.bodies[0]
    assert "top_k" not in body
    assert "max_tokens" not in body
    assert body["max_completion_tokens"] == 500


def test_strictness_follows_what_the_schema_allows() -> None:
    closed = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "required": ["a"],
        "additionalProperties": False,
    }
    assert is_strict_compatible(closed)
    assert not is_strict_compatible({**closed, "required": []})
    assert not is_strict_compatible({**closed, "additionalProperties": True})
    assert not is_strict_compatible({"type": "array", "items": {**closed, "required": []}})


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("text", set()), ("json_object", {"response_format"}), ("tool", {"tools", "tool_choice"})],
)
def test_output_modes(mode: Any, expected: set[str]) -> None:
    recorder = Recorder(httpx.Response(200, json=chat_reply()))
    prompt = compile_prompt(TASK, "red t shirts")
    backend(recorder, mode=mode).complete(prompt, GenerationParams())
    body = recorder.bodies[0]
    assert {"response_format", "tools", "tool_choice"} & set(body) == expected
    if mode == "json_object":
        assert body["response_format"] == {"type": "json_object"}
    if mode == "tool":
        schema = prompt.response_format["json_schema"]["schema"]
        assert body["tools"][0]["function"]["parameters"] == schema
        assert body["tool_choice"]["function"]["name"] == body["tools"][0]["function"]["name"]


def test_a_tool_call_reply_is_read_from_its_arguments() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": REPLY}}
    recorder = Recorder(httpx.Response(200, json=chat_reply(None, tool_calls=[call])))  # type: ignore[arg-type]
    reply = backend(recorder, mode="tool").complete(
        compile_prompt(TASK, "red t shirts"), GenerationParams()
    )
    assert reply.text == REPLY


def test_a_batch_schema_is_wrapped_in_an_object_for_the_api() -> None:
    recorder = Recorder(httpx.Response(200, json=chat_reply()))
    prompt = compile_batch(TASK, ["red top", "blue top"])
    backend(recorder).complete(prompt, GenerationParams())
    schema = recorder.bodies[0]["response_format"]["json_schema"]["schema"]
    assert schema["type"] == "object"
    assert schema["properties"]["items"]["type"] == "array"


def test_completion_layout_goes_to_completions_with_its_stops() -> None:
    completion = {
        "model": "m",
        "choices": [{"index": 0, "text": REPLY, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3},
    }
    recorder = Recorder(httpx.Response(200, json=completion))
    prompt = compile_prompt(TASK, "red t shirts", layout="completion")
    reply = backend(recorder, mode="text").complete(prompt, GenerationParams())
    assert recorder.requests[0].url.path == "/v1/completions"
    assert recorder.bodies[0]["prompt"] == prompt.text
    assert recorder.bodies[0]["stop"] == list(prompt.stop)
    assert reply.truncated


def test_llama_cpp_python_dialect_puts_the_schema_on_json_object() -> None:
    recorder = Recorder(httpx.Response(200, json=chat_reply()))
    prompt = compile_prompt(TASK, "red t shirts")
    backend(recorder, dialect="llama-cpp-python").complete(prompt, GenerationParams())
    assert recorder.bodies[0]["response_format"] == {
        "type": "json_object",
        "schema": prompt.json_schema,
    }


def test_an_unknown_mode_or_dialect_is_refused() -> None:
    with pytest.raises(ValueError, match="mode must be text, json_object, json_schema or tool"):
        OpenAIBackend("m", mode="json")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dialect must be openai, llama-cpp-python, vllm or"):
        OpenAIBackend("m", dialect="tgi")  # type: ignore[arg-type]


def test_the_repr_names_what_shapes_the_request_and_no_key() -> None:
    chosen = OpenAIBackend("m", base_url="http://127.0.0.1:9/v1", dialect="vllm")
    assert repr(chosen) == (
        "OpenAIBackend(model='m', base_url='http://127.0.0.1:9/v1', mode='json_schema', "
        "dialect='vllm')"
    )


def test_transient_errors_are_retried_then_succeed() -> None:
    recorder = Recorder(
        httpx.Response(429, headers={"retry-after": "0"}, json={"error": {"message": "slow"}}),
        httpx.Response(503, json={"error": {"message": "down"}}),
        httpx.Response(200, json=chat_reply()),
    )
    reply = backend(recorder).complete(compile_prompt(TASK, "red"), GenerationParams())
    assert (reply.text, reply.requests, reply.usage.calls) == (REPLY, 3, 3)
    assert len(recorder.requests) == 3


def test_client_errors_are_not_retried_and_never_show_the_key() -> None:
    recorder = Recorder(httpx.Response(401, json={"error": {"message": "bad key"}}))
    chosen = backend(recorder)
    with pytest.raises(BackendError) as raised:
        chosen.complete(compile_prompt(TASK, "red"), GenerationParams())
    assert (raised.value.status, raised.value.retryable) == (401, False)
    assert "API key" in str(raised.value)
    assert len(recorder.requests) == 1
    assert SECRET not in str(raised.value)
    assert SECRET not in repr(chosen)


def test_a_body_that_is_not_json_is_a_clear_error_and_not_retried() -> None:
    recorder = Recorder(httpx.Response(200, text="<html>login</html>"))
    with pytest.raises(BackendError, match="not JSON") as raised:
        backend(recorder).complete(compile_prompt(TASK, "red"), GenerationParams())
    assert "base URL" in str(raised.value)
    assert raised.value.status == 200
    assert (raised.value.retryable, raised.value.requests, len(recorder.requests)) == (False, 1, 1)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (httpx.Response(200, text='{"id": "x", "choices": [{"index": 0, "mess'), "cut off"),
        (httpx.Response(200, text=""), "empty body"),
        (httpx.Response(200, json={"id": "x", "choices": []}), "no choices"),
        (httpx.Response(200, json=chat_reply(None)), "no content"),  # type: ignore[arg-type]
    ],
)
def test_a_reply_cut_off_or_empty_is_retried_and_says_so(
    answer: httpx.Response, message: str
) -> None:
    recorder = Recorder(answer, httpx.Response(200, json=chat_reply()))
    reply = backend(recorder).complete(compile_prompt(TASK, "red"), GenerationParams())
    assert (reply.text, reply.requests, len(recorder.requests)) == (REPLY, 2, 2)
    # The same fault every time: given up after the retries, a retryable error saying what.
    always = Recorder(answer)
    with pytest.raises(BackendError, match=message) as raised:
        backend(always).complete(compile_prompt(TASK, "red"), GenerationParams())
    assert (raised.value.retryable, raised.value.requests, len(always.requests)) == (True, 3, 3)
    assert "base URL" not in str(raised.value)


def test_a_reply_cut_off_before_any_content_is_a_truncated_completion() -> None:
    recorder = Recorder(httpx.Response(200, json=chat_reply(None, "length")))  # type: ignore[arg-type]
    reply = backend(recorder).complete(compile_prompt(TASK, "red"), GenerationParams())
    assert (reply.text, reply.truncated, len(recorder.requests)) == ("", True, 1)


def test_a_refusal_is_named_in_the_error() -> None:
    answer = chat_reply(None, refusal="I cannot help with that.")  # type: ignore[arg-type]
    recorder = Recorder(httpx.Response(200, json=answer))
    chosen = backend(recorder, retry=RetryPolicy(max_retries=0))
    with pytest.raises(BackendError, match="I cannot help with that"):
        chosen.complete(compile_prompt(TASK, "red"), GenerationParams())


def test_no_key_for_openai_itself_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(BackendError, match="OPENAI_API_KEY"):
        OpenAIBackend("gpt-4o-mini").complete(compile_prompt(TASK, "red"), GenerationParams())


def test_a_local_server_needs_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    recorder = Recorder(httpx.Response(200, json=chat_reply()))
    backend(recorder).complete(compile_prompt(TASK, "red"), GenerationParams())
    assert recorder.requests[0].headers["authorization"].startswith("Bearer sk-no-key")


def test_async_calls_send_the_same_body() -> None:
    recorder = Recorder(httpx.Response(200, json=chat_reply()))
    chosen = backend(recorder)
    prompt = compile_prompt(TASK, "red t shirts")
    reply = asyncio.run(chosen.acomplete(prompt, GenerationParams()))
    assert (reply.text, reply.requests) == (REPLY, 1)
    assert recorder.bodies[0] == chosen.request_body(prompt, GenerationParams())[1]


def test_async_calls_retry_and_count_their_requests() -> None:
    recorder = Recorder(
        httpx.Response(500, json={"error": {"message": "down"}}),
        httpx.Response(200, json=chat_reply()),
    )
    reply = asyncio.run(
        backend(recorder).acomplete(compile_prompt(TASK, "red"), GenerationParams())
    )
    assert (reply.text, reply.requests, len(recorder.requests)) == (REPLY, 2, 2)


def test_a_backend_pickles_with_its_settings_and_builds_its_own_clients() -> None:
    import pickle

    backend = OpenAIBackend("gpt-4o-mini", base_url="http://127.0.0.1:9/v1", mode="json_object")
    prompt = compile_prompt(load_task("apparel-search"), "red shirt")
    before = backend.request(prompt, GenerationParams()).body
    backend.sdk_client()  # a built client (and its lock) are not pickled
    copy = pickle.loads(pickle.dumps(backend))
    assert copy.request(prompt, GenerationParams()).body == before
    assert copy.sdk_client() is not backend.sdk_client()
    assert str(copy.sdk_client().base_url) == "http://127.0.0.1:9/v1/"
