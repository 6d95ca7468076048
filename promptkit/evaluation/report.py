"""Reports of an evaluation: a comparison table, and a self-contained HTML page.

The HTML page needs nothing but itself: styles inline, one SVG bar chart per
field per configuration (precision, recall, F1, accuracy, null accuracy), and
each configuration's worst failures with their raw replies, all escaped.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence

from promptkit.evaluation.comparison import Comparison, ConfigurationResult, ItemResult
from promptkit.evaluation.metrics import FieldScore

COLUMNS = (
    "configuration",
    "micro F1",
    "precision",
    "recall",
    "all fields",
    "valid",
    "repaired",
    "re-asks",
    "prompt tok",
    "completion tok",
    "latency s",
    "items/s",
)
_BARS = (
    ("P", "precision"),
    ("R", "recall"),
    ("F1", "f1"),
    ("acc", "accuracy"),
    ("null", "null_accuracy"),
)
_COLOURS = ("#4e79a7", "#59a14f", "#e15759", "#f28e2b", "#76b7b2")


def comparison_table(comparison: Comparison) -> tuple[list[str], list[list[str]]]:
    """Return the headers and rows of the terminal comparison table, one row per configuration.

    Per-field F1 and the task's own metrics follow the fixed columns.
    """
    extras = sorted({name for result in comparison.results for name in result.summary.extra})
    headers = [*COLUMNS, *(f"{name} F1" for name in comparison.fields), *extras]
    rows = []
    for result in comparison.results:
        s = result.summary
        row = [
            result.configuration.name,
            _rate(s.micro.f1),
            _rate(s.micro.precision),
            _rate(s.micro.recall),
            _rate(s.all_correct),
            _rate(s.validity),
            _rate(s.repaired),
            f"{s.reasks:.2f}",
            f"{s.prompt_tokens:.0f}",
            f"{s.completion_tokens:.1f}",
            f"{s.latency:.3f}",
            f"{s.items_per_second:.2f}",
            *(_rate(s.fields[name].f1) for name in comparison.fields),
            *(f"{s.extra[name]:.3f}" if name in s.extra else "-" for name in extras),
        ]
        rows.append(row)
    return headers, rows


def html_report(comparison: Comparison, *, failures: int = 10) -> str:
    """Return a self-contained HTML page: the comparison, charts per field, worst failures."""
    headers, rows = comparison_table(comparison)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>promptkit eval: {_e(comparison.task)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{_e(comparison.task)}</h1>",
        f"<p>backend <code>{_e(comparison.backend)}</code>, data <code>{_e(comparison.data)}"
        f"</code>, {comparison.results[0].summary.items if comparison.results else 0} items</p>",
        "<h2>Comparison</h2>",
        _table(headers, rows),
        "<h2>Per field</h2>",
    ]
    for name in comparison.fields:
        parts.append(f"<h3>{_e(name)}</h3><div class=charts>")
        for result in comparison.results:
            score = result.summary.fields[name]
            parts.append(_chart(result.configuration.name, score))
        parts.append("</div>")
    parts.append("<h2>Worst failures</h2>")
    for result in comparison.results:
        parts.append(_failures(comparison.fields, result, failures))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _chart(title: str, score: FieldScore) -> str:
    """One SVG bar chart of a field's rates under one configuration."""
    width, height, top, bottom, bar = 230, 150, 22, 20, 30
    plot = height - top - bottom
    shapes = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{_e(title)}">',
        f'<text x="4" y="14" class=t>{_e(title)}</text>',
        f'<line x1="0" y1="{top + plot}" x2="{width}" y2="{top + plot}" stroke="#999"/>',
    ]
    for number, ((label, attribute), colour) in enumerate(zip(_BARS, _COLOURS, strict=True)):
        value = float(getattr(score, attribute))
        x = 10 + number * (bar + 14)
        bar_height = round(value * plot, 1)
        y = top + plot - bar_height
        shapes += [
            f'<rect x="{x}" y="{y}" width="{bar}" height="{bar_height}" fill="{colour}">'
            f"<title>{label} {value:.3f}</title></rect>",
            f'<text x="{x + bar / 2}" y="{y - 3}" class=v>{value:.2f}</text>',
            f'<text x="{x + bar / 2}" y="{height - 6}" class=v>{label}</text>',
        ]
    shapes.append("</svg>")
    return "".join(shapes)


def _failures(fields: Sequence[str], result: ConfigurationResult, count: int) -> str:
    worst = result.worst(count)
    head = f"<h3>{_e(result.configuration.name)}</h3>"
    if not worst:
        return head + "<p>No failures.</p>"
    headers = ["#", "input", *fields, "raw reply"]
    rows = [_failure_row(fields, item) for item in worst]
    body = "".join("<tr>" + "".join(cells) + "</tr>" for cells in rows)
    header = "".join(f"<th>{_e(text)}</th>" for text in headers)
    return f"{head}<table><tr>{header}</tr>{body}</table>"


def _failure_row(fields: Sequence[str], item: ItemResult) -> list[str]:
    cells = [f"<td>{item.index}</td>", f"<td>{_e(_compact(item.input))}</td>"]
    for name in fields:
        outcome = item.outcomes[name]
        given = None if item.output is None else item.output.get(name)
        cells.append(
            f'<td class="{outcome}">{_e(outcome)}<br>expected {_e(_compact(item.expected[name]))}'
            f"<br>got {_e(_compact(given))}</td>"
        )
    reply = item.raw if item.error is None else f"{item.raw}\n-- {item.error}"
    cells.append(f"<td><pre>{_e(reply)}</pre></td>")
    return cells


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{_e(text)}</th>" for text in headers)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _rate(value: float) -> str:
    return f"{value:.3f}"


def _compact(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


_STYLE = (
    "body{font:14px system-ui,sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0}"
    "td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top;text-align:left}"
    "pre{margin:0;white-space:pre-wrap;max-width:40em}"
    ".charts{display:flex;flex-wrap:wrap;gap:8px}"
    "svg{border:1px solid #eee}.t{font-size:12px;font-weight:bold}"
    ".v{font-size:10px;text-anchor:middle}"
    ".hallucinated,.wrong,.invalid{background:#fde2e1}.missed{background:#fff3cd}"
)
