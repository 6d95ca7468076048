"""The embedded local backend: throughput with the KV cache kept warm, against caching defeated.

apparel-search, 6-shot, completion layout (instructions and examples first,
the search last), the first ``--items`` searches of the QueryNER apparel dev
set, on the bundled Gemma 3 270M. Six runs of the same searches in one
process, on one loaded model:

- ``cache defeated`` (baseline): the KV cache is reset before every call, so
  every prompt token is evaluated;
- ``warm KV cache``: llama.cpp reuses the prefix the previous prompt shares.
- ``no fast-forward``: warm KV cache, but every token sampled, the ones the
  grammar forces too (``LocalBackend(fast_forward=False)``);
- ``batch 8`` and ``batch 8, no ff``: the same, eight searches per prompt,
  their replies decoded side by side;
- ``batch 8, one array``: eight searches per prompt, the reply decoded as
  one array, item after item (``LocalBackend(parallel=False)``).

Prints items per second, prompt tokens served from the cache, and the
ratios. Then what a decoding step costs: one llama.cpp batch holding one
token (with its logits) for each of 1, 8 and 16 streams forked from a
prompt, the way a batch prompt's items are decoded side by side; baseline:
one stream. Never asserts. Run:
``python benchmarks/bench_local.py [--items 50]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from promptkit import load_task
from promptkit.backends import GenerationParams
from promptkit.backends.local import LocalBackend
from promptkit.execution import run_many

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "queryner-apparel" / "dev.jsonl"


def searches(count: int) -> list[str]:
    with DATA.open(encoding="utf-8") as lines:
        found = [json.loads(line)["search"] for line in lines if line.strip()]
    if len(found) < count:
        raise SystemExit(f"{DATA} has {len(found)} searches, fewer than {count}")
    return found[:count]


def measure(
    backend: LocalBackend, items: list[str], max_tokens: int, batch_size: int = 1
) -> dict[str, float]:
    task = load_task("apparel-search")
    params = GenerationParams(max_tokens=max_tokens * batch_size, seed=0)
    started = time.perf_counter()
    results = run_many(
        task, items, backend=backend, params=params, shots=6, reasks=0, batch_size=batch_size
    )
    elapsed = time.perf_counter() - started
    prompt = sum(result.usage.prompt_tokens for result in results)
    cached = sum(result.usage.cached_tokens for result in results)
    return {
        "items/s": len(items) / elapsed,
        "seconds": elapsed,
        "prompt tokens": prompt,
        "from cache": cached,
        "ok": sum(result.ok for result in results),
    }


def step_costs(backend: LocalBackend, repeats: int = 20) -> dict[int, float]:
    """Time one decoding step of N streams after a 300-token prompt: seconds per step, by N."""
    loaded = backend._loaded()  # the backend's own context, as its decode loop drives it
    context, model = loaded.context, loaded.model
    text = "Search: red t shirts long sleeve\nAttributes: " * 25
    prompt = model.tokenize(text.encode("utf-8"), add_bos=True, special=False)
    context.forget()
    costs = {}
    for streams in (1, 8, 16):
        sequences = range(streams)
        spent = 0.0
        for _ in range(repeats):
            _, rows = context.start(prompt, sequences)  # all held: the last token again
            context.decode(rows)
            step = [(prompt[-1], len(prompt), (sequence,), True) for sequence in sequences]
            started = time.perf_counter()
            context.decode(step)
            spent += time.perf_counter() - started
            context.end(sequences)
        costs[streams] = spent / repeats
    context.forget()
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    items = searches(args.items)
    warm = LocalBackend(n_threads=args.threads)
    cold = LocalBackend(n_threads=args.threads, cache_prompt=False)
    sampled = LocalBackend(n_threads=args.threads, fast_forward=False)
    one_array = LocalBackend(n_threads=args.threads, parallel=False)
    warm.load()  # the same model for all: loading is not measured
    runs = {
        "cache defeated": measure(cold, items, args.max_tokens),
        "warm KV cache": measure(warm, items, args.max_tokens),
        "no fast-forward": measure(sampled, items, args.max_tokens),
        "batch 8": measure(warm, items, args.max_tokens, batch_size=8),
        "batch 8, no ff": measure(sampled, items, args.max_tokens, batch_size=8),
        "batch 8, one array": measure(one_array, items, args.max_tokens, batch_size=8),
    }
    print(f"apparel-search 6-shot, {args.items} dev searches, local {warm.model}")
    print(f"{'run':<20}{'items/s':>9}{'seconds':>9}{'prompt tok':>12}{'from cache':>12}{'ok':>5}")
    for name, row in runs.items():
        print(
            f"{name:<20}{row['items/s']:>9.2f}{row['seconds']:>9.1f}{row['prompt tokens']:>12.0f}"
            f"{row['from cache']:>12.0f}{row['ok']:>5.0f}"
        )
    base, fast = runs["cache defeated"], runs["warm KV cache"]
    share = fast["from cache"] / fast["prompt tokens"] if fast["prompt tokens"] else 0.0
    print(
        f"warm cache: {fast['items/s'] / base['items/s']:.2f}x; {share:.0%} of prompt tokens cached"
    )
    for with_ff, without in (("warm KV cache", "no fast-forward"), ("batch 8", "batch 8, no ff")):
        ratio = runs[with_ff]["items/s"] / runs[without]["items/s"]
        print(f"fast-forward, {with_ff}: {ratio:.2f}x sampling every token")
    ratio = runs["batch 8"]["items/s"] / runs["batch 8, one array"]["items/s"]
    print(f"batch 8, items side by side: {ratio:.2f}x one array")
    costs = step_costs(warm)
    print("one decoding step (one token with its logits per stream):")
    for streams, seconds in costs.items():
        speed = streams * costs[1] / seconds
        print(f"{streams:>3} streams: {seconds * 1000:6.1f} ms, {speed:.2f}x the tokens/s of one")


if __name__ == "__main__":
    main()
