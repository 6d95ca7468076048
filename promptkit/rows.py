"""The table reply format: flat outputs written as rows, and their grammar.

For a task whose output fields are all scalars (strings, numbers, booleans,
enums, each maybe null), a prompt's examples and its reply can be rows, one
per item, the id first, in the columns of a header the prompt states once,
instead of a JSON object that repeats every key for every item::

    id	colour	sleeve	type	neck        (the header, once, in the instructions)
    9	red		t shirts
    10			socks

Cells are separated by a tab (:data:`SEPARATOR`; measured against a markdown
table in docs/compiling.md). Every row has every cell, so that a model decides
on each field rather than ending the row early. An empty cell is null; a
string that is empty, has a tab, a line break or a leading or trailing space,
or starts with a quote is written as a JSON string literal, so every value
reads back as itself.
Numbers and booleans are written as JSON (``12``, ``1.5``, ``true``).
:mod:`promptkit.output.table` reads rows back; :func:`row_grammar` is the
Lark grammar a grammar backend decodes them with.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from promptkit.schema import FieldSpec, Shape

SEPARATOR = "\t"
"""Between the cells of a row."""

ID = "id"
"""The header's name of the first column."""

_FLAT = frozenset({"string", "integer", "number", "boolean", "enum", "null"})


def table_fields(shape: Shape) -> tuple[FieldSpec, ...]:
    """The columns of an output shape after the id, or ``ValueError`` when it is not flat."""
    nested = [spec.key for spec in shape.fields if spec.shape.kind not in _FLAT]
    if shape.kind != "object" or nested:
        where = f": {', '.join(nested)} {'is' if len(nested) == 1 else 'are'} not scalar"
        raise ValueError(
            f"reply_format 'table' needs an output of scalar fields{where if nested else ''}; "
            "use reply_format 'json'"
        )
    return shape.fields


def header(fields: Sequence[FieldSpec]) -> str:
    """The header row: ``id`` and every field's key."""
    return header_of([spec.key for spec in fields])


def header_of(keys: Sequence[str]) -> str:
    """The header row of these columns after the id."""
    return SEPARATOR.join([ID, *keys])


def write_row(number: int, data: Mapping[str, Any], keys: Sequence[str]) -> str:
    """One item's row: its id, then each key's cell (empty when null)."""
    return SEPARATOR.join([str(number), *(write_cell(data.get(key)) for key in keys)])


def write_cell(value: Any) -> str:
    """Write one value as a cell: empty for null, JSON literals where plain text would misread."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if _needs_quotes(value):
        return json.dumps(value, ensure_ascii=False).translate(_UNESCAPED_BREAKS)
    return value


# Line breaks JSON leaves unescaped above U+001F: escaped, so a quoted cell stays on its line.
_UNESCAPED_BREAKS = {ord(mark): f"\\u{ord(mark):04x}" for mark in "\x85\u2028\u2029"}


def _needs_quotes(text: str) -> bool:
    return (
        not text
        or text != text.strip()
        or text.startswith('"')
        or SEPARATOR in text
        or "".join(text.splitlines()) != text  # any line break, "\u2028" too
    )


def write_table(rows: Sequence[tuple[int, Mapping[str, Any]]], fields: Sequence[FieldSpec]) -> str:
    """One row per (id, output data) pair: a reply (its header is the prompt's, said once)."""
    keys = [spec.key for spec in fields]
    return "\n".join(write_row(number, data, keys) for number, data in rows)


def write_rows(rows: Sequence[tuple[int, Mapping[str, Any]]], keys: Sequence[str]) -> str:
    """The header of these columns and one row per (id, data) pair.

    A table prompt writes its inputs this way too: a value that could be misread
    (a tab, a newline, a leading quote) is a JSON literal, so no input can add a row.
    """
    return "\n".join([header_of(keys), *(write_row(n, data, keys) for n, data in rows)])


# -- the grammar -------------------------------------------------------------------


def row_grammar(items: Sequence[Mapping[str, Any]], ids: Sequence[int], keys: Sequence[str]) -> str:
    """A Lark grammar (llguidance's dialect) for a table reply: these rows, in order.

    Each row is its id, then one cell per key, then a newline.

    Args:
        items: each item's JSON Schema (an object schema whose properties are the fields,
            possibly narrowed per input), in the order the rows must come.
        ids: each row's id.
        keys: the columns after the id.
    """
    lines = ["start: " + " ".join(f"row{n}" for n in range(len(items)))]
    tab = _literal(SEPARATOR)
    for n, (schema, number) in enumerate(zip(items, ids, strict=True)):
        cells = " ".join(f"{tab} {_cell(schema['properties'][key])}" for key in keys)
        lines.append(f"row{n}: {_literal(str(number))} {cells} {_literal(chr(10))}")
    return "\n".join(lines) + "\n"


# A text cell holds no tab and no line break (any that str.splitlines breaks on), and
# neither starts with a quote or a space nor ends with a space; else it is a JSON string.
_BREAK = r"\t\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029"
_TEXT = f'/([^{_BREAK}" ]([^{_BREAK}]*[^{_BREAK} ])?)?/'
_QUOTED = f'/"([^"\\\\{_BREAK}]|\\\\.)*"/'
_NUMBERS = {"integer": r"/-?[0-9]+/", "number": r"/-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/"}


def _cell(schema: Mapping[str, Any]) -> str:
    """The Lark expression of one cell; an empty cell where null is allowed."""
    if "enum" in schema:
        written = [_literal(write_cell(value)) for value in schema["enum"] if value is not None]
        empty = None in schema["enum"]
        return "(" + " | ".join(written + (['""'] if empty else [])) + ")" if written else '""'
    options = schema.get("anyOf")
    if options is not None:
        return "(" + " | ".join(_cell(option) for option in options) + ")"
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    parts = []
    for one in kinds:
        if one == "string":
            parts += [_TEXT, _QUOTED]
        elif one in _NUMBERS:
            parts.append(_NUMBERS[one])
        elif one == "boolean":
            parts += ['"true"', '"false"']
        elif one == "null":
            parts.append('""')
    return "(" + " | ".join(dict.fromkeys(parts)) + ")"


def _literal(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)
