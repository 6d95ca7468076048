"""Read a reply written as TOON, the Token-Oriented Object Notation, into a JSON-like value.

``name: Ada`` lines nested by indentation, inline arrays ``tags[2]: math,code``,
tabular arrays ``people[2]{name,age}:`` over indented rows, ``- item`` lists,
a root array for a one-field list model and folded keys (``author.name:``).
TOON types its own scalars (``42``, ``3.5``, ``true``, ``null``,
``"quoted"``). It is read only when a line names a field of the shape and no
line opens a JSON container, so prose is never read as TOON.
:func:`promptkit.output.markup.read_markup` chooses between this and XML.
"""

from __future__ import annotations

import json
import re
from typing import Any

from promptkit.output import extract
from promptkit.output.fit import fields_by_spelling, loose_spelling
from promptkit.output.repair import MAX_DEPTH
from promptkit.schema import Shape

_HEADER = re.compile(
    r"(?P<key>\"(?:[^\"\\]|\\.)*\"|[^\W\d][\w.-]*)?"
    r"(?:\[(?P<length>\d+)(?P<delimiter>[|\t]?)\])?"
    r"(?:\{(?P<fields>[^}]*)\})?"
    r":\s*(?P<rest>.*)"
)
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_TOON_WORDS = {"true": True, "false": False, "null": None}


def read_toon(text: str, shape: Shape) -> tuple[int, Any, list[str]] | None:
    """Read ``text`` as TOON for ``shape``: the line it starts on, the value, notes; or ``None``."""
    found = _toon_lines(text, shape)
    if found is None:
        return None
    start, lines = found
    reader = _ToonReader(lines)
    header = _HEADER.fullmatch(lines[0][1])
    if header is not None and header.group("key") is None:  # a root array: [2]: a,b
        items, _ = reader.member(header, "", 0)
        value: dict[str, Any] = {shape.fields[0].key: items}
    else:
        value, _ = reader.block(0, lines[0][0])
    return start, value, reader.notes


def _toon_lines(text: str, shape: Shape) -> tuple[int, list[tuple[int, str]]] | None:
    """The TOON lines of ``text`` as (indent, content), from the first that names a field."""
    if shape.kind != "object":
        return None
    lines = text.splitlines()
    start = None
    for number, line in enumerate(lines):
        content = line.strip()
        header = _HEADER.fullmatch(content)
        if content.startswith(("{", "[")) and (header is None or header.group("length") is None):
            return None  # a JSON container: not TOON
        if start is None and header is not None and _starts_toon(header, shape):
            start = number
    if start is None:
        return None
    body: list[tuple[int, str]] = []
    for line in lines[start:]:
        if line.lstrip().startswith("```"):
            break  # the end of a fenced block
        if line.strip():
            body.append((len(line) - len(line.lstrip(" ")), line.strip()))
    if len({indent for indent, _ in body}) > MAX_DEPTH:
        return None
    return start, body


class _ToonReader:
    """Reads TOON lines into a value; ``notes`` says what did not match its declarations."""

    def __init__(self, lines: list[tuple[int, str]]) -> None:
        self.lines = lines
        self.notes: list[str] = []

    def block(self, at: int, indent: int) -> tuple[dict[str, Any], int]:
        """Read the ``key: value`` lines at ``indent`` from line ``at``; return the next line."""
        value: dict[str, Any] = {}
        while at < len(self.lines) and self.lines[at][0] == indent:
            header = _HEADER.fullmatch(self.lines[at][1])
            if header is None or header.group("key") is None:
                break  # prose after the value
            *parents, key = _path(header.group("key"))
            into = value
            for parent in parents:  # a folded key: a.b: 1 is {"a": {"b": 1}}
                into = into.setdefault(parent, {})
                if not isinstance(into, dict):
                    break
            else:
                into[key], at = self.member(header, key, at)
                continue
            break
        return value, at

    def member(self, header: re.Match[str], key: str, at: int) -> tuple[Any, int]:
        """Read the value the header line ``at`` starts; return it and the next line."""
        indent = self.lines[at][0]
        rest = header.group("rest")
        deeper = at + 1 < len(self.lines) and self.lines[at + 1][0] > indent
        if header.group("length") is None:
            if rest:
                return _scalar(rest), at + 1
            return self.block(at + 1, self.lines[at + 1][0]) if deeper else ({}, at + 1)
        delimiter = header.group("delimiter") or ","
        items: list[Any]
        if header.group("fields") is not None:
            names = [_unquoted(name.strip()) for name in _split(header.group("fields"), delimiter)]
            items, at = self.rows(at + 1, indent, names, delimiter)
        elif rest:
            items, at = [_scalar(cell) for cell in _split(rest, delimiter)], at + 1
        else:
            items, at = self.list_items(at + 1, indent)
        declared = int(header.group("length"))
        if declared != len(items):
            self.notes.append(
                f"{key or 'an array'} declares {declared} items but gives {len(items)}; "
                f"kept the {len(items)} given"
            )
        return items, at

    def rows(self, at: int, indent: int, names: list[str], delimiter: str) -> tuple[list[Any], int]:
        """Read the rows of a tabular array, the lines deeper than its header."""
        rows = []
        while at < len(self.lines) and self.lines[at][0] > indent:
            cells = [_scalar(cell) for cell in _split(self.lines[at][1], delimiter)]
            if len(cells) != len(names):
                self.notes.append(f"a row has {len(cells)} values for {len(names)} fields")
            rows.append(dict(zip(names, cells, strict=False)))
            at += 1
        return rows, at

    def list_items(self, at: int, indent: int) -> tuple[list[Any], int]:
        """Read the ``- item`` lines deeper than an array's header."""
        items: list[Any] = []
        while at < len(self.lines) and self.lines[at][0] > indent:
            item_indent, content = self.lines[at]
            if not content.startswith("-"):
                break
            content = content[1:].strip()
            header = _HEADER.fullmatch(content)
            if not content:
                items.append({})
                at += 1
            elif header is None:
                items.append(_scalar(content))
                at += 1
            elif header.group("key") is None:
                item, at = self.member(header, "", at)  # an array in the array: - [2]: a,b
                items.append(item)
            else:
                # An object: its first field on the hyphen line, the others under it.
                self.lines[at] = (item_indent + 2, content)
                item, at = self.block(at, item_indent + 2)
                items.append(item)
        return items, at


def _starts_toon(header: re.Match[str], shape: Shape) -> bool:
    """Say whether a header line names a field (or is the array of a one-field list object)."""
    key = header.group("key")
    if key is None:
        return header.group("length") is not None and extract.is_list_field(shape)
    return loose_spelling(_path(key)[0]) in fields_by_spelling(shape)


def _path(key: str) -> list[str]:
    """The keys a TOON key names: a dotted key of names is folded (``a.b``), a quoted one not."""
    if key.startswith('"') or "." not in key:
        return [_unquoted(key)]
    parts = key.split(".")
    return parts if all(part.isidentifier() for part in parts) else [key]


def _split(text: str, delimiter: str) -> list[str]:
    """Split ``text`` at each ``delimiter`` outside double quotes."""
    cells = []
    start = 0
    quoted = escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == delimiter and not quoted:
            cells.append(text[start:index])
            start = index + 1
    cells.append(text[start:])
    return cells


def _scalar(token: str) -> Any:
    """The value of a TOON scalar: a quoted string, true, false, null, a number or a string."""
    token = token.strip()
    if len(token) > 1 and token[0] == token[-1] == '"':
        return _unquoted(token)
    if token in _TOON_WORDS:
        return _TOON_WORDS[token]
    if _NUMBER.fullmatch(token):
        return int(token) if token.lstrip("-").isdigit() else float(token)
    return token


def _unquoted(token: str) -> str:
    if not (len(token) > 1 and token[0] == token[-1] == '"'):
        return token
    try:
        text: str = json.loads(token, strict=False)
    except json.JSONDecodeError:
        return token[1:-1]  # an escape TOON does not know: keep it as written
    return text
