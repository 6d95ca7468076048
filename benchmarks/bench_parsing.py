"""Benchmark: promptkit.parse against json_repair.loads + pydantic and pydantic's model_validate_json.

Run on demand: ``python benchmarks/bench_parsing.py``. For every reply of the
corpus (tests/output/corpus/replies.jsonl) it measures, in one run:

- recovery per class: the share of replies each contender turns into the
  expected value (pydantic alone recovers only valid JSON);
- time per reply, for valid and malformed replies, and the ratios against
  the baselines measured in the same run.

The machine may be shared, so the timing is made robust to noise: in each of
``ROUNDS`` rounds every contender is timed on every reply in turn
(interleaved, so a burst of load hits all of them alike), each sample a
loop of about ``SAMPLE_SECONDS``. A reply's time is its median over rounds;
a group's time is the median over its replies. Each ratio is taken per
round (the group's median time against the baseline's, from samples taken
back to back), then its median over rounds (a median of medians) is shown
with its lowest and highest round.

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

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "output" / "corpus" / "replies.jsonl"
ROUNDS = 15
SAMPLE_SECONDS = 0.002


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


def _calls(function: Callable[[str, promptkit.Task], Any], reply: str, task: Any) -> int:
    """Return how many calls make one sample of about SAMPLE_SECONDS."""
    count = 1
    while True:
        if _sample(function, reply, task, count) * count >= SAMPLE_SECONDS or count >= 10_000:
            return count
        count *= 2


def _sample(
    function: Callable[[str, promptkit.Task], Any], reply: str, task: Any, count: int
) -> float:
    start = time.perf_counter()
    for _ in range(count):
        with contextlib.suppress(Exception):
            function(reply, task)
    return (time.perf_counter() - start) / count


def _timings(rows: list[dict[str, Any]]) -> dict[str, list[list[float]]]:
    """Time every contender on every reply: ``[contender][reply][round]`` in seconds."""
    tasks = [promptkit.load_task(row["task"]) for row in rows]
    counts = {
        name: [_calls(function, row["reply"], task) for row, task in zip(rows, tasks, strict=True)]
        for name, function in CONTENDERS.items()
    }
    times: dict[str, list[list[float]]] = {name: [[] for _ in rows] for name in CONTENDERS}
    for _ in range(ROUNDS):
        for index, (row, task) in enumerate(zip(rows, tasks, strict=True)):
            for name, function in CONTENDERS.items():
                sample = _sample(function, row["reply"], task, counts[name][index])
                times[name][index].append(sample)
    return times


def _report_times(group: str, times: dict[str, list[list[float]]]) -> None:
    medians = {
        name: statistics.median(statistics.median(reply) for reply in replies) * 1e6
        for name, replies in times.items()
    }
    print(
        f"{group:<10} n={len(times['promptkit.parse']):<3}"
        + "  ".join(f"{name}={value:.1f}" for name, value in medians.items())
    )
    for baseline in ("pydantic.model_validate_json", "json_repair+pydantic"):
        per_round = [
            statistics.median(reply[r] for reply in times["promptkit.parse"])
            / statistics.median(reply[r] for reply in times[baseline])
            for r in range(ROUNDS)
        ]
        print(
            f"{'':<16}promptkit / {baseline}: {statistics.median(per_round):.2f}x"
            f" (rounds {min(per_round):.2f}x-{max(per_round):.2f}x)"
        )


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
    print(
        f"\ntime per reply (microseconds): median over {ROUNDS} interleaved rounds, "
        "then median over the replies of each group"
    )
    valid = [row for row in rows if row["class"] == "valid"]
    malformed = [row for row in rows if row["class"] != "valid"]
    for group, members in (("valid", valid), ("malformed", malformed)):
        _report_times(group, _timings(members))


if __name__ == "__main__":
    main()
