"""Batch runs over files: memory while streaming, and what packing buys on the local model.

Two parts, both reported, never asserted:

- ``memory``: peak RSS of a run streaming N lines through a scripted backend
  (in-process, answers every batch prompt from its items, records nothing),
  at batch size 16, for N = 100,000 and N = 1,000,000, each in a fresh
  process. Baseline: the 100,000-line run. Flat means the ratio stays near 1.
- ``local``: apparel-search on the embedded local backend over 200 searches
  of ``../shared/data/queryner-apparel`` (train and dev, seeded sample, the
  task's own examples left out), at batch sizes 1, 8 and 16 with the same
  shots: prompt tokens per item, items per second and field accuracy
  (exact match after lower-casing, null counts as a value). Baseline: batch
  size 1. No cache, concurrency 1 (the model is one CPU process). Two
  example set-ups, each its own table: the task's own examples, first 8
  (every prompt shares its prefix, which the warm KV cache serves), and 8
  similar examples from the train pool (a search is never among its own
  examples), the set-up of the best evaluation, where prompts differ.

Run: ``python benchmarks/bench_jobs.py [memory|local] [--lines N] [--items N]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from promptkit import Example, load_task
from promptkit._types import Layout
from promptkit.backends.base import Completion, GenerationParams
from promptkit.evaluation.comparison import load_labelled
from promptkit.jobs.runner import JobOptions, run_job
from promptkit.prompt import Prompt

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "queryner-apparel"
FIELDS = ("colour", "sleeve", "type", "neck")
_ITEM = re.compile(r'^(\d+)\. (".*")$', re.MULTILINE)


class EchoBackend:
    """A scripted backend for volume: answers every item of a prompt, keeps no record."""

    name = "scripted:echo"
    layout: Layout | None = "chat"

    def complete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        query = prompt.messages[-1].content
        items = _ITEM.findall(query)
        if items:
            reply = [{"id": int(n), "type": json.loads(s).split()[-1]} for n, s in items]
            text = json.dumps(reply)
        else:
            text = json.dumps({"type": query.rsplit(" ", 1)[-1].strip('"')})
        return Completion(text, "stop", len(query) // 4, len(text) // 4)

    async def acomplete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        return self.complete(prompt, params)


def memory_child(lines: int) -> None:
    """Run one streaming job in this process and print its peak RSS in MB and its speed."""
    task = load_task("apparel-search")
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "in.txt"
        with source.open("w", encoding="utf-8") as handle:
            for number in range(lines):
                handle.write(f"red long sleeve shirt size {number}\n")
        started = time.perf_counter()
        summary = run_job(
            task,
            source,
            Path(folder) / "out.jsonl",
            EchoBackend(),
            options=JobOptions(batch_size=16, concurrency=2),
            shots=2,
        )
        elapsed = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"lines": lines, "items": summary.items, "failed": summary.failed,
                      "peak_mb": peak_kb / 1024, "items_per_s": summary.items / elapsed}))  # fmt: skip


def memory(lines: int) -> None:
    runs = []
    for count in (lines // 10, lines):
        result = subprocess.run(
            [sys.executable, __file__, "memory-child", "--lines", str(count)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        runs.append(json.loads(result.stdout.strip().splitlines()[-1]))
    base = runs[0]
    print("memory: streaming through a scripted backend, batch size 16, concurrency 2")
    print(f"{'lines':>10} {'items':>10} {'failed':>7} {'peak MB':>8} {'items/s':>9} {'vs base':>8}")
    for run in runs:
        ratio = run["peak_mb"] / base["peak_mb"]
        print(f"{run['lines']:>10} {run['items']:>10} {run['failed']:>7} "
              f"{run['peak_mb']:>8.1f} {run['items_per_s']:>9.0f} {ratio:>7.2f}x")  # fmt: skip


def sample(count: int, exclude: set[str]) -> list[dict[str, Any]]:
    rows = []
    for name in ("train.jsonl", "dev.jsonl"):
        with (DATA / name).open(encoding="utf-8") as handle:
            rows += [json.loads(line) for line in handle if line.strip()]
    rows = [row for row in rows if row["search"].lower() not in exclude]
    return random.Random(7).sample(rows, count)


def norm(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def local(items: int) -> None:
    from promptkit.backends.local import LocalBackend

    task = load_task("apparel-search")
    shown = {str(example.input.model_dump()["search"]).lower() for example in task.examples}
    rows = sample(items, shown)
    train = tuple(
        Example(item.input, item.expected) for item in load_labelled(task, DATA / "train.jsonl")
    )
    backend = LocalBackend()
    backend.load()
    setups = {
        "own examples, first 8": (task, "first"),
        "train pool, similar 8": (
            dataclasses.replace(
                task, examples=train, strategy=dataclasses.replace(task.strategy, pinned=0)
            ),
            "similar",
        ),
    }
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "in.jsonl"
        source.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        for title, (variant, selector) in setups.items():
            print(f"local: apparel-search, {title}, {items} searches, {backend.name}")
            print(f"{'batch':>5} {'prompt tok/item':>15} {'vs 1':>6} {'items/s':>8} {'vs 1':>6} "
                  f"{'field acc %':>11} {'vs 1 (pts)':>10} {'failed':>6} {'calls':>6}",
                  flush=True)  # fmt: skip
            base: dict[str, float] = {}
            for size in (1, 8, 16):
                out = Path(folder) / f"out-{selector}-{size}.jsonl"
                started = time.perf_counter()
                summary = run_job(
                    variant, source, out, backend, options=JobOptions(batch_size=size),
                    shots=8, selector=selector,
                )  # fmt: skip
                elapsed = time.perf_counter() - started
                lines = out.read_text(encoding="utf-8").splitlines()
                records = [json.loads(line) for line in lines]
                right = sum(
                    norm((record["output"] or {}).get(name)) == norm(rows[record["index"]][name])
                    for record in records
                    for name in FIELDS
                )
                r = {
                    "tokens": summary.prompt_tokens / len(records),
                    "rate": len(records) / elapsed,
                    "accuracy": 100 * right / (len(records) * len(FIELDS)),
                }
                base = base or r
                print(f"{size:>5} {r['tokens']:>15.1f} {base['tokens'] / r['tokens']:>5.2f}x "
                      f"{r['rate']:>8.3f} {r['rate'] / base['rate']:>5.2f}x {r['accuracy']:>11.1f} "
                      f"{r['accuracy'] - base['accuracy']:>+10.1f} {summary.failed:>6} "
                      f"{summary.calls:>6}", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", nargs="?", default="all", choices=["all", "memory", "local",
                                                                    "memory-child"])  # fmt: skip
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=200)
    args = parser.parse_args()
    if args.part == "memory-child":
        memory_child(args.lines)
        return
    if args.part in ("all", "memory"):
        memory(args.lines)
    if args.part in ("all", "local"):
        local(args.items)


if __name__ == "__main__":
    main()
