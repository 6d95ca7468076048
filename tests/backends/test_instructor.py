"""instructor interop: a promptkit task through an instructor client, at the HTTP boundary."""

from __future__ import annotations

import json
from typing import Any

import httpx
import instructor
import pytest
from openai import OpenAI

from promptkit import load_task
from promptkit.backends.instructor import InstructorBackend
from promptkit.errors import BackendError
from promptkit.execution import run

TASK = load_task("apparel-search")


def reply(content: str | None, **message: Any) -> dict[str, Any]:
    return {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content, **message},
            }
        ],
        "usage": {"prompt_tokens": 50, "completion_tokens": 9, "total_tokens": 59},
    }


def client(answers: list[httpx.Response], seen: list[dict[str, Any]], mode: Any) -> Any:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return answers.pop(0)

    openai_client = OpenAI(
        api_key="sk-test",
        base_url="http://127.0.0.1:9/v1",
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(handle)),
    )
    return instructor.from_openai(openai_client, mode=mode)


def test_json_mode_client_runs_a_task_with_promptkit_repair_and_reask() -> None:
    seen: list[dict[str, Any]] = []
    answers = [
        httpx.Response(
            200, json=reply("Sure! ```json\n{'colour': 'red', 'type': 't shirts',}\n```")
        ),
    ]
    backend = InstructorBackend(client(answers, seen, instructor.Mode.JSON), model="m")
    result = run(TASK, "red t shirts", backend=backend, layout="chat")
    assert result.value.model_dump() == {
        "colour": "red",
        "sleeve": None,
        "type": "t shirts",
        "neck": None,
    }
    assert result.report is not None
    assert result.report.of_kind("repair")  # promptkit repaired what instructor would re-ask
    (body,) = seen
    assert body["response_format"] == {"type": "json_object"}
    assert body["messages"][0]["role"] == "system"
    assert len(body["messages"]) > 3  # the task's few-shot turns


def test_tools_mode_reads_the_tool_arguments() -> None:
    seen: list[dict[str, Any]] = []
    call = {
        "id": "c",
        "type": "function",
        "function": {"name": "f", "arguments": '{"type": "hat"}'},
    }
    answers = [httpx.Response(200, json=reply(None, tool_calls=[call]))]
    backend = InstructorBackend(client(answers, seen, instructor.Mode.TOOLS), model="m")
    result = run(TASK, "hat", backend=backend)
    assert result.value.type == "hat"
    assert seen[0]["tool_choice"]["type"] == "function"
    assert result.usage.prompt_tokens == 50


def test_provider_errors_become_backend_errors() -> None:
    seen: list[dict[str, Any]] = []
    answers = [httpx.Response(503, json={"error": {"message": "down"}})]
    backend = InstructorBackend(client(answers, seen, instructor.Mode.JSON), model="m")
    result = run(TASK, "hat", backend=backend)
    assert isinstance(result.error, BackendError)
    assert (result.error.status, result.error.retryable) == (503, True)
    with pytest.raises(BackendError):
        _ = result.value


def test_an_anthropic_client_gets_the_anthropic_backends_request() -> None:
    import anthropic
    import httpx2

    from promptkit import compile_prompt
    from promptkit.backends import GenerationParams
    from promptkit.backends.anthropic_wire import MessagesOptions, request_body

    seen: list[dict[str, Any]] = []
    block = {"type": "tool_use", "id": "t", "name": "apparel_search", "input": {"type": "hat"}}
    answer = {
        "id": "m",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": [block],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 30, "output_tokens": 4},
    }

    def handle(request: httpx2.Request) -> httpx2.Response:
        seen.append(json.loads(request.content))
        return httpx2.Response(200, json=answer)

    sdk = anthropic.Anthropic(
        api_key="sk-ant-test",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handle)),
    )
    chosen = InstructorBackend(
        instructor.from_anthropic(sdk, mode=instructor.Mode.TOOLS), model="claude-test"
    )
    prompt = compile_prompt(TASK, "hat", layout="chat")
    params = GenerationParams(stop=("\n\n", "END"))
    reply = chosen.complete(prompt, params)
    expected, _ = request_body(prompt, params, MessagesOptions("claude-test", "tool"))
    assert seen[0]["tools"] == expected["tools"]
    assert seen[0]["tool_choice"] == expected["tool_choice"]
    assert seen[0]["messages"] == expected["messages"]
    assert seen[0]["stop_sequences"] == expected["stop_sequences"]
    assert not {"temperature", "top_p", "top_k"} & set(seen[0])  # refused by API 2026-10-21
    # A forced tool call's stop reason is an ordinary end, not a cut-off.
    assert (json.loads(reply.text), reply.finish_reason) == ({"type": "hat"}, "stop")


def test_an_openai_client_gets_the_openai_backends_stop_limit() -> None:
    from promptkit import compile_prompt
    from promptkit.backends import GenerationParams
    from promptkit.backends.openai_wire import MAX_STOPS

    seen: list[dict[str, Any]] = []
    answers = [httpx.Response(200, json=reply('{"type": "hat"}'))]
    backend = InstructorBackend(client(answers, seen, instructor.Mode.JSON_SCHEMA), model="m")
    stops = tuple(f"END{n}" for n in range(6))
    backend.complete(compile_prompt(TASK, "hat", layout="chat"), GenerationParams(stop=stops))
    assert len(seen[0]["stop"]) == MAX_STOPS
    assert seen[0]["response_format"]["type"] == "json_schema"
