"""llama-cpp-python's OpenAI-compatible server with the bundled model, through the real openai SDK.

Which attributes the 270M model finds depends on the server's KV cache state
(what earlier tests left in it), so these tests assert what holds whatever
it answers: JSON of the schema, every attribute it keeps in the words of its
search, and the recipe of docs/backends.md working from the CLI.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import httpx
import pytest

from promptkit import compile_prompt, grounded, load_task
from promptkit.backends import GenerationParams, RetryPolicy
from promptkit.backends.openai import OpenAIBackend
from promptkit.errors import BackendError
from promptkit.execution import run

pytestmark = pytest.mark.integration

TASK = load_task("apparel-search")
PARAMS = GenerationParams(max_tokens=48, seed=0)
SEARCH = "red t shirts long sleeve 10yrs boy"
# The server shares the machine with whatever else runs: a reply is waited for, not timed.
PATIENT = RetryPolicy(timeout=900.0)
# Whatever the model answers, an attribute it keeps is words of its search.
EVERY_FIELD_GROUNDED = grounded(*TASK.output_model.model_fields)


def test_json_schema_mode_on_chat(llama_server: str) -> None:
    backend = OpenAIBackend(
        "gemma-3-270m", base_url=llama_server, dialect="llama-cpp-python", retry=PATIENT
    )
    prompt = compile_prompt(TASK, "black crew neck sweatshirt", layout="inline", shots=4)
    reply = backend.complete(prompt, PARAMS)
    value = json.loads(reply.text)  # the server's grammar holds the reply to the schema
    assert set(value) <= set(TASK.output_model.model_fields)
    assert reply.finish_reason in ("stop", "length")
    assert reply.prompt_tokens > 50


def test_prompt_only_mode_on_completions(llama_server: str) -> None:
    backend = OpenAIBackend("gemma-3-270m", base_url=llama_server, mode="text", retry=PATIENT)
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
    response = httpx.post(f"{llama_server}/completions", json=body, timeout=PATIENT.timeout)
    assert response.status_code == 200, response.text


def test_the_few_shot_apparel_task_end_to_end(llama_server: str) -> None:
    backend = OpenAIBackend(
        "gemma-3-270m",
        base_url=llama_server,
        dialect="llama-cpp-python",
        layout="completion",
        retry=PATIENT,
    )
    _forget_the_last_prompt(llama_server)
    result = run(TASK, SEARCH, backend=backend, params=PARAMS)
    assert result.ok, result.error
    assert isinstance(result.value, TASK.output_model)
    assert EVERY_FIELD_GROUNDED(result.value, result.input) == []
    assert result.attempts[0].completion is not None
    assert result.attempts[0].completion.model
    assert result.usage.calls >= len(result.attempts)  # a request retried under load counts too


def test_the_openai_dialect_is_refused_by_that_server(llama_server: str) -> None:
    backend = OpenAIBackend(
        "gemma-3-270m", base_url=llama_server, retry=RetryPolicy(max_retries=0, timeout=900.0)
    )
    prompt = compile_prompt(TASK, "black crew neck sweatshirt", layout="inline")
    with pytest.raises(BackendError, match="json_object") as raised:
        backend.complete(prompt, PARAMS)
    assert raised.value.status is not None


def _cli(llama_server: str, *options: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "promptkit", "run", "apparel-search",
               "--input", SEARCH, "--backend", "openai",
               "--model", "gemma-3-270m", "--base-url", llama_server,
               "--dialect", "llama-cpp-python", "--max-tokens", "48",
               "--timeout", "900", *options]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode in (0, 1), done.stderr  # 1: the model's answer did not parse
    (line,) = done.stdout.splitlines()
    return dict(json.loads(line))


@pytest.mark.parametrize("layout", ["inline", "completion"])
def test_the_cli_recipe_reaches_the_server(llama_server: str, layout: str) -> None:
    record = _cli(llama_server, "--layout", layout)
    assert record["error"] is None, record["error"]
    assert set(record["output"]) == set(TASK.output_model.model_fields)
    value = TASK.output_model.model_validate(record["output"])
    assert EVERY_FIELD_GROUNDED(value, TASK.input_model(search=SEARCH)) == [], record
    assert record["usage"]["calls"] >= 1
