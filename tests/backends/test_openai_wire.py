"""OpenAI's chat API on the wire: request bodies per mode and dialect, replies read."""

from __future__ import annotations

from typing import Any

import pytest
from openai.types import Completion as SDKCompletion
from openai.types.chat import ChatCompletion

from promptkit import compile_batch, compile_prompt, load_task
from promptkit.backends import GenerationParams
from promptkit.backends.openai_wire import (
    MAX_STOPS,
    ChatOptions,
    read_completion,
    request,
    request_body,
)
from promptkit.errors import BackendError

TASK = load_task("apparel-search")
REPLY = '{"colour": "red"}'


def chat(**message: Any) -> dict[str, Any]:
    choice = {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", **message}}
    return {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": [choice]}


@pytest.mark.parametrize("dialect", ["vllm", "ollama"])
def test_vllm_and_ollama_get_the_prompts_own_schema_on_json_schema(dialect: Any) -> None:
    prompt = compile_batch(TASK, ["red top", "blue top"], layout="chat")
    path, body = request_body(prompt, GenerationParams(), ChatOptions("m", dialect=dialect))
    assert path == "/chat/completions"
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema"
    # The bare array the examples show, not OpenAI's object wrapper; no strict flag.
    assert fmt["json_schema"] == {"name": "apparel_search", "schema": prompt.json_schema}
    assert prompt.json_schema["type"] == "array"
    assert body["top_k"] == 20


def test_openai_gets_the_strict_object_rooted_schema() -> None:
    prompt = compile_batch(TASK, ["red top", "blue top"], layout="chat")
    _, body = request_body(prompt, GenerationParams(), ChatOptions("m"))
    named = body["response_format"]["json_schema"]
    assert named["schema"] == prompt.response_format["json_schema"]["schema"]
    assert named["schema"]["type"] == "object"
    assert named["strict"] is True


def test_completion_prompts_per_dialect() -> None:
    prompt = compile_prompt(TASK, "red top", layout="completion")
    params = GenerationParams()

    def fields(dialect: Any, mode: Any = "json_schema") -> dict[str, Any]:
        path, body = request_body(prompt, params, ChatOptions("m", mode, dialect))
        assert (path, body["prompt"]) == ("/completions", prompt.text)
        return {key: body[key] for key in ("response_format", "grammar") if key in body}

    vllm = fields("vllm")["response_format"]
    assert vllm == {
        "type": "json_schema",
        "json_schema": {"name": "apparel_search", "schema": prompt.json_schema},
    }
    assert fields("ollama") == {}  # Ollama's /v1/completions takes no format
    assert fields("ollama", "json_object") == {}
    assert set(fields("llama-cpp-python")) == {"grammar"}
    assert fields("llama-cpp-python", "json_object") == {}
    assert fields("vllm", "json_object") == {"response_format": {"type": "json_object"}}


def test_chat_only_clients_get_a_completion_prompt_as_one_user_turn() -> None:
    prompt = compile_prompt(TASK, "red top", layout="completion")
    path, body = request_body(prompt, GenerationParams(), ChatOptions("m", chat_only=True))
    assert path == "/chat/completions"
    assert body["messages"] == [{"role": "user", "content": prompt.text}]


def test_stops_are_cut_to_openais_limit_and_top_k_can_be_left_out() -> None:
    prompt = compile_prompt(TASK, "red top", layout="chat")
    params = GenerationParams(stop=tuple(f"END{n}" for n in range(6)))
    _, body = request_body(prompt, params, ChatOptions("m", top_k=False))
    assert len(body["stop"]) == MAX_STOPS
    assert "top_k" not in body


def test_a_request_reads_its_reply_with_its_model() -> None:
    prompt = compile_prompt(TASK, "red top")
    wire = request(prompt, GenerationParams(), ChatOptions("asked"))
    reply = wire.read({"choices": [{"message": {"content": REPLY}, "finish_reason": "stop"}]}, 0.5)
    assert (reply.text, reply.model, reply.latency, reply.requests) == (REPLY, "asked", 0.5, 1)


def test_the_sdks_objects_are_read_like_their_json() -> None:
    data = chat(content=REPLY)
    data["usage"] = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}
    from_json = read_completion(data, model="m")
    from_object = read_completion(ChatCompletion.model_validate(data), model="m")
    assert from_json == from_object
    assert (from_object.text, from_object.prompt_tokens, from_object.completion_tokens) == (
        REPLY,
        9,
        3,
    )
    text = {"id": "x", "object": "text_completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "text": REPLY, "finish_reason": "length"}]}  # fmt: skip
    assert read_completion(SDKCompletion.model_validate(text), model="m").truncated


def test_an_error_object_in_a_success_reply_is_retried_only_when_its_code_says_so() -> None:
    with pytest.raises(BackendError, match="HTTP 503") as raised:
        read_completion({"error": {"message": "busy", "code": 503}}, model="m")
    assert raised.value.retryable
    with pytest.raises(BackendError, match="bad prompt") as raised:
        read_completion({"error": {"message": "bad prompt", "code": "invalid"}}, model="m")
    assert not raised.value.retryable


def test_a_reply_of_another_shape_is_not_retried() -> None:
    with pytest.raises(BackendError, match="not a chat completion") as raised:
        read_completion({"choices": [{"message": {"tool_calls": [{"id": "c"}]}}]}, model="m")
    assert not raised.value.retryable
