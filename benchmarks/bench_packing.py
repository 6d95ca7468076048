"""Packing a user's own task: items numbered from 1 like the examples (before) or after them.

Issue #13 (item 4): packing a small user task four to a prompt returned, for
nearly every input, one of the examples' answers, when the examples were
numbered 1 to 6 and the inputs from 1 again. This benchmark packs such a
task (``flight-search``, written here: not apparel) on the embedded model,
greedy, and reports for the first reply of every batch how many items
copied an example's answer that their input does not support, and the
micro F1 against the labels below:

- before: the prompt as compiled, its items renumbered from 1 (the old layout);
- after: the prompt as compiled (items numbered after the examples);
- after, run: ``run_many``, where a copied answer is flagged and asked alone.

Run: ``nice -n 10 python benchmarks/bench_packing.py [--layout chat] [--reply-format table]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import time
from typing import Any

from pydantic import BaseModel

from promptkit import Example, GenerationParams, Prompt, Task, compile_batch
from promptkit.evaluation.metrics import FieldScore, item_outcomes
from promptkit.execution import default_backend, run_many
from promptkit.output.echo import copied_example
from promptkit.output.parse import Parsed, parse_batch
from promptkit.task import shown_output


class Trip(BaseModel):
    """Where a flight search goes from and to, and when."""

    origin: str | None = None
    destination: str | None = None
    when: str | None = None


def _example(search: str, **named: str) -> Example:
    return Example(search, {name: named.get(name) for name in Trip.model_fields})


EXAMPLES = [
    _example(
        "cheap flights london to paris next friday",
        origin="london",
        destination="paris",
        when="next friday",
    ),
    _example("flights to tokyo", destination="tokyo"),
    _example("one way from boston in march", origin="boston", when="in march"),
    _example(
        "direct flight madrid rome tomorrow", origin="madrid", destination="rome", when="tomorrow"
    ),
    _example("last minute deals"),
    _example("berlin to new york", origin="berlin", destination="new york"),
]

FLIGHTS = Task(
    name="flight-search",
    instructions=(
        "Read a flight search: the city it leaves from, the city it goes to, and when. "
        "Write each as the search writes it; leave out what it does not say."
    ),
    input_model="search",
    output_model=Trip,
    examples=EXAMPLES,
    generation=GenerationParams(temperature=0.0, max_tokens=300),
)

LABELLED = [
    ("flights from dublin to lisbon on monday", "dublin", "lisbon", "on monday"),
    ("cheap tickets to sydney", None, "sydney", None),
    ("chicago to denver this weekend", "chicago", "denver", "this weekend"),
    ("weekend getaway flights", None, None, None),
    ("fly from oslo in june", "oslo", None, "in june"),
    ("nonstop miami to cancun", "miami", "cancun", None),
    ("flights to athens next month", None, "athens", "next month"),
    ("seattle vancouver tonight", "seattle", "vancouver", "tonight"),
    ("business class to dubai", None, "dubai", None),
    ("from toronto to montreal friday", "toronto", "montreal", "friday"),
    ("student flight deals", None, None, None),
    ("prague to vienna in april", "prague", "vienna", "in april"),
    ("flights out of atlanta tomorrow", "atlanta", None, "tomorrow"),
    ("round trip to lima", None, "lima", None),
    ("amsterdam barcelona next week", "amsterdam", "barcelona", "next week"),
    ("red eye from vegas", "vegas", None, None),
    ("flights to cairo in december", None, "cairo", "in december"),
    ("houston to mexico city", "houston", "mexico city", None),
    ("cheapest day to fly", None, None, None),
    ("zurich to milan on sunday", "zurich", "milan", "on sunday"),
    ("fly to reykjavik", None, "reykjavik", None),
    ("from nice in july", "nice", None, "in july"),
    ("singapore to bangkok tonight", "singapore", "bangkok", "tonight"),
    ("family flights to orlando", None, "orlando", None),
]
PACKED = 4
FIELDS = list(Trip.model_fields)


def numbered_from_one(prompt: Prompt) -> Prompt:
    """The old layout: the same prompt with its items numbered from 1, like the examples."""
    first = prompt.item_ids[0]
    ids = tuple(range(1, len(prompt.item_ids) + 1))

    def renumber(text: str) -> str:
        head, gap, query = text.rpartition("\n\n")  # the items are the last block
        pattern = re.compile(r"^(\d+)(\. |\t)", flags=re.M)
        return head + gap + pattern.sub(lambda m: f"{int(m[1]) - first + 1}{m[2]}", query)

    changes: dict[str, Any] = {"item_ids": ids}
    if prompt.text is not None:
        changes["text"] = renumber(prompt.text)
    else:
        last = prompt.messages[-1]
        changes["messages"] = (
            *prompt.messages[:-1],
            dataclasses.replace(last, content=renumber(last.content)),
        )
    schema = prompt.json_schema
    items = [
        {**item, "properties": {**item["properties"], "id": {"const": number}}}
        for item, number in zip(schema["prefixItems"], ids, strict=True)
    ]
    changes["json_schema"] = {**schema, "prefixItems": items}
    if prompt.grammar is not None:
        grammar = prompt.grammar
        for old, new in zip(prompt.item_ids, ids, strict=True):
            grammar = grammar.replace(f': "{old}" "\\t"', f': "{new}" "\\t"')
        changes["grammar"] = grammar
    return dataclasses.replace(prompt, **changes)


def score(outputs: list[BaseModel | None]) -> tuple[float, int]:
    """Micro F1 against the labels, and how many outputs copy an unsupported example answer."""
    total = FieldScore()
    copies = 0
    answers = [shown_output(example.output) for example in FLIGHTS.examples]
    for (search, *gold), output in zip(LABELLED, outputs, strict=True):
        expected = Trip(**dict(zip(FIELDS, gold, strict=True)))
        outcomes = item_outcomes(FIELDS, expected, output)
        for name in FIELDS:
            total += FieldScore.of([outcomes[name]], [getattr(expected, name) is None])
        if output is not None:
            copies += copied_example(output, FLIGHTS.make_input(search), answers) is not None
    return total.f1 or 0.0, copies


def first_replies(backend: Any, layout: str, reply_format: str, before: bool) -> list[Any]:
    outputs: list[Any] = []
    params = FLIGHTS.generation
    for start in range(0, len(LABELLED), PACKED):
        searches = [row[0] for row in LABELLED[start : start + PACKED]]
        prompt = compile_batch(FLIGHTS, searches, layout=layout, reply_format=reply_format)  # type: ignore[arg-type]
        if before:
            prompt = numbered_from_one(prompt)
        reply = backend.complete(prompt, params)
        sources = [FLIGHTS.make_input(s) for s in searches]
        parsed = parse_batch(reply.text, FLIGHTS, sources, ids=prompt.item_ids,
                             reply_format=prompt.reply_format)  # fmt: skip
        outputs += [p.value if isinstance(p, Parsed) else None for p in parsed]
    return outputs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--layout", default="completion", choices=("chat", "inline", "completion"))
    parser.add_argument("--reply-format", default="json", choices=("json", "table"))
    arguments = parser.parse_args()
    backend = default_backend()
    layout, fmt = arguments.layout, arguments.reply_format
    print(f"flight-search, {len(EXAMPLES)} examples, {len(LABELLED)} searches packed {PACKED} "
          f"to a prompt, {layout} layout, {fmt} replies, embedded model, greedy")  # fmt: skip
    for name, before in (("before: items numbered from 1", True), ("after: items after", False)):
        f1, copies = score(first_replies(backend, layout, fmt, before))
        print(f"  {name:36s} micro F1 {f1:.3f}  copied example answers {copies}/{len(LABELLED)}")
    began = time.perf_counter()
    results = run_many(FLIGHTS, [row[0] for row in LABELLED], backend=backend, batch_size=PACKED,
                       layout=layout, reply_format=fmt)  # type: ignore[arg-type]  # fmt: skip
    seconds = time.perf_counter() - began
    f1, copies = score([r.output for r in results])
    flagged = sum(any(a.reason == "copy" for a in r.attempts) for r in results)
    print(f"  {'after, run_many (copies asked alone)':36s} micro F1 {f1:.3f}  copied example "
          f"answers {copies}/{len(LABELLED)}  flagged {flagged}  "
          f"{len(results) / seconds:.2f} items/s")  # fmt: skip


if __name__ == "__main__":
    main()
