"""Per-call overhead of the openai backend, against instructor and the bare openai SDK.

Every contender sends the same apparel-search 8-shot chat request (18
messages, JSON mode) through the same ``httpx.MockTransport`` returning one
canned reply, so what is measured is the client-side cost of a call: the
network and the model are taken away. Contenders, in one run:

- ``httpx POST`` (floor): the prepared body posted with a bare httpx client;
- ``openai SDK``: ``client.chat.completions.create(messages=..., response_format=...)``;
- ``instructor JSON``: ``instructor.from_openai(client, mode=JSON)`` with ``response_model``;
- ``promptkit call``: ``OpenAIBackend.complete`` (the prepared body through the
  SDK's own ``client.post``, no per-call conversion of the message parameters);
- ``promptkit run``: the whole ``run()``: compile, call, parse, typed result.

Target: ``promptkit run`` at most a quarter of instructor's time per call.
Prints medians of repeated blocks and ratios, and the Python function calls
one call makes (counted with ``sys.setprofile``: the same on a busy machine,
where times are not); never asserts.
Run: ``python benchmarks/bench_call_overhead.py [--calls N]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
import instructor
from openai import OpenAI

from promptkit import compile_prompt, load_task
from promptkit.backends import GenerationParams, RetryPolicy
from promptkit.backends.openai import OpenAIBackend
from promptkit.execution import run

SEARCH = "red t shirts long sleeve 10yrs boy"
REPLY_TEXT = '{"colour": "red", "sleeve": "long sleeve", "type": "t shirts", "neck": null}'
REPLY = json.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": REPLY_TEXT},
            }
        ],
        "usage": {"prompt_tokens": 420, "completion_tokens": 24, "total_tokens": 444},
    }
).encode()


def transport() -> httpx.MockTransport:
    def reply(request: httpx.Request) -> httpx.Response:
        request.read()
        return httpx.Response(200, content=REPLY, headers={"content-type": "application/json"})

    return httpx.MockTransport(reply)


def sdk_client() -> OpenAI:
    return OpenAI(
        api_key="sk-bench",
        base_url="http://127.0.0.1:9/v1",
        max_retries=0,
        http_client=httpx.Client(transport=transport()),
    )


def contenders() -> dict[str, Callable[[], Any]]:
    task = load_task("apparel-search")
    prompt = compile_prompt(task, SEARCH, shots=8, layout="chat")
    messages: list[Any] = [{"role": m.role, "content": m.content} for m in prompt.messages]
    params = GenerationParams()
    backend = OpenAIBackend(
        "gpt-4o-mini",
        base_url="http://127.0.0.1:9/v1",
        mode="json_object",
        retry=RetryPolicy(max_retries=0),
        client=sdk_client(),
    )
    path, body = backend.request_body(prompt, params)
    raw = httpx.Client(transport=transport(), base_url="http://127.0.0.1:9/v1")
    bare = sdk_client()
    patched = instructor.from_openai(sdk_client(), mode=instructor.Mode.JSON)
    sampling = {"temperature": 0.05, "top_p": 0.8, "max_tokens": 500}

    def post() -> Any:
        return raw.post(path, json=body).json()

    def sdk() -> Any:
        return bare.chat.completions.create(
            model="gpt-4o-mini",
            messages=messages,
            response_format={"type": "json_object"},
            **sampling,  # type: ignore[arg-type]
        )

    def with_instructor() -> Any:
        return patched.chat.completions.create(
            model="gpt-4o-mini",
            messages=messages,
            response_model=task.output_model,
            max_retries=1,
            **sampling,
        )

    def call() -> Any:
        return backend.complete(prompt, params)

    def whole_run() -> Any:
        return run(task, SEARCH, backend=backend, shots=8, layout="chat").value

    same = (whole_run(), with_instructor())
    assert same[0].model_dump() == same[1].model_dump(), same  # the same answer from both
    return {
        "httpx POST (floor)": post,
        "openai SDK": sdk,
        "instructor JSON": with_instructor,
        "promptkit call": call,
        "promptkit run": whole_run,
    }


def per_call(function: Callable[[], Any], calls: int, blocks: int) -> float:
    for _ in range(20):
        function()
    times = []
    for _ in range(blocks):
        start = time.perf_counter()
        for _ in range(calls):
            function()
        times.append((time.perf_counter() - start) / calls)
    return statistics.median(times)


def python_calls(function: Callable[[], Any]) -> int:
    """Count the Python and C function calls one call of ``function`` makes."""
    function()  # warm: first-call caches are not counted
    count = 0

    def profile(frame: Any, event: str, arg: Any) -> None:
        nonlocal count
        count += event in ("call", "c_call")

    sys.setprofile(profile)
    try:
        function()
    finally:
        sys.setprofile(None)
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100, help="calls per timed block")
    parser.add_argument("--blocks", type=int, default=7, help="timed blocks (median taken)")
    args = parser.parse_args()
    functions = contenders()
    measured = {name: per_call(f, args.calls, args.blocks) for name, f in functions.items()}
    counted = {name: python_calls(f) for name, f in functions.items()}
    baseline = measured["instructor JSON"]
    print(f"apparel-search 8-shot (18 messages), MockTransport, median of {args.blocks} blocks")
    print(f"{'contender':<22}{'ms/call':>10}{'vs instructor':>16}{'function calls':>16}")
    for name, seconds in measured.items():
        print(f"{name:<22}{seconds * 1000:>10.3f}{seconds / baseline:>15.2f}x{counted[name]:>16}")
    ratio = measured["promptkit run"] / baseline
    verdict = "met" if ratio <= 0.25 else "NOT met"
    print(f"target promptkit run <= 0.25x instructor: {ratio:.2f}x ({verdict})")


if __name__ == "__main__":
    main()
