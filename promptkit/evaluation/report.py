"""Reports of an evaluation: a table that fits the terminal, and a self-contained HTML page.

The table has one row per configuration. Its columns have priorities: on a
narrow terminal the least important are left out (and named below the
table) so that what is shown stays readable; ``--json`` keeps everything.
A rate with nothing to count shows as ``n/a``; each field's column names its
support (gold values); ``Δ F1`` is the change in micro F1 from the first
configuration.

The HTML page needs nothing but itself (styles inline, no script, no
external assets): the run's metadata, the table, one grouped bar chart per
field with every configuration on it beside a table of that field's rates,
support and deltas, and each configuration's worst failures with their raw
replies, all escaped.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from promptkit.evaluation.comparison import (
    Comparison,
    ConfigurationResult,
    ItemResult,
    Summary,
)
from promptkit.evaluation.metrics import FieldScore

NA = "n/a"
_RATES = (
    ("P", "precision"),
    ("R", "recall"),
    ("F1", "f1"),
    ("accuracy", "accuracy"),
    ("null acc.", "null_accuracy"),
)
_COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f")


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the comparison table: its header, one cell per configuration, a priority.

    Lower priorities are kept longer when the terminal is narrow.
    """

    header: str
    cells: tuple[str, ...]
    priority: int


# -- the table -------------------------------------------------------------------------


def comparison_columns(comparison: Comparison) -> list[Column]:
    """Return every column of the comparison table, in display order."""
    summaries = [result.summary for result in comparison.results]
    first = summaries[0] if summaries else None
    extras = sorted({name for s in summaries for name in s.extra})

    def column(header: str, priority: int, cell: Callable[[Summary], str]) -> Column:
        return Column(header, tuple(cell(s) for s in summaries), priority)

    columns = [
        Column("configuration", tuple(r.configuration.name for r in comparison.results), 0),
        column("micro F1", 0, lambda s: rate(s.micro.f1)),
        Column("Δ F1", deltas([s.micro.f1 for s in summaries]), 1),
    ]
    for name in comparison.fields:
        support = first.fields[name].support if first else 0
        f1 = tuple(rate(s.fields[name].f1) for s in summaries)
        columns.append(Column(f"{name} F1 (n={support})", f1, 2))
    columns += [
        column("all fields", 3, lambda s: rate(s.all_correct)),
        column("P", 4, lambda s: rate(s.micro.precision)),
        column("R", 4, lambda s: rate(s.micro.recall)),
        column("valid", 5, lambda s: rate(s.validity)),
        *(Column(name, tuple(_extra(s, name) for s in summaries), 5) for name in extras),
        column("items/s", 6, lambda s: f"{s.items_per_second:.2f}"),
        column("prompt tok", 7, lambda s: f"{s.prompt_tokens:.0f}"),
        column("completion tok", 7, lambda s: f"{s.completion_tokens:.1f}"),
        column("re-asks", 8, lambda s: f"{s.reasks:.2f}"),
        column("repaired", 9, lambda s: rate(s.repaired)),
        column("latency s", 9, lambda s: f"{s.latency:.3f}"),
    ]
    return columns


def comparison_table(comparison: Comparison) -> tuple[list[str], list[list[str]]]:
    """Return the headers and rows of the whole comparison table, one row per configuration."""
    columns = comparison_columns(comparison)
    rows = [[c.cells[n] for c in columns] for n in range(len(comparison.results))]
    return [c.header for c in columns], rows


def fit_columns(
    columns: Sequence[Column], width: int, measure: Callable[[Sequence[Column]], int]
) -> tuple[list[Column], list[Column]]:
    """Keep the most important columns whose table ``measure`` fits in ``width``.

    Returns the columns kept (in display order) and those left out. Columns of
    the highest priority number go first; priority 0 is always kept.
    """
    kept = list(columns)
    dropped: list[Column] = []
    while measure(kept) > width:
        droppable = [c for c in kept if c.priority > 0]
        if not droppable:
            break
        worst = max(droppable, key=lambda c: (c.priority, kept.index(c)))
        kept.remove(worst)
        dropped.append(worst)
    return kept, [c for c in columns if c in dropped]


def metadata_lines(comparison: Comparison) -> list[str]:
    """Return the run's metadata as ``name value`` lines for the head of a report."""
    return [f"{name}: {value}" for name, value in _metadata(comparison).items()]


def rate(value: float | None) -> str:
    """Write a rate with three decimals, or ``n/a`` when there was nothing to count."""
    return NA if value is None else f"{value:.3f}"


def deltas(values: Sequence[float | None]) -> tuple[str, ...]:
    """Write each value's change from the first (``+0.120``); the first itself is ``-``."""
    base = values[0] if values else None
    return tuple(
        "-" if n == 0 else NA if value is None or base is None else f"{value - base:+.3f}"
        for n, value in enumerate(values)
    )


def _extra(summary: Summary, name: str) -> str:
    return f"{summary.extra[name]:.3f}" if name in summary.extra else "-"


def _metadata(comparison: Comparison) -> dict[str, Any]:
    shown = {"task": comparison.task, "backend": comparison.backend, "data": comparison.data}
    shown.update({key: value for key, value in comparison.metadata.items() if value is not None})
    return shown


# -- the page ---------------------------------------------------------------------------


def html_report(comparison: Comparison, *, failures: int = 10) -> str:
    """Return a self-contained HTML page: metadata, table, a chart per field, worst failures."""
    headers, rows = comparison_table(comparison)
    items = comparison.results[0].summary.items if comparison.results else 0
    names = [result.configuration.name for result in comparison.results]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>promptkit eval: {_e(comparison.task)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{_e(comparison.task)}: {len(names)} configurations on {items} items</h1>",
        _metadata_list(_metadata(comparison)),
        "<h2>Comparison</h2>",
        "<p class=note>Δ F1: micro F1 against the first configuration. n/a: nothing to "
        "count (no gold values for recall, no predictions for precision).</p>",
        _table(headers, rows),
        "<h2>Per field</h2>",
        "<p class=note>Each chart has every configuration on it. given: values the model "
        "wrote; invented: values written where the gold is null (hallucinated).</p>",
        _legend(names),
        '<div class="fields">',
    ]
    parts += [_field_card(comparison, name) for name in comparison.fields]
    parts.append("</div><h2>Worst failures</h2>")
    parts += [_failures(comparison.fields, result, failures) for result in comparison.results]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _metadata_list(metadata: Mapping[str, Any]) -> str:
    rows = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in metadata.items())
    return f'<dl class="meta">{rows}</dl>'


def _legend(names: Sequence[str]) -> str:
    keys = "".join(
        f'<span class="key"><i style="background:{_colour(n)}"></i>{_e(name)}</span>'
        for n, name in enumerate(names)
    )
    return f'<p class="legend">{keys}</p>'


def _field_card(comparison: Comparison, name: str) -> str:
    scores = [result.summary.fields[name] for result in comparison.results]
    first = scores[0] if scores else FieldScore()
    head = (
        f"<h3>{_e(name)}</h3><p class=note>{first.support} gold values, "
        f"{first.gold_nulls} gold nulls, {first.total} items</p>"
    )
    names = [result.configuration.name for result in comparison.results]
    headers = ["configuration", "P", "R", "F1", "Δ F1", "accuracy", "null acc.",
               "given", "invented"]  # fmt: skip
    changes = deltas([score.f1 for score in scores])
    rows = [
        [
            config,
            rate(score.precision),
            rate(score.recall),
            rate(score.f1),
            change,
            rate(score.accuracy),
            rate(score.null_accuracy),
            str(score.predicted),
            str(score.hallucinated),
        ]
        for config, score, change in zip(names, scores, changes, strict=True)
    ]
    chart = bar_chart(name, names, scores)
    return f'<section class="field">{head}{chart}{_table(headers, rows, "rates")}</section>'


def bar_chart(title: str, names: Sequence[str], scores: Sequence[FieldScore]) -> str:
    """One SVG chart of a field: a group of bars per rate, a bar per configuration."""
    width, height, left, top, bottom = 560, 230, 36, 14, 26
    plot_w, plot_h = width - left - 8, height - top - bottom
    group = plot_w / len(_RATES)
    bar = min(28.0, (group - 14) / max(1, len(names)))
    shapes = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{_e(title)}: precision, recall, F1, accuracy and null accuracy '
        'per configuration">'
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = top + plot_h * (1 - tick)
        shapes.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - 8}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 4}" y="{y + 3:.1f}" class="tick">{tick:g}</text>'
        )
    for g, (label, attribute) in enumerate(_RATES):
        x0 = left + g * group + (group - bar * len(names)) / 2
        for n, (name, score) in enumerate(zip(names, scores, strict=True)):
            value = getattr(score, attribute)
            x = x0 + n * bar
            if value is None:
                shapes.append(
                    f'<text x="{x + bar / 2:.1f}" y="{top + plot_h - 3:.1f}" class="na">n/a'
                    f"<title>{_e(name)}: {label} n/a</title></text>"
                )
                continue
            h = max(value * plot_h, 0.5)
            y = top + plot_h - h
            shapes.append(
                f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{bar - 2:.1f}" height="{h:.1f}" '
                f'fill="{_colour(n)}"><title>{_e(name)}: {label} {value:.3f}</title></rect>'
            )
            if bar >= 16:
                shapes.append(
                    f'<text x="{x + bar / 2:.1f}" y="{y - 3:.1f}" class="v">{_short(value)}</text>'
                )
        shapes.append(
            f'<text x="{left + (g + 0.5) * group:.1f}" y="{height - 8}" class="axis">'
            f"{_e(label)}</text>"
        )
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
    return f'{head}<table class="failures"><tr>{header}</tr>{body}</table>'


def _failure_row(fields: Sequence[str], item: ItemResult) -> list[str]:
    cells = [f"<td>{item.index}</td>", f'<td class="input">{_e(shown_text(item.input))}</td>']
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


def shown_text(value: Mapping[str, Any]) -> str:
    """Write an input as people read it: the text of a one-field input, else ``field: value``."""
    if len(value) == 1:
        (only,) = value.values()
        return only if isinstance(only, str) else _compact(only)
    return "; ".join(
        f"{key}: {inner if isinstance(inner, str) else _compact(inner)}"
        for key, inner in value.items()
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], kind: str = "") -> str:
    head = "".join(f"<th>{_e(text)}</th>" for text in headers)
    body = "".join(
        "<tr>" + "".join(f"<td{' class=na' if c == NA else ''}>{_e(c)}</td>" for c in row) + "</tr>"
        for row in rows
    )
    classes = f' class="{kind}"' if kind else ""
    return f"<table{classes}><tr>{head}</tr>{body}</table>"


def _short(value: float) -> str:
    """Write a rate as a bar label: ``.67``, ``1``, ``0``."""
    text = f"{value:.2f}"
    return {"1.00": "1", "0.00": "0"}.get(text, text.removeprefix("0"))


def _colour(n: int) -> str:
    return _COLOURS[n % len(_COLOURS)]


def _compact(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


_STYLE = (
    "body{font:14px/1.4 system-ui,sans-serif;margin:24px auto;max-width:1220px;padding:0 16px;"
    "color:#222}"
    "h1{font-size:22px}h2{font-size:18px;margin-top:28px}h3{font-size:15px;margin:0}"
    ".meta{display:grid;grid-template-columns:max-content 1fr max-content 1fr;gap:2px 12px}"
    ".meta dt{color:#666}.meta dd{margin:0;font-family:ui-monospace,monospace;"
    "overflow-wrap:anywhere}"
    "table{border-collapse:collapse;margin:6px 0}"
    "td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top;text-align:left}"
    "td.na{color:#888}.note{color:#555;margin:2px 0 6px}"
    ".rates{font-size:12px;width:100%}.rates td,.rates th{padding:2px 4px}"
    ".failures{display:block;overflow-x:auto;max-width:100%}"
    "pre{margin:0;white-space:pre-wrap;max-width:40em}"
    ".fields{display:grid;grid-template-columns:repeat(auto-fill,minmax(580px,1fr));gap:16px}"
    ".field{border:1px solid #e3e3e3;border-radius:6px;padding:10px}"
    ".chart{display:block;max-width:100%;height:auto}"
    ".grid{stroke:#e6e6e6}.tick{font-size:10px;text-anchor:end;fill:#666}"
    ".axis{font-size:12px;text-anchor:middle}.v{font-size:10px;text-anchor:middle}"
    ".na{font-size:10px;text-anchor:middle;fill:#888}"
    ".legend .key{margin-right:16px;white-space:nowrap}"
    ".legend i{display:inline-block;width:12px;height:12px;margin-right:5px;"
    "vertical-align:-1px}"
    ".hallucinated,.wrong,.invalid{background:#fde2e1}.missed{background:#fff3cd}"
)
