"""apparel-search on the embedded model: the grid that chose its configuration, and its scores.

Three commands, each printing markdown rows as it goes (docs/evaluation.md holds their output):

- ``python benchmarks/eval_apparel.py grid``: every candidate configuration on the
  validation set (benchmarks/data/apparel_validation.jsonl, written for this project) and,
  beside it, leave-one-out on a fixed sample of the task's own pool (each search left
  out of its own prompt). The configuration shipped is the grid's best on validation;
  the pool column checks that it did not win by fitting the validation set. (The layout is
  not a row: the bundled model is a base model, so the local backend always uses the
  completion layout.)
- ``python benchmarks/eval_apparel.py report``: the task as shipped (what ``promptkit run
  apparel-search`` does with no flags) and zero-shot on the same model, on the validation
  set and on the QueryNER dev set, which no choice was made on: micro and per-field F1
  with support counts, all fields right, items/s, tokens per item.
- ``python benchmarks/eval_apparel.py refusals``: no model; the gold values that narrowing
  does not allow for their own search, on every labelled set (the pool, each search
  narrowed without its own label; validation; QueryNER dev and train): what a narrowing rule
  costs, counted before it is kept.

The QueryNER data is read from ../shared at run time, never copied into the project.
Options: ``--only a,b`` (grid rows by name), ``--limit N`` (the first N items of each set,
for a smoke run), ``--threads N`` (default 2), ``--out DIR`` (each comparison as JSON).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import create_model

from promptkit import Example, Task, compile_prompt, load_task
from promptkit.backends.local import LocalBackend
from promptkit.evaluation.comparison import (
    Comparison,
    Configuration,
    LabelledItem,
    evaluate,
    labelled_examples,
    load_labelled,
)

HERE = Path(__file__).resolve().parent
VALIDATION = HERE / "data" / "apparel_validation.jsonl"
DEV = HERE.parents[1] / "shared" / "data" / "queryner-apparel" / "dev.jsonl"
TRAIN = DEV.with_name("train.jsonl")
POOL_EVERY = 13  # the pool searches scored leave-one-out: about one in 13, by a hash of the search

Change = Callable[[Task], Task]


@dataclass(frozen=True)
class Row:
    """One grid configuration: shots and selector, and how the task is changed."""

    name: str
    configuration: Configuration
    change: Change | None = None


def worded(instructions: str) -> Change:
    """The task with other instructions."""
    return lambda task: dataclasses.replace(task, instructions=instructions)


def ordered(*names: str) -> Change:
    """The task with its output fields in another order (examples and pool follow)."""

    def change(task: Task) -> Task:
        fields = task.output_model.model_fields
        model = create_model(  # type: ignore[call-overload]
            task.output_model.__name__,
            __doc__=task.output_model.__doc__,
            **{name: (fields[name].annotation, fields[name]) for name in names},
        )
        examples = [Example(e.input, e.output.model_dump()) for e in task.examples]
        return dataclasses.replace(task, output_model=model, examples=examples)

    return change


KIND = (
    "We are trying to clean the ecommerce retail searches into a clear set of attributes, "
    "each written as the search names it: first any colour word, then the sleeve, "
    'the product type with the words that name its kind ("bomber jacket", "pencil skirt") '
    "and the neck. Leave out any attribute the search does not name; never guess."
)
NAMES = (
    "We are trying to clean the ecommerce retail searches into a clear set of attributes, "
    "each written as the search names it: first any colour word, then the sleeve, "
    "the product type and the neck. A colour word in a name (a band, a team, a film, a brand) "
    "is not a colour. Leave out any attribute the search does not name; never guess."
)
GRID = [
    Row("similar8", Configuration(8, "similar", pinned=0)),
    Row("similar4", Configuration(4, "similar", pinned=0)),
    Row("similar12", Configuration(12, "similar", pinned=0)),
    Row("diverse8", Configuration(8, "diverse", pinned=0)),
    Row("similar8_pinned2", Configuration(8, "similar", pinned=2)),
    Row("similar8_pinned3", Configuration(8, "similar", pinned=3)),
    Row("similar8_pinned4", Configuration(8, "similar", pinned=4)),
    Row("similar10_pinned4", Configuration(10, "similar", pinned=4)),
    Row("similar12_pinned4", Configuration(12, "similar", pinned=4)),
    Row("similar8_table", Configuration(8, "similar", pinned=0, reply_format="table")),
    Row("similar8_kind", Configuration(8, "similar", pinned=0), worded(KIND)),
    Row("similar8_names", Configuration(8, "similar", pinned=0), worded(NAMES)),
    Row(
        "similar8_type_first",
        Configuration(8, "similar", pinned=0),
        ordered("type", "colour", "sleeve", "neck"),
    ),
]


def pool_sample(task: Task) -> tuple[LabelledItem, ...]:
    """A fixed sample of the task's pool (not its hand-picked examples), for leave-one-out.

    A search is in it by a hash of its text, so rows added to the pool leave the
    sample of the rows already there unchanged, and grids before and after compare.
    """
    pooled = labelled_examples(task)[len(task.examples) :]
    return tuple(item for item in pooled if _hashed(item) % POOL_EVERY == 0)


def _hashed(item: LabelledItem) -> int:
    return zlib.crc32(item.input.model_dump_json().encode("utf-8"))


def score(task: Task, items: Sequence[LabelledItem], backend: Any, configuration: Configuration,
          data: str) -> Comparison:  # fmt: skip
    """One configuration on some items, with a progress line on stderr every 20 items."""

    def progress(configuration: Configuration, index: int) -> None:
        if (index + 1) % 20 == 0 or index + 1 == len(items):
            print(f"  {configuration.name}: {index + 1}/{len(items)}", file=sys.stderr, flush=True)

    return evaluate(task, items, backend, [configuration], data=data, on_item=progress)


def grid(
    task: Task, backend: Any, rows: Sequence[Row], limit: int | None, out: Path | None
) -> None:
    """Print one row per configuration: validation scores, then the pool's leave-one-out F1."""
    validation = load_labelled(task, VALIDATION)[:limit]
    pooled = pool_sample(task)[:limit]
    print(
        "| row | configuration | validation P | R | F1 | all fields | pool F1 (leave-one-out) | items/s | tokens/item |"
    )
    print("|---|---|---|---|---|---|---|---|---|", flush=True)
    for row in rows:
        variant = row.change(task) if row.change else task
        checked = score(variant, validation, backend, row.configuration, str(VALIDATION))
        crossed = score(variant, pooled, backend, row.configuration, "pool sample")
        keep(out, f"grid_{row.name}", checked, crossed)
        s, p = checked.results[0].summary, crossed.results[0].summary
        print(
            f"| {row.name} | {row.configuration.name} | "
            f"{s.micro.precision:.3f} | {s.micro.recall:.3f} | {s.micro.f1:.3f} | "
            f"{s.all_correct:.3f} | {p.micro.f1:.3f} | {s.items_per_second:.2f} | "
            f"{s.prompt_tokens:.0f} + {s.completion_tokens:.1f} |",
            flush=True,
        )


def report(task: Task, backend: Any, limit: int | None, out: Path | None) -> None:
    """Print the shipped configuration and zero-shot on the validation and QueryNER dev sets."""
    strategy = task.strategy
    shipped = Configuration(strategy.shots or 0, strategy.selector, pinned=strategy.pinned)
    fields = tuple(task.output_model.model_fields)
    print(
        "| data | configuration | micro P | R | F1 | "
        + " | ".join(f"{name} F1 (support)" for name in fields)
        + " | all fields | items/s | tokens/item (prompt + completion) |"
    )
    print("|---" * (9 + len(fields)) + "|", flush=True)
    for path in (VALIDATION, DEV):
        items = load_labelled(task, path)[:limit]
        for configuration in (shipped, Configuration(0)):
            comparison = score(task, items, backend, configuration, str(path))
            keep(out, f"report_{path.stem}_{configuration.name}", comparison)
            s = comparison.results[0].summary
            per_field = " | ".join(
                f"{_f1(s.fields[name].f1)} ({s.fields[name].support})" for name in fields
            )
            print(
                f"| {path.stem} ({len(items)}) | {configuration.name} | {s.micro.precision:.3f} | "
                f"{s.micro.recall:.3f} | {s.micro.f1:.3f} | {per_field} | {s.all_correct:.3f} | "
                f"{s.items_per_second:.2f} | {s.prompt_tokens:.0f} + {s.completion_tokens:.1f} |",
                flush=True,
            )


def refusals(task: Task, limit: int | None) -> None:
    """Print, per labelled set, the gold values narrowing refuses their own search, and each one."""
    sets = {"pool": labelled_examples(task)[len(task.examples) :]}
    sets |= {path.stem: load_labelled(task, path) for path in (VALIDATION, DEV)}
    sets["queryner train"] = load_labelled(task, TRAIN)
    fields = tuple(task.output_model.model_fields)
    print("| set | searches | " + " | ".join(f"{name} refused" for name in fields) + " |")
    print("|---" * (2 + len(fields)) + "|", flush=True)
    listed = []
    for name, items in sets.items():
        counts = dict.fromkeys(fields, 0)
        for item in items[:limit]:
            allowed = compile_prompt(task, item.input, shots=0).json_schema["properties"]
            for field in fields:
                gold = getattr(item.expected, field)
                taken = {
                    str(v).lower() for v in allowed[field].get("enum", [gold]) if v is not None
                }
                if gold is not None and str(gold).lower() not in taken:
                    counts[field] += 1
                    listed.append(f"- {name}: {item.input.search!r} {field} {gold!r}")
        print(f"| {name} | {len(items[:limit])} | " + " | ".join(map(str, counts.values())) + " |")
    print("", *listed, sep="\n")


def _f1(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def keep(out: Path | None, name: str, *comparisons: Comparison) -> None:
    """Write each comparison (every item and raw reply) as JSON under ``out``."""
    if out is None:
        return
    out.mkdir(parents=True, exist_ok=True)
    for number, comparison in enumerate(comparisons):
        suffix = "" if number == 0 else "_pool"
        (out / f"{name}{suffix}.json").write_text(comparison.to_json(), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("grid", "report", "refusals"))
    parser.add_argument("--only", help="comma-separated grid row names, run in that order")
    parser.add_argument("--limit", type=int, help="the first N items of each set only")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads")
    parser.add_argument("--out", type=Path, help="write each comparison as JSON here")
    args = parser.parse_args()
    rows = GRID
    if args.only:
        known = {row.name: row for row in GRID}
        unknown = sorted(set(args.only.split(",")) - set(known))
        if unknown:
            parser.error(f"unknown rows {unknown}; known: {sorted(known)}")
        rows = [known[name] for name in args.only.split(",")]
    task = load_task("apparel-search")
    if args.command == "refusals":
        refusals(task, args.limit)
        return
    backend = LocalBackend(n_threads=args.threads)
    backend.load()
    if args.command == "grid":
        grid(task, backend, rows, args.limit, args.out)
    else:
        report(task, backend, args.limit, args.out)


if __name__ == "__main__":
    main()
