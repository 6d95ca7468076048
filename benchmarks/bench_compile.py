"""Compile time: a 6-shot single-input prompt and a batch of 50, against a hand-built floor.

The floor is what a hand-written prompt costs per call: the instructions and
examples joined once, then one ``json.dumps`` of the search per call. Target:
under 100 µs per single-input compile. Run: ``python benchmarks/bench_compile.py``.
"""

from __future__ import annotations

import json
import statistics
import timeit
from collections.abc import Callable
from pathlib import Path

from promptkit import compile_batch, compile_prompt, load_task

DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "queryner-apparel" / "dev.jsonl"


def searches() -> list[str]:
    if DEV.exists():
        return [json.loads(line)["search"] for line in DEV.open(encoding="utf-8")]
    return [f"red t shirt size {number}" for number in range(91)]


def median_us(call: Callable[[], object], number: int, repeat: int = 7) -> float:
    runs = timeit.repeat(call, number=number, repeat=repeat)
    return statistics.median(runs) / number * 1e6


def main() -> None:
    task = load_task("apparel-search")
    texts = searches()
    fixed = compile_prompt(task, "x", shots=6, layout="chat").messages[:-1]
    cycle = iter(range(10**9))

    def floor() -> object:
        search = texts[next(cycle) % len(texts)]
        return [*fixed, {"role": "user", "content": "Search: " + json.dumps(search)}]

    def single() -> object:
        return compile_prompt(task, texts[next(cycle) % len(texts)], shots=6, layout="chat")

    batch_inputs = (texts * 2)[:50]

    def batch() -> object:
        return compile_batch(task, batch_inputs, shots=6, layout="chat")

    floor_us = median_us(floor, 20000)
    single_us = median_us(single, 5000)
    batch_us = median_us(batch, 500)
    print("compile time, apparel-search, 6 shots, chat layout (median of 7 runs)")
    print(f"  hand-built floor, one search     {floor_us:8.1f} µs")
    print(
        f"  compile_prompt, one search       {single_us:8.1f} µs  ({single_us / floor_us:.1f}x floor; target < 100 µs)"
    )
    print(
        f"  compile_batch, 50 searches       {batch_us:8.1f} µs  ({batch_us / 50:.1f} µs per search)"
    )


if __name__ == "__main__":
    main()
