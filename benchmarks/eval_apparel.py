"""apparel-search on the QueryNER dev set with the embedded model: zero-shot against few-shot.

Runs each configuration on the same 91 dev searches with the local backend
(one llama.cpp thread: the machine's 2 cores are shared) and prints micro
F1, per-field accuracy, items per second and tokens per item; each
configuration's full comparison is written to ``eval_apparel_<name>.json``
in the working directory. Run: ``python benchmarks/eval_apparel.py``.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from promptkit import Example, load_task
from promptkit.backends.local import LocalBackend
from promptkit.evaluation import Configuration, evaluate, load_labelled

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "queryner-apparel"


def main() -> None:
    task = load_task("apparel-search")
    items = load_labelled(task, DATA / "dev.jsonl")
    train = [
        Example(item.input, item.expected) for item in load_labelled(task, DATA / "train.jsonl")
    ]
    pooled = dataclasses.replace(task, examples=train)
    backend = LocalBackend(n_threads=1)
    backend.load()
    runs = [
        ("zero", task, Configuration(0)),
        ("similar8_train", pooled, Configuration(8, "similar")),
        ("first8", task, Configuration(8)),
    ]
    for name, variant, configuration in runs:
        started = time.perf_counter()
        comparison = evaluate(
            variant, items, backend, [configuration], data=str(DATA / "dev.jsonl")
        )
        Path(f"eval_apparel_{name}.json").write_text(comparison.to_json(), encoding="utf-8")
        s = comparison.results[0].summary
        accuracy = {field: round(score.accuracy, 3) for field, score in s.fields.items()}
        print(
            f"{name} {configuration.name}: micro F1 {s.micro.f1:.3f}, accuracy {accuracy}, "
            f"{s.items_per_second:.3f} items/s, tokens/item {s.prompt_tokens:.0f}"
            f"+{s.completion_tokens:.1f}, wall {time.perf_counter() - started:.0f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
