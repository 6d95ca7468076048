"""apparel-search on the QueryNER dev set with the embedded model: zero-shot against few-shot.

Runs each configuration on the same 91 dev searches with one local backend
(the model is loaded once) and prints a markdown row per configuration as
it finishes: micro precision, recall and F1, per-field accuracy, items
with all fields right, items per second and tokens per item. The
configurations are the steps of docs/evaluation.md, each changing one
thing from the step above it; ``bundled`` steps are the task as shipped.
The training pool is read from ../shared at run time, never copied into
the project.

Run: ``python benchmarks/eval_apparel.py`` (every step), ``--only a,b`` for
some, in that order, ``--limit 10`` for a smoke run, ``--threads N``
(default 2), ``--out DIR`` to keep each configuration's full comparison
(every item and raw reply) as JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from promptkit import Example, Task, load_task
from promptkit.backends.base import GenerationParams
from promptkit.backends.local import LocalBackend
from promptkit.checks import Check, grounded
from promptkit.evaluation.comparison import (
    Configuration,
    ItemRun,
    evaluate,
    item_run_of,
    load_labelled,
)
from promptkit.execution import run

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "queryner-apparel"


@dataclass(frozen=True)
class Step:
    """One configuration: how the task, the prompt and the sampling differ from the defaults."""

    name: str
    configuration: Configuration
    pool: bool = False  # select examples from train.jsonl instead of the task's own
    temperature: float | None = None  # None: the task's own (the blog's 0.05 before "bundled")
    change: Callable[[Task], Task] | None = None


# The blog's instructions, which the task had before the wording step.
BLOG = (
    "We are trying to clean the ecommerce retail searches into a clear set of attributes, "
    "each written as the search names it. "
    "Leave out any attribute the search does not name; never guess."
)
AFTER = grounded("colour", "type", on_fail="null")
WHILE = grounded("colour", "type", on_fail="null", constrain=True)


def variant(checks: tuple[Check, ...]) -> Callable[[Task], Task]:
    """The task before the wording step: these checks, the blog's instructions and sampling."""

    def change(task: Task) -> Task:
        return dataclasses.replace(
            task, checks=checks, instructions=BLOG, generation=GenerationParams()
        )

    return change


S8, S12, S16 = (Configuration(shots, "similar") for shots in (8, 12, 16))
# Each step changes one thing from the step above it; "bundled" is the task as shipped.
STEPS = [
    Step("zero", Configuration(0), change=variant(())),
    Step("first8", Configuration(8), change=variant(())),
    Step("similar8_train", S8, pool=True, change=variant(())),
    Step("grounded_after", S8, pool=True, change=variant((AFTER,))),
    Step("grounded_while", S8, pool=True, change=variant((WHILE,))),
    Step("similar12", S12, pool=True, change=variant((WHILE,))),
    Step("bundled_similar12", S12, pool=True),
    Step("bundled_similar12_t005", S12, pool=True, temperature=0.05),
    Step("bundled_similar8", S8, pool=True),
    Step("bundled_similar16", S16, pool=True),
    Step("bundled_zero", Configuration(0)),
    Step("bundled_first8", Configuration(8)),
    Step("bundled_own_similar8", S8),
]


def runner_for(step: Step) -> Callable[[Task, BaseModel, Any], ItemRun]:
    """Run one input with the task's sampling, or the step's temperature."""

    def run_one(task: Task, value: BaseModel, backend: Any) -> ItemRun:
        params = task.generation
        if step.temperature is not None:
            params = params.replace(temperature=step.temperature)
        return item_run_of(run(task, value, backend=backend, params=params))

    return run_one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated step names, run in that order")
    parser.add_argument("--limit", type=int, help="the first N dev items only")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads")
    parser.add_argument("--out", type=Path, help="write each comparison as JSON here")
    args = parser.parse_args()
    steps = STEPS
    if args.only:
        wanted = args.only.split(",")
        unknown = set(wanted) - {step.name for step in STEPS}
        if unknown:
            parser.error(f"unknown steps {sorted(unknown)}; known: {[s.name for s in STEPS]}")
        steps = [step for name in wanted for step in STEPS if step.name == name]

    task = load_task("apparel-search")
    items = load_labelled(task, DATA / "dev.jsonl")[: args.limit]
    train = tuple(
        Example(item.input, item.expected) for item in load_labelled(task, DATA / "train.jsonl")
    )
    backend = LocalBackend(n_threads=args.threads)
    backend.load()
    fields = tuple(task.output_model.model_fields)
    print(
        "| step | configuration | micro P | micro R | micro F1 | "
        + " | ".join(f"{name} acc" for name in fields)
        + " | all fields | items/s | tokens/item (prompt + completion) |",
        flush=True,
    )
    print("|---" * (8 + len(fields)) + "|", flush=True)
    for step in steps:
        variant = dataclasses.replace(task, examples=train) if step.pool else task
        if step.change is not None:
            variant = step.change(variant)
        started = time.perf_counter()
        comparison = evaluate(
            variant,
            items,
            backend,
            [step.configuration],
            runner=runner_for(step),
            data=str(DATA / "dev.jsonl"),
        )
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / f"{step.name}.json").write_text(comparison.to_json(), encoding="utf-8")
        s = comparison.results[0].summary
        accuracy = " | ".join(f"{s.fields[name].accuracy:.3f}" for name in fields)
        print(
            f"| {step.name} | {step.configuration.name} | {s.micro.precision:.3f} | "
            f"{s.micro.recall:.3f} | {s.micro.f1:.3f} | {accuracy} | {s.all_correct:.3f} | "
            f"{s.items_per_second:.3f} | {s.prompt_tokens:.0f} + {s.completion_tokens:.1f} | "
            f"<!-- wall {time.perf_counter() - started:.0f} s -->",
            flush=True,
        )


if __name__ == "__main__":
    main()
