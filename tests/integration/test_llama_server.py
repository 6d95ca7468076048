"""llama.cpp's OpenAI-compatible server with the bundled model, through the real openai SDK."""

from __future__ import annotations

import json

import httpx
import pytest

from promptkit import compile_prompt, grounded, load_task
from promptkit.backends import GenerationParams
from promptkit.backends.openai import OpenAIBackend
from promptkit.execution import run

pytestmark = pytest.mark.integration

TASK = load_task("apparel-search")
PARAMS = GenerationParams(max_tokens=48, seed=0)


def test_json_schema_mode_on_chat(llama_server: str) -> None:
    backend = OpenAIBackend("gemma-3-270m", base_url=llama_server, dialect="llama-cpp-python")
    prompt = compile_prompt(TASK, "black crew neck sweatshirt", layout="inline", shots=4)
    reply = backend.complete(prompt, PARAMS)
    value = json.loads(reply.text)  # the server's grammar holds the reply to the schema
    assert set(value) <= set(TASK.output_model.model_fields)
    assert reply.finish_reason in ("stop", "length")
    assert reply.prompt_tokens > 50


def test_prompt_only_mode_on_completions(llama_server: str) -> None:
    backend = OpenAIBackend("gemma-3-270m", base_url=llama_server, mode="text")
    prompt = compile_prompt(TASK, "black crew neck sweatshirt", layout="completion", shots=4)
    reply = backend.complete(prompt, PARAMS)
    assert reply.text.strip()
    assert "\n\n" not in reply.text  # the prompt's stop sequences were honoured
    assert reply.completion_tokens > 0


def _forget_the_last_prompt(llama_server: str) -> None:
    """Leave the server's KV cache holding a prompt that shares nothing with the task's.

    The server reuses the longest prefix of the last prompt it evaluated, and which
    attributes a 270M model finds shifts with how its KV cache was filled: after this,
    the next prompt is evaluated whole, whatever the tests before this one sent.
    """
    body = {"model": "gemma-3-270m", "prompt": "0", "max_tokens": 1, "temperature": 0}
    response = httpx.post(f"{llama_server}/completions", json=body, timeout=60)
    assert response.status_code == 200, response.text


def test_the_few_shot_apparel_task_end_to_end(llama_server: str) -> None:
    backend = OpenAIBackend(
        "gemma-3-270m", base_url=llama_server, dialect="llama-cpp-python", layout="completion"
    )
    search = "red t shirts long sleeve 10yrs boy"
    results = []
    for _ in range(2):
        _forget_the_last_prompt(llama_server)
        results.append(run(TASK, search, backend=backend, params=PARAMS))
    first, again = results
    assert first.ok, first.error
    assert isinstance(first.value, TASK.output_model)
    # Every attribute kept is words of the search (the task's grounded checks), and from
    # the same server state the same prompt gets the same reply.
    assert grounded(*TASK.output_model.model_fields)(first.value, first.input) == []
    assert again.value == first.value
    assert [a.completion.text for a in again.attempts if a.completion] == [
        a.completion.text for a in first.attempts if a.completion
    ]
    assert first.attempts[0].completion is not None
    assert first.attempts[0].completion.model
    assert first.usage.prompt_tokens > 50
