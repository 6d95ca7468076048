"""llama.cpp's OpenAI-compatible server with the bundled model, through the real openai SDK."""

from __future__ import annotations

import json

import pytest

from promptkit import compile_prompt, load_task
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


def test_the_few_shot_apparel_task_end_to_end(llama_server: str) -> None:
    backend = OpenAIBackend(
        "gemma-3-270m", base_url=llama_server, dialect="llama-cpp-python", layout="completion"
    )
    result = run(TASK, "red t shirts long sleeve 10yrs boy", backend=backend, params=PARAMS)
    assert result.ok, result.error
    assert result.value.colour == "red"
    assert result.attempts[0].completion is not None
    assert result.attempts[0].completion.model
