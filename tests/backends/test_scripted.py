"""The scripted test double: replies from a queue, records every call."""

from __future__ import annotations

import asyncio

import pytest

from promptkit import compile_prompt, load_task
from promptkit.backends import Completion, GenerationParams, ScriptedBackend
from promptkit.errors import BackendError


def test_replies_in_order_and_records_prompts_and_params() -> None:
    task = load_task("apparel-search")
    backend = ScriptedBackend(["one", Completion("two", "length", 5, 1, "m")], layout="completion")
    first = compile_prompt(task, "red shirt")
    second = compile_prompt(task, "blue shirt")
    params = GenerationParams(max_tokens=9)
    assert backend.complete(first, params).text == "one"
    reply = backend.complete(second, GenerationParams())
    assert (reply.text, reply.truncated) == ("two", True)
    assert backend.prompts == [first, second]
    assert backend.calls[0].params.max_tokens == 9
    assert backend.layout == "completion"
    assert backend.remaining == 0


def test_functions_and_errors_in_the_script() -> None:
    task = load_task("apparel-search")
    prompt = compile_prompt(task, "red shirt")
    backend = ScriptedBackend(
        [lambda p, params: f"max={params.max_tokens}", BackendError("boom", status=503)]
    )
    assert backend.complete(prompt, GenerationParams(max_tokens=7)).text == "max=7"
    with pytest.raises(BackendError, match="boom"):
        asyncio.run(backend.acomplete(prompt, GenerationParams()))
    with pytest.raises(BackendError, match="no reply left for call 3") as raised:
        backend.complete(prompt, GenerationParams())
    assert raised.value.retryable is False
