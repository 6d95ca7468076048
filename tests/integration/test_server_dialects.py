"""The vLLM and Ollama recipes of docs/backends.md, run from the CLI against their wire on loopback.

Neither server can run here, so each is played by a loopback server that
reads a request as that server documents it and answers as its
grammar-constrained decoder would:

- vLLM (docs/features/structured_outputs.md; ``CompletionRequest`` and
  ``ChatCompletionRequest`` in its OpenAI protocol) takes ``response_format``
  ``{"type": "json_schema", "json_schema": {"name", "schema"}}`` on chat and
  on completions, and holds the reply to that schema, of any root.
- Ollama (``openai/openai.go``, ``FromChatRequest``) turns a chat
  request's ``response_format`` into its ``format``: ``"json"`` for
  ``json_object``, the schema itself for ``json_schema``; its
  ``/v1/completions`` has no format field (unknown fields are ignored).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from loopback import Answer, Loopback, Seen, chat_completion, serving, text_completion

from promptkit import compile_batch, compile_prompt, load_task

pytestmark = pytest.mark.integration

TASK = load_task("apparel-search")
SEARCHES = ["silk party dress", "cargo pants olive"]
RESPONSE_FORMATS = ("text", "json_object", "json_schema", "structural_tag")  # vLLM's


def constrained(schema: dict[str, Any]) -> Any:
    """A value of ``schema`` as a constrained decoder might write it: longest choice, else null."""
    if "prefixItems" in schema:
        return [constrained(item) for item in schema["prefixItems"]]
    value = {}
    for name, field in schema.get("properties", {}).items():
        if "const" in field:
            value[name] = field["const"]
        elif "enum" in field:
            value[name] = max((c for c in field["enum"] if c), key=len, default=None)
        else:
            value[name] = None
    return value


def vllm(seen: Seen) -> Answer:
    """vLLM's OpenAI-compatible server: a json_schema response format holds the reply."""
    fmt = seen.body.get("response_format") or {"type": "text"}
    if fmt["type"] not in RESPONSE_FORMATS:
        return Answer(400, {"object": "error", "message": f"bad response_format {fmt['type']!r}"})
    text = "I think it is a top."
    if fmt["type"] == "json_schema":
        schema = fmt["json_schema"]["schema"]
        value = constrained(schema)
        jsonschema.validate(value, schema)
        text = json.dumps(value)
    if seen.path.endswith("/completions") and "prompt" in seen.body:
        return Answer(200, text_completion(text))
    return Answer(200, chat_completion(text))


def ollama(seen: Seen) -> Answer:
    """Ollama's /v1 endpoints: response_format becomes its format (chat only)."""
    if seen.path.endswith("/v1/completions"):
        return Answer(200, text_completion('{"type": "top"}'))  # no format: the prompt alone
    fmt = seen.body.get("response_format") or {}
    ollama_format: Any = None
    if fmt.get("type") == "json_object":
        ollama_format = "json"
    elif fmt.get("type") == "json_schema":
        ollama_format = fmt["json_schema"]["schema"]
    seen.body["ollama_format"] = ollama_format  # what Ollama hands its decoder, for the test
    text = json.dumps(constrained(ollama_format)) if isinstance(ollama_format, dict) else "top"
    if ollama_format == "json":  # any JSON value
        text = '{"type": "top"}'
    return Answer(200, chat_completion(text))


@pytest.fixture
def vllm_server() -> Iterator[Loopback]:
    with serving(vllm) as server:
        yield server


@pytest.fixture
def ollama_server() -> Iterator[Loopback]:
    with serving(ollama) as server:
        yield server


def promptkit_run(server: Loopback, *options: str) -> list[dict[str, Any]]:
    command = [sys.executable, "-m", "promptkit", "run", "apparel-search",
               "--backend", "openai", "--model", "served", "--base-url", f"{server.root}/v1",
               *options]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_vllm_recipe_holds_a_batch_to_the_prompts_own_schema(vllm_server: Loopback) -> None:
    records = promptkit_run(vllm_server, "--dialect", "vllm", "--batch-size", "2",
                            "--input", SEARCHES[0], "--input", SEARCHES[1])  # fmt: skip
    assert [record["output"]["type"] for record in records] == ["silk party dress", "cargo pants"]
    (seen,) = vllm_server.seen
    assert seen.path == "/v1/chat/completions"
    named = seen.body["response_format"]["json_schema"]
    assert named["schema"] == compile_batch(TASK, SEARCHES).json_schema  # the bare array
    assert seen.body["top_k"] == 20


def test_vllm_recipe_for_a_base_model_on_completions(vllm_server: Loopback) -> None:
    (record,) = promptkit_run(vllm_server, "--dialect", "vllm", "--layout", "completion",
                              "--input", SEARCHES[0])  # fmt: skip
    assert record["output"]["type"] == "silk party dress"
    (seen,) = vllm_server.seen
    prompt = compile_prompt(TASK, SEARCHES[0], layout="completion")
    assert (seen.path, seen.body["prompt"]) == ("/v1/completions", prompt.text)
    assert seen.body["response_format"]["json_schema"]["schema"] == prompt.json_schema


def test_ollama_recipe_hands_ollama_the_prompts_own_schema_as_its_format(
    ollama_server: Loopback,
) -> None:
    records = promptkit_run(ollama_server, "--dialect", "ollama", "--batch-size", "2",
                            "--input", SEARCHES[0], "--input", SEARCHES[1])  # fmt: skip
    assert [record["output"]["type"] for record in records] == ["silk party dress", "cargo pants"]
    (seen,) = ollama_server.seen
    assert seen.body["ollama_format"] == compile_batch(TASK, SEARCHES).json_schema


def test_ollama_json_object_mode_is_its_json_format(ollama_server: Loopback) -> None:
    (record,) = promptkit_run(ollama_server, "--dialect", "ollama", "--mode", "json_object",
                              "--input", "red top")  # fmt: skip
    assert record["output"]["type"] == "top"
    assert ollama_server.seen[0].body["ollama_format"] == "json"


def test_ollama_completions_get_no_format_field(ollama_server: Loopback) -> None:
    (record,) = promptkit_run(ollama_server, "--dialect", "ollama", "--layout", "completion",
                              "--input", "red top")  # fmt: skip
    assert record["output"]["type"] == "top"
    (seen,) = ollama_server.seen
    assert seen.path == "/v1/completions"
    assert not {"response_format", "format", "grammar"} & set(seen.body)
