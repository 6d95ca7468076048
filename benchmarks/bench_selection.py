"""Example selection from a pool of 10,000 examples: time per item, against first-k.

The pool is made of the QueryNER apparel training searches, recombined with
a seeded generator into 10,000 distinct searches (the shape and vocabulary
of real ones); the queries are the dev searches. Measured in one run: the
index build (once per task), then per item ``first`` (the baseline),
``similar`` (BM25 over words and trigrams) and ``diverse`` (MMR), 8 shots,
and a whole 8-shot compile with ``similar``. Target: similar under 5 ms
per item. Reports, never asserts. Run: ``python benchmarks/bench_selection.py``.
"""

from __future__ import annotations

import json
import random
import statistics
import time
import timeit
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from promptkit import Example, Strategy, Task, compile_prompt
from promptkit.selection import example_index, select_examples

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "queryner-apparel"
POOL = 10_000
SHOTS = 8


class Attributes(BaseModel):
    colour: str | None = None
    type: str | None = None


def rows(name: str) -> list[dict[str, str | None]]:
    path = DATA / name
    if not path.exists():
        words = ["red", "long", "sleeve", "shirt", "dress", "navy", "socks", "mens", "kids"]
        rng = random.Random(name)
        return [{"search": " ".join(rng.sample(words, 4)), "type": "shirt"} for _ in range(200)]
    return [json.loads(line) for line in path.open(encoding="utf-8")]


def pool(train: list[dict[str, str | None]]) -> list[Example]:
    """Recombine training searches into POOL distinct searches, seeded."""
    rng = random.Random(0)
    vocabulary = sorted({word for row in train for word in str(row["search"]).split()})
    seen: set[str] = set()
    examples = []
    while len(examples) < POOL:
        base = rng.choice(train)
        words = str(base["search"]).split()
        words.insert(rng.randrange(len(words) + 1), rng.choice(vocabulary))
        search = " ".join(words)
        if search in seen:
            continue
        seen.add(search)
        examples.append(Example(search, {"colour": base.get("colour"), "type": base.get("type")}))
    return examples


def median_ms(call: Callable[[], object], number: int, repeat: int = 5) -> float:
    runs = timeit.repeat(call, number=number, repeat=repeat)
    return statistics.median(runs) / number * 1e3


def main() -> None:
    train, dev = rows("train.jsonl"), rows("dev.jsonl")
    task = Task(
        name="selection-bench",
        instructions="Find colour and type.",
        input_model="search",
        output_model=Attributes,
        examples=pool(train),
        strategy=Strategy(shots=SHOTS),
    )
    items = [task.make_input(str(row["search"])) for row in dev]
    started = time.perf_counter()
    example_index(task)
    build = (time.perf_counter() - started) * 1e3
    print(f"pool {len(task.examples)} examples, {len(items)} queries, {SHOTS} shots")
    print(f"index build (once per task): {build:.0f} ms")

    results = {}
    for selector in ("first", "similar", "diverse"):
        cycle = iter(range(10**9))

        def select(selector: str = selector, cycle: object = cycle) -> object:
            item = items[next(cycle) % len(items)]  # type: ignore[call-overload]
            return select_examples(task, [item], shots=SHOTS, selector=selector)  # type: ignore[arg-type]

        results[selector] = median_ms(select, number=len(items))
    cycle = iter(range(10**9))

    def compile_similar() -> object:
        search = str(dev[next(cycle) % len(dev)]["search"])
        return compile_prompt(task, search, selector="similar")

    results["compile 8-shot similar"] = median_ms(compile_similar, number=len(items))
    baseline = results["first"]
    print(f"{'per item':<26}{'median ms':>10}{'x first':>10}")
    for name, value in results.items():
        print(f"{name:<26}{value:>10.3f}{value / baseline:>10.1f}")
    verdict = "meets" if results["similar"] < 5 else "misses"
    print(f"similar {results['similar']:.2f} ms per item {verdict} the 5 ms target")


if __name__ == "__main__":
    main()
