"""Reading a table reply (:mod:`promptkit.rows`) back into one value per row.

Rows become objects with an ``id`` that :func:`promptkit.output.parse.parse_batch`
matches back, coerces, validates and checks as it does a JSON reply's items.
What a model gets wrong in a table is repaired where the reading is certain
and reported, else it fails only that row (which is then asked again):

- a markdown table (``| 9 | red | |``) is read as well as tab-separated rows,
  its ``|---|`` line skipped and ``\\|`` read as a pipe;
- the columns are the prompt's header's; a reply that writes a header of
  its own is read by its names, so columns in another order are read right;
- a row's missing last cells are null (rows leave out empty cells at the
  end); empty extra cells are dropped; extra cells with text fail the row,
  as a tab or pipe inside a value (which must be written as a JSON string);
- a line of cells that does not start with an id continues the row before
  it (a row torn by a newline) when that row is short of cells; other lines
  are prose, ignored (reported);
- the last row of a reply cut off by the token limit is cut, never guessed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from promptkit.errors import ErrorDetail
from promptkit.output.actions import Action
from promptkit.output.extract import Extracted
from promptkit.rows import ID, SEPARATOR
from promptkit.schema import FieldSpec, Shape

_RULE = re.compile(r"^:?-{2,}:?$")
_ID = re.compile(r"^#?(\d+)[.)]?$")
_PIPE = re.compile(r"(?<!\\)\|")


@dataclass(frozen=True, slots=True)
class Table:
    """The rows read from a reply, and the rows that cannot be used, by ``id()`` of the row."""

    extracted: Extracted
    faults: dict[int, ErrorDetail] = field(default_factory=dict)


def read_table(raw: str, shape: Shape, *, cut: bool = False) -> Table | None:
    """Read a table reply's rows; ``None`` when the reply is JSON instead (read it as JSON).

    Args:
        raw: the reply.
        shape: the output's object shape (its fields are the columns).
        cut: the reply was cut off by the token limit, so its last row is incomplete.
    """
    text = raw.strip()
    if text[:1] in ("[", "{"):
        return None
    fields = shape.fields
    actions: list[Action] = []
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("```")]
    cells_of = [_cells(line) for line in lines]
    columns: list[FieldSpec | None] = list(fields)
    start = next((n for n, cells in enumerate(cells_of) if cells[0].casefold() == ID), None)
    if start is not None:
        columns = _columns(cells_of[start][1:], fields, actions)
        cells_of = cells_of[start + 1 :]
    rows: list[list[str]] = []
    for cells in cells_of:
        if all(_RULE.match(cell) for cell in cells):
            continue
        if _ID.match(cells[0]):
            rows.append(cells)
        elif rows and len(rows[-1]) < len(columns) + 1 and len(cells) > 1:
            rows[-1][-1] += " " + cells[0]
            rows[-1].extend(cells[1:])
            actions.append(Action("repair", (), f"joined a row torn by a newline: {cells[0]!r}"))
        else:
            actions.append(Action("extract", (), "ignored a line that is not a row", cells[0]))
    # A row ends at its newline: without one, the last row is cut when the reply was.
    cut_last = bool(rows) and cut and not raw.endswith("\n")
    return _objects(rows, columns, actions, cut_last)


def _cells(line: str) -> list[str]:
    if SEPARATOR in line:
        return [cell.strip(" ") for cell in line.split(SEPARATOR)]
    if "|" in line:
        body = line.strip()
        body = body[1:] if body.startswith("|") else body
        body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
        return [cell.strip().replace("\\|", "|") for cell in _PIPE.split(body)]
    return [line.strip()]


def _columns(
    names: Sequence[str], fields: Sequence[FieldSpec], actions: list[Action]
) -> list[FieldSpec | None]:
    by_name = {_key(name): spec for spec in fields for name in spec.names}
    columns = [by_name.get(_key(name)) for name in names]
    for name, column in zip(names, columns, strict=True):
        if column is None and name:
            actions.append(Action("warning", (), f"ignored the column {name!r}: no such field"))
    if [column for column in columns if column] != list(fields)[: len(columns)]:
        actions.append(Action("repair", (), "read the columns by the header's names"))
    return columns


def _key(name: str) -> str:
    return name.strip().casefold().replace(" ", "_")


def _objects(
    rows: list[list[str]], columns: list[FieldSpec | None], actions: list[Action], cut_last: bool
) -> Table:
    items: list[dict[str, Any]] = []
    faults: dict[int, ErrorDetail] = {}
    cut_ids: set[int] = set()
    for number, cells in enumerate(rows):
        found = _ID.match(cells[0])
        assert found is not None
        values = cells[1:]
        item: dict[str, Any] = {"id": int(found.group(1))}
        items.append(item)
        if number == len(rows) - 1 and cut_last:
            cut_ids.add(id(item))
        extra = values[len(columns) :]
        if any(extra):
            faults[id(item)] = ErrorDetail(
                (),
                f"the row has {len(values)} cells after its id, not {len(columns)}: a value "
                'holding a tab or a pipe must be written as a JSON string ("a\\tb")',
                SEPARATOR.join(cells),
            )
        elif extra:
            actions.append(Action("repair", (item["id"],), f"dropped {len(extra)} empty cells"))
        if id(item) not in cut_ids:  # a row may leave out its empty cells at the end
            item.update(dict.fromkeys(spec.key for spec in columns[len(values) :] if spec))
        for spec, cell in zip(columns, values, strict=False):
            if spec is not None:
                item[spec.key] = read_cell(cell, spec.shape)
    return Table(Extracted(items, tuple(actions), bool(cut_ids), frozenset(cut_ids)), faults)


def read_cell(cell: str, shape: Shape) -> Any:
    """Read one cell: empty is null, a JSON string literal its string, else text or JSON."""
    if not cell:
        return None
    if cell.startswith('"'):
        try:
            value = json.loads(cell)
        except ValueError:
            return cell
        return value if isinstance(value, str) else cell
    textual = shape.kind == "string" or (
        shape.kind == "enum" and all(isinstance(v, str) for v in shape.values)
    )
    if textual:
        return cell
    try:
        return json.loads(cell)
    except ValueError:
        return cell  # coercion reads it, or validation names it
