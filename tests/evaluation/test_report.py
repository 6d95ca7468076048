"""Reports: a table that fits, n/a and support, deltas, metadata, and a self-contained page."""

from __future__ import annotations

import re

from pydantic import BaseModel
from rich.console import Console

from promptkit import Example, Task
from promptkit.evaluation.comparison import (
    Configuration,
    ItemRun,
    LabelledItem,
    evaluate,
    labelled_examples,
)
from promptkit.evaluation.report import (
    Column,
    comparison_columns,
    comparison_table,
    deltas,
    fit_columns,
    html_report,
    metadata_lines,
    rate,
    shown_text,
)


class Colour(BaseModel):
    colour: str | None = None


TASK = Task(
    name="colour-only",
    instructions="Find the colour.",
    input_model="search",
    output_model=Colour,
    examples=[Example("red shirt", {"colour": "red"}), Example("gifts for dad", {})],
)

REPLIES = {
    "red shirt": ItemRun(Colour(colour="red"), raw='{"colour":"red"}'),
    "gifts for dad": ItemRun(None, raw="<script>alert(1)</script>", error="OutputError: no JSON"),
}


def answer(task: Task, value: BaseModel, backend: object) -> ItemRun:
    return REPLIES[value.search]  # type: ignore[attr-defined]


COMPARISON = evaluate(
    TASK,
    labelled_examples(TASK),
    "backend",
    [Configuration(0), Configuration(1)],
    runner=answer,
    metadata={"model": "m-1", "seed": 7, "pool": None},
)


class Sizes(BaseModel):
    colour: str | None = None
    sleeve: str | None = None


SIZES = Task(
    name="sleeves",
    instructions="Find the colour and sleeve.",
    input_model="search",
    output_model=Sizes,
    examples=[Example("red top", {"colour": "red"})],
)


def sizes_comparison() -> object:
    """Two configurations on items with no sleeve gold: zero-shot invents none, then one."""
    items = [
        LabelledItem(SIZES.make_input("red top"), Sizes(colour="red")),
        LabelledItem(SIZES.make_input("blue hat"), Sizes(colour="blue")),
    ]
    replies = iter(
        [
            ItemRun(Sizes(colour="red")),
            ItemRun(Sizes()),
            ItemRun(Sizes(colour="red", sleeve="long sleeve")),
            ItemRun(Sizes(colour="blue")),
        ]
    )
    return evaluate(
        SIZES, items, "b", [Configuration(0), Configuration(1)], runner=lambda *_: next(replies)
    )


def test_table_has_a_row_per_configuration_and_a_column_per_field_with_its_support() -> None:
    headers, rows = comparison_table(COMPARISON)
    assert headers[:3] == ["configuration", "micro F1", "Δ F1"]
    assert "colour F1 (n=1)" in headers  # one gold colour among the two examples
    assert [row[0] for row in rows] == ["0-shot", "1-shot"]
    assert rows[0][headers.index("micro F1")] == "1.000"
    assert rows[0][headers.index("valid")] == "0.500"


def test_a_field_with_no_gold_values_shows_na_not_a_perfect_score() -> None:
    comparison = sizes_comparison()
    headers, rows = comparison_table(comparison)  # type: ignore[arg-type]
    sleeve = headers.index("sleeve F1 (n=0)")
    assert [row[sleeve] for row in rows] == ["n/a", "n/a"]
    micro = headers.index("micro F1")
    # zero-shot: one colour of two found, nothing invented: P 1.0, R 0.5
    assert rows[0][micro] == "0.667"
    # one-shot: both colours, and an invented sleeve: P 2/3, R 1.0
    assert rows[1][micro] == "0.800"
    assert rows[1][headers.index("Δ F1")] == "+0.133"
    assert rows[0][headers.index("Δ F1")] == "-"


def test_deltas_and_rates_say_na_where_there_is_nothing_to_compare() -> None:
    assert deltas([0.5, 0.75, None]) == ("-", "+0.250", "n/a")
    assert deltas([None, 0.5]) == ("-", "n/a")
    assert rate(None) == "n/a"
    assert rate(0.5) == "0.500"


def test_narrow_terminals_drop_the_least_important_columns_first() -> None:
    columns = [
        Column("configuration", ("0-shot",), 0),
        Column("micro F1", ("0.5",), 0),
        Column("latency s", ("1.0",), 9),
        Column("colour F1", ("0.5",), 2),
        Column("items/s", ("3.0",), 6),
    ]

    def measure(kept: object) -> int:
        return sum(len(c.header) + 3 for c in kept)  # type: ignore[attr-defined]

    kept, dropped = fit_columns(columns, 40, measure)
    assert [c.header for c in kept] == ["configuration", "micro F1", "colour F1"]
    assert [c.header for c in dropped] == ["latency s", "items/s"]
    kept, dropped = fit_columns(columns, 10, measure)  # never below the essentials
    assert [c.header for c in kept] == ["configuration", "micro F1"]
    assert fit_columns(columns, 500, measure) == (columns, [])


def test_the_real_table_fits_80_and_110_columns() -> None:
    columns = comparison_columns(COMPARISON)
    for width in (80, 110):
        console = Console(width=width)

        def measure(kept: object, console: Console = console) -> int:
            from rich.table import Table

            table = Table(*(c.header for c in kept))  # type: ignore[attr-defined]
            for n in range(2):
                table.add_row(*(c.cells[n] for c in kept))  # type: ignore[attr-defined]
            return console.measure(table).maximum

        kept, dropped = fit_columns(columns, width, measure)
        assert measure(kept) <= width
        assert {"configuration", "micro F1", "Δ F1", "colour F1 (n=1)"} <= {c.header for c in kept}
        assert len(kept) + len(dropped) == len(columns)


def test_metadata_names_the_run() -> None:
    meta = COMPARISON.metadata
    assert meta["task"] == "colour-only"
    assert meta["backend"] == "str"
    assert meta["model"] == "m-1"
    assert meta["seed"] == 7
    assert re.fullmatch(r"\d+\.\d+.*", meta["promptkit"])
    assert re.match(r"\d{4}-\d\d-\d\dT", meta["date"])
    lines = metadata_lines(COMPARISON)
    assert "model: m-1" in lines
    assert not any(line.startswith("pool:") for line in lines)  # None is left out
    assert COMPARISON.to_dict()["metadata"]["seed"] == 7


def test_inputs_are_shown_as_their_text() -> None:
    assert shown_text({"search": "red shirt"}) == "red shirt"
    assert shown_text({"search": "red", "site": "uk"}) == "search: red; site: uk"
    assert shown_text({"n": 3}) == "3"


def test_html_is_self_contained_with_one_chart_per_field() -> None:
    page = html_report(COMPARISON)
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") == 1  # one field, both configurations on it
    assert page.count("<rect") >= 2 * 5 - 5  # five rates x two configurations, n/a ones aside
    assert not re.search(r"""(src|href)=["']?https?:""", page)
    assert "<link" not in page
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "OutputError: no JSON" in page
    assert '<td class="input">gifts for dad</td>' in page  # text, not {"search": ...}
    assert "1 gold values, 1 gold nulls, 2 items" in page
    assert "m-1" in page
    assert "promptkit" in page


def test_html_draws_na_instead_of_a_bar() -> None:
    page = html_report(sizes_comparison())  # type: ignore[arg-type]
    assert page.count("<svg") == 2
    sleeve = page[page.index("<h3>sleeve</h3>") :].split("</section>")[0]
    assert "n/a<title>0-shot: P n/a</title>" in sleeve
    assert "1-shot: P 0.000" in sleeve  # an invented sleeve: precision 0, drawn
    assert "n/a<title>1-shot: R n/a</title>" in sleeve
