"""Benchmark: promptkit.parse against json_repair.loads + pydantic and pydantic's model_validate_json.

Run on demand: ``python benchmarks/bench_parsing.py``. For every reply of the
corpus (tests/output/corpus/*.jsonl: promptkit's own cases and the cases
ported from json_repair's, BAML's, jsonrepair's (JavaScript) and LangChain's
test suites, each with the model it is parsed into) it measures, in one run:

- recovery per class and per source: the share of replies each contender
  gives the expected outcome for (the expected output, or a refusal where
  the corpus expects one); pydantic alone recovers only valid JSON;
- time per reply, for valid and malformed replies (and the malformed ones
  json_repair + pydantic recovers too, where both do the same work), and the
  ratios against the baselines measured in the same run.

The machine may be shared, so the timing is made robust to noise: in each of
``ROUNDS`` rounds every contender is timed on every reply in turn
(interleaved, so a burst of load hits all of them alike), each sample a
loop of about ``SAMPLE_SECONDS``. A reply's time is its median over rounds;
a group's time is the median over its replies. Each ratio is taken per
round (the group's median time against the baseline's, from samples taken
back to back), then its median over rounds (a median of medians) is shown
with its lowest and highest round. As load only ever adds time, the ratio of
each reply's fastest rounds is shown too, as its median over the replies:
on a busy machine it is the steadier of the two.

It prints numbers; it asserts nothing about time.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import json_repair

import promptkit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "output"))
import corpus_cases

ROUNDS = 15
SAMPLE_SECONDS = 0.002


def _promptkit(reply: str, into: Any) -> Any:
    return promptkit.parse(reply, into)


def _json_repair(reply: str, into: Any) -> Any:
    return _model(into).model_validate(json_repair.loads(reply))


def _pydantic(reply: str, into: Any) -> Any:
    return _model(into).model_validate_json(reply)


def _model(into: Any) -> Any:
    return into.output_model if isinstance(into, promptkit.Task) else into


CONTENDERS: dict[str, Callable[[str, Any], Any]] = {
    "promptkit.parse": _promptkit,
    "json_repair+pydantic": _json_repair,
    "pydantic.model_validate_json": _pydantic,
}


def _recovers(function: Callable[[str, Any], Any], case: corpus_cases.Case) -> bool:
    try:
        value = function(case.reply, case.into)
    except Exception as error:  # every contender's failure counts as its refusal
        value = error
    return corpus_cases.outcome(case, value)


def _calls(function: Callable[[str, Any], Any], reply: str, task: Any) -> int:
    """Return how many calls make one sample of about SAMPLE_SECONDS."""
    count = 1
    while True:
        if _sample(function, reply, task, count) * count >= SAMPLE_SECONDS or count >= 10_000:
            return count
        count *= 2


def _sample(function: Callable[[str, Any], Any], reply: str, task: Any, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        with contextlib.suppress(Exception):
            function(reply, task)
    return (time.perf_counter() - start) / count


def _timings(cases: list[corpus_cases.Case]) -> dict[str, list[list[float]]]:
    """Time every contender on every reply: ``[contender][reply][round]`` in seconds."""
    counts = {
        name: [_calls(function, case.reply, case.into) for case in cases]
        for name, function in CONTENDERS.items()
    }
    times: dict[str, list[list[float]]] = {name: [[] for _ in cases] for name in CONTENDERS}
    for _ in range(ROUNDS):
        for index, case in enumerate(cases):
            for name, function in CONTENDERS.items():
                sample = _sample(function, case.reply, case.into, counts[name][index])
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
        # Load only ever adds time, so a reply's fastest round is the closest to its cost.
        fastest = [
            min(ours) / min(theirs)
            for ours, theirs in zip(times["promptkit.parse"], times[baseline], strict=True)
        ]
        print(
            f"{'':<16}promptkit / {baseline}: {statistics.median(per_round):.2f}x"
            f" (rounds {min(per_round):.2f}x-{max(per_round):.2f}x);"
            f" fastest rounds: median over replies {statistics.median(fastest):.2f}x"
        )


def _table(title: str, groups: dict[str, list[corpus_cases.Case]]) -> None:
    print(f"{title:<16} {'n':>3}" + "".join(f" {name:>29}" for name in CONTENDERS))
    totals: dict[str, int] = defaultdict(int)
    count = 0
    for group, members in sorted(groups.items()):
        cells = []
        for name, function in CONTENDERS.items():
            hits = sum(_recovers(function, case) for case in members)
            totals[name] += hits
            cells.append(
                f" {hits:>3}/{len(members):<3} {100 * hits / len(members):>5.0f}%".rjust(30)
            )
        count += len(members)
        print(f"{group:<16} {len(members):>3}" + "".join(cells))
    print(
        f"{'all':<16} {count:>3}"
        + "".join(
            f" {totals[name]:>3}/{count:<3} {100 * totals[name] / count:>5.0f}%".rjust(30)
            for name in CONTENDERS
        )
    )
    print()


def main() -> None:
    cases = corpus_cases.load()
    by_class: dict[str, list[corpus_cases.Case]] = defaultdict(list)
    by_source: dict[str, list[corpus_cases.Case]] = defaultdict(list)
    for case in cases:
        by_class[case.cls].append(case)
        by_source[case.source.split()[0]].append(case)
    declined = sum(bool(case.declined) for case in cases)
    gaps = sum(bool(case.gap) for case in cases)
    print(
        f"corpus: {len(cases)} replies in {len(by_class)} classes "
        f"({', '.join(corpus_cases.FILES)}); {declined} peer cases declined, {gaps} gaps\n"
    )
    _table("class", by_class)
    _table("source", by_source)
    print(
        f"time per reply (microseconds): median over {ROUNDS} interleaved rounds, "
        "then median over the replies of each group"
    )
    valid = [case for case in cases if case.cls == "valid"]
    malformed = [case for case in cases if case.cls != "valid"]
    # The malformed replies json_repair + pydantic also recovers: where both do the same work.
    both = [
        case
        for case in malformed
        if _recovers(_promptkit, case) and _recovers(_json_repair, case) and not case.error
    ]
    for group, members in (("valid", valid), ("malformed", malformed), ("both", both)):
        _report_times(group, _timings(members))


if __name__ == "__main__":
    main()
