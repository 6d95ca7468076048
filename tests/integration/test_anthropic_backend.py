"""The anthropic backend through the SDK's own default client, against a Messages API on loopback.

No client is injected: ``AnthropicBackend(model, base_url=...)`` builds
``anthropic.Anthropic`` (and ``AsyncAnthropic``) with the SDK's defaults,
as ``promptkit run --backend anthropic`` does.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
from anthropic_server import KEY, MessagesAPI
from loopback import Loopback, serving

from promptkit import compile_batch, compile_prompt, load_task
from promptkit.backends import GenerationParams, RetryPolicy
from promptkit.backends.anthropic import AnthropicBackend
from promptkit.errors import BackendError
from promptkit.execution import run, run_many

pytestmark = pytest.mark.integration

TASK = load_task("apparel-search")
FAST = RetryPolicy(max_retries=2, base_delay=0.01, max_delay=5.0, timeout=10.0)


@pytest.fixture
def api() -> MessagesAPI:
    return MessagesAPI()


@pytest.fixture
def server(api: MessagesAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[Loopback]:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    with serving(api) as served:
        yield served


def backend(server: Loopback, **options: object) -> AnthropicBackend:
    return AnthropicBackend("claude-test", base_url=server.root, retry=FAST, **options)  # type: ignore[arg-type]


def test_json_mode_runs_the_task_through_the_default_client(server: Loopback) -> None:
    result = run(TASK, "red t shirts", backend=backend(server), layout="chat")
    assert result.value.colour == "red"
    assert result.value.type == "t shirts"
    (seen,) = server.seen
    assert KEY in (seen.headers.get("x-api-key"), seen.headers.get("authorization", "")[7:])
    # anthropic 2.x sends API version 2026-10-21, which takes no sampling parameters.
    assert seen.headers["anthropic-version"] >= "2026-10-21"
    assert not {"temperature", "top_p", "top_k"} & set(seen.body)
    assert "python" in seen.headers["user-agent"].lower()  # the SDK's own client sent it
    assert seen.body["system"]
    assert seen.body["messages"][-1]["content"].endswith('"red t shirts"')
    assert "tools" not in seen.body
    assert result.usage.calls == 1
    assert result.usage.prompt_tokens > 0


def test_tool_mode_forces_the_tool_and_a_batch_comes_back_in_its_wrapper(
    server: Loopback, api: MessagesAPI
) -> None:
    first, second = compile_batch(TASK, ["red top", "blue jeans"]).item_ids  # after the examples
    api.reply = json.dumps(
        {
            "items": [
                {"id": first, "colour": "red"},
                {"id": second, "colour": "blue", "type": "jeans"},
            ]
        }
    )
    results = run_many(
        TASK, ["red top", "blue jeans"], backend=backend(server, mode="tool"), batch_size=2
    )
    assert [result.value.colour for result in results] == ["red", "blue"]
    (seen,) = server.seen
    (tool,) = seen.body["tools"]
    assert seen.body["tool_choice"] == {"type": "tool", "name": tool["name"]}
    assert tool["input_schema"]["properties"]["items"]["type"] == "array"


def test_prefill_opens_the_assistant_turn(server: Loopback) -> None:
    reply = backend(server, prefill=True).complete(compile_prompt(TASK, "red"), GenerationParams())
    assert json.loads(reply.text)["colour"] == "red"
    assert server.seen[0].body["messages"][-1] == {"role": "assistant", "content": "{"}


def test_async_calls_use_the_default_async_client(server: Loopback) -> None:
    prompt = compile_batch(TASK, ["red top"], layout="chat")
    reply = asyncio.run(backend(server).acomplete(prompt, GenerationParams()))
    assert reply.finish_reason == "stop"
    assert len(server.seen) == 1


def test_overloaded_is_retried_with_the_requests_counted(
    server: Loopback, api: MessagesAPI
) -> None:
    api.faults = [529, 529]
    reply = backend(server).complete(compile_prompt(TASK, "red"), GenerationParams())
    assert (reply.requests, reply.usage.calls, len(server.seen)) == (3, 3, 3)


def test_a_bad_request_is_not_retried_and_says_what_the_api_said(server: Loopback) -> None:
    with pytest.raises(BackendError) as raised:
        AnthropicBackend("", base_url=server.root, retry=FAST).complete(
            compile_prompt(TASK, "red"), GenerationParams()
        )
    assert (raised.value.status, raised.value.retryable, len(server.seen)) == (400, False, 1)
    assert "model: Field required" in str(raised.value)


def test_a_wrong_key_is_a_clear_error_that_never_shows_it(
    server: Loopback, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-wrong-key")
    with pytest.raises(BackendError, match="check the API key") as raised:
        backend(server).complete(compile_prompt(TASK, "red"), GenerationParams())
    assert (raised.value.status, len(server.seen)) == (401, 1)
    assert "sk-ant-wrong-key" not in str(raised.value)


def test_the_cli_runs_the_anthropic_backend(server: Loopback) -> None:
    command = [sys.executable, "-m", "promptkit", "run", "apparel-search",
               "--input", "red t shirts", "--backend", "anthropic", "--model", "claude-test",
               "--base-url", server.root, "--mode", "tool"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["output"]["colour"] == "red"
    assert record["usage"]["calls"] == 1
    assert server.seen[0].body["tool_choice"]["type"] == "tool"
