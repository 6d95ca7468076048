"""Benchmark: promptkit.parse against json_repair.loads + pydantic and pydantic's model_validate_json.

Run on demand: ``python benchmarks/bench_parsing.py``. For every reply of the
corpus (tests/corpus/replies.jsonl) it measures, in one run:

- recovery per class: the share of replies each contender turns into the
  expected value (pydantic alone recovers only valid JSON);
- time per reply: the median over repeats, for valid and malformed replies,
  and the ratios against the baselines measured in the same run.

It prints numbers; it asserts nothing about time.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import json_repair
from pydantic import BaseModel

import promptkit

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "corpus" / "replies.jsonl"
REPEATS = 200


def _promptkit(reply: str, task: promptkit.Task) -> Any:
    return promptkit.parse(reply, task)


def _json_repair(reply: str, task: promptkit.Task) -> Any:
    return task.output_model.model_validate(json_repair.loads(reply))


def _pydantic(reply: str, task: promptkit.Task) -> Any:
    return task.output_model.model_validate_json(reply)


CONTENDERS: dict[str, Callable[[str, promptkit.Task], Any]] = {
    "promptkit.parse": _promptkit,
    "json_repair+pydantic": _json_repair,
    "pydantic.model_validate_json": _pydantic,
}


def _recovers(function: Callable[[str, promptkit.Task], Any], row: dict[str, Any]) -> bool:
    task = promptkit.load_task(row["task"])
    try:
        value = function(row["reply"], task)
    except Exception:
        return False
    return isinstance(value, BaseModel) and value.model_dump(mode="json") == row["expected"]


def _time(function: Callable[[str, promptkit.Task], Any], row: dict[str, Any]) -> float:
    task = promptkit.load_task(row["task"])
    reply = row["reply"]
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(REPEATS):
            with contextlib.suppress(Exception):
                function(reply, task)
        samples.append((time.perf_counter() - start) / REPEATS)
    return statistics.median(samples)


def main() -> None:
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line]
    classes = sorted({row["class"] for row in rows})
    print(f"corpus: {len(rows)} replies in {len(classes)} classes ({CORPUS.name})\n")
    header = f"{'class':<16} {'n':>3}" + "".join(f" {name:>29}" for name in CONTENDERS)
    print(header)
    totals: dict[str, int] = defaultdict(int)
    for cls in classes:
        members = [row for row in rows if row["class"] == cls]
        cells = []
        for name, function in CONTENDERS.items():
            hits = sum(_recovers(function, row) for row in members)
            totals[name] += hits
            cells.append(
                f" {hits:>3}/{len(members):<3} {100 * hits / len(members):>5.0f}%".rjust(30)
            )
        print(f"{cls:<16} {len(members):>3}" + "".join(cells))
    print(
        f"{'all':<16} {len(rows):>3}"
        + "".join(
            f" {totals[name]:>3}/{len(rows):<3} {100 * totals[name] / len(rows):>5.0f}%".rjust(30)
            for name in CONTENDERS
        )
    )
    print("\nmedian time per reply (microseconds), median over replies of each group")
    for group, members in (
        ("valid", [row for row in rows if row["class"] == "valid"]),
        ("malformed", [row for row in rows if row["class"] != "valid"]),
    ):
        medians = {
            name: statistics.median(_time(function, row) for row in members) * 1e6
            for name, function in CONTENDERS.items()
        }
        ours = medians["promptkit.parse"]
        print(
            f"{group:<10} "
            + "  ".join(f"{name}={value:.1f}" for name, value in medians.items())
            + f"  | promptkit/pydantic={ours / medians['pydantic.model_validate_json']:.2f}x"
            + f"  promptkit/json_repair={ours / medians['json_repair+pydantic']:.2f}x"
        )


if __name__ == "__main__":
    main()
