"""Reports: the comparison table and a self-contained HTML page with escaped raw replies."""

from __future__ import annotations

import re

from pydantic import BaseModel

from promptkit import Example, Task
from promptkit.evaluation.comparison import Configuration, ItemRun, evaluate, labelled_examples
from promptkit.evaluation.report import COLUMNS, comparison_table, html_report


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
    TASK, labelled_examples(TASK), "backend", [Configuration(0), Configuration(1)], runner=answer
)


def test_table_has_a_row_per_configuration_and_a_column_per_field() -> None:
    headers, rows = comparison_table(COMPARISON)
    assert headers == [*COLUMNS, "colour F1"]
    assert [row[0] for row in rows] == ["0-shot", "1-shot"]
    micro_f1 = headers.index("micro F1")
    # one value found, one invalid reply: P 1.0, R 1.0 on the one gold value
    assert rows[0][micro_f1] == "1.000"
    assert rows[0][headers.index("valid")] == "0.500"


def test_html_is_self_contained_with_a_chart_per_field_per_configuration() -> None:
    page = html_report(COMPARISON)
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") == 2  # one field x two configurations
    assert not re.search(r"""(src|href)=["']?https?:""", page)
    assert "<link" not in page
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "OutputError: no JSON" in page
