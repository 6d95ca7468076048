"""apparel-search on the QueryNER dev set with the embedded model: zero-shot against few-shot.

Runs each configuration on the same 91 dev searches with one local backend
(the model is loaded once; one llama.cpp thread by default, as the
machine's 2 cores are shared) and prints a markdown row per configuration
as it finishes: micro precision, recall and F1, per-field accuracy, items
with all fields right, items per second and tokens per item. The
configurations are the steps of docs/evaluation.md, each changing one
thing from the step it names. The training pool is read from ../shared at
run time, never copied into the project.

Run: ``python benchmarks/eval_apparel.py`` (the measured steps), ``--only a,b``
for others or some, in that order, ``--limit 10`` for a smoke run, ``--out DIR`` to keep each
configuration's full comparison (every item and raw reply) as JSON.
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
from promptkit.checks import grounded
from promptkit.evaluation import Configuration, ItemRun, evaluate, item_run_of, load_labelled
from promptkit.run import run
from promptkit.task import Layout

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "queryner-apparel"


@dataclass(frozen=True)
class Step:
    """One configuration: how the task, the prompt and the sampling differ from the defaults."""

    name: str
    configuration: Configuration
    pool: bool = False  # select examples from train.jsonl instead of the task's own
    temperature: float | None = None  # None: GenerationParams' default (0.05)
    grammar: bool = True
    layout: Layout | None = None  # None: the backend's (completion for the base model)
    change: Callable[[Task], Task] | None = None


WORDING = (
    "Clean ecommerce retail searches into attributes, each written as the search names it; "
    "the type is the product noun. Leave out any attribute the search does not name; never guess."
)


# The task's instructions before the wording step (the steps above it are measured with them).
BEFORE = (
    "We are trying to clean the ecommerce retail searches into a clear set of attributes, "
    "each written as the search names it. "
    "Leave out any attribute the search does not name; never guess."
)


def _checked(task: Task) -> Task:
    checks = (grounded("colour", "type", on_fail="null"),)
    return dataclasses.replace(task, checks=checks, instructions=BEFORE)


def _unchecked(task: Task) -> Task:
    return dataclasses.replace(task, checks=(), instructions=BEFORE)


def _worded(task: Task) -> Task:
    return dataclasses.replace(_checked(task), instructions=WORDING)


def _reasked(task: Task) -> Task:
    """An ungrounded colour becomes null; an ungrounded type is sent back to the model."""
    checks = (grounded("colour", on_fail="null"), grounded("type", on_fail="error"))
    return dataclasses.replace(task, checks=checks, instructions=BEFORE)


def _worded_reasked(task: Task) -> Task:
    return dataclasses.replace(_reasked(task), instructions=WORDING)


S8, S12, S16 = (Configuration(shots, "similar") for shots in (8, 12, 16))
STEPS = [
    Step("zero", Configuration(0), change=_unchecked),
    Step("zero_grounded", Configuration(0), change=_checked),
    Step("first8", Configuration(8), change=_unchecked),
    Step("similar8_train", S8, pool=True, change=_unchecked),
    Step("similar8_train_grounded", S8, pool=True, change=_checked),
    Step("similar8_train_grounded_t0", S8, pool=True, temperature=0.0, change=_checked),
    Step("similar8_train_grounded_wording_t0", S8, pool=True, temperature=0.0, change=_worded),
    Step(
        "similar10_train_grounded_t0",
        Configuration(10, "similar"),
        pool=True,
        temperature=0.0,
        change=_checked,
    ),
    Step("similar12_train_grounded_t0", S12, pool=True, temperature=0.0, change=_checked),
    Step(
        "similar14_train_grounded_t0",
        Configuration(14, "similar"),
        pool=True,
        temperature=0.0,
        change=_checked,
    ),
    Step("similar12_train_grounded_wording_t0", S12, pool=True, temperature=0.0, change=_worded),
    Step("similar8_train_grounded_reask", S8, pool=True, change=_reasked),
    Step("similar8_train_grounded_wording", S8, pool=True, change=_worded),
    Step("similar8_train_grounded_wording_reask", S8, pool=True, change=_worded_reasked),
    Step("similar16_train_grounded", S16, pool=True, change=_checked),
    Step("similar16_train_grounded_wording", S16, pool=True, change=_worded),
    Step("similar16_train_grounded_wording_t0", S16, pool=True, temperature=0.0, change=_worded),
    Step("similar12_train_grounded_wording", S12, pool=True, change=_worded),
    Step(
        "similar16_train_grounded_wording_nogrammar", S16, pool=True, grammar=False, change=_worded
    ),
    Step(
        "similar16_train_grounded_wording_inline", S16, pool=True, layout="inline", change=_worded
    ),
]


# The steps of the table in docs/evaluation.md, run when --only is not given; the others
# are there to try (--only NAME) and were not measured.
MEASURED = (
    "zero",
    "similar8_train",
    "similar8_train_grounded",
    "similar8_train_grounded_t0",
    "similar8_train_grounded_wording_t0",
    "similar10_train_grounded_t0",
    "similar12_train_grounded_t0",
    "similar14_train_grounded_t0",
    "similar12_train_grounded_wording_t0",
    "similar16_train_grounded_wording_t0",
    "similar8_train_grounded_reask",
    "similar8_train_grounded_wording",
    "similar16_train_grounded",
)


def runner_for(step: Step) -> Callable[[Task, BaseModel, Any], ItemRun]:
    """Run one input with the step's sampling and layout."""
    params = GenerationParams()
    if step.temperature is not None:
        params = params.replace(temperature=step.temperature)

    def run_one(task: Task, value: BaseModel, backend: Any) -> ItemRun:
        return item_run_of(run(task, value, backend=backend, params=params, layout=step.layout))

    return run_one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated step names, run in that order")
    parser.add_argument("--limit", type=int, help="the first N dev items only")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads")
    parser.add_argument("--out", type=Path, help="write each comparison as JSON here")
    args = parser.parse_args()
    steps = [step for step in STEPS if step.name in MEASURED]
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
    backends = {
        grammar: LocalBackend(n_threads=args.threads, grammar=grammar) for grammar in (True, False)
    }
    backends[True].load()  # both share one loaded model (same file and settings)
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
            backends[step.grammar],
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
