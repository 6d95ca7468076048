"""Input and output files of a batch run: streaming readers and record formats.

Inputs are read one row at a time, never whole: ``.txt`` (one input per
line, for tasks with one input field), ``.jsonl`` (an object per line whose
keys are input fields, or a JSON string) and ``.csv`` (a header whose column
names are the input fields). Blank lines and empty rows are not inputs; every
other row is one, numbered from 0 in file order, and a row that cannot become
an input (a line that is not UTF-8, a short CSV row, a CSV record that is not
valid CSV, invalid JSON, a failed validation) is still an item: it comes
back as a failed record naming its line and byte offset, never silently
dropped, and never swallowing the rows after it.

Each output record is one line (``.jsonl``) or one CSV record
(:func:`format_record`); :mod:`promptkit.jobs.checkpoint` reads them back.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import BaseModel, ValidationError

from promptkit._types import OutputFormat
from promptkit.errors import JobFileError, validation_problems
from promptkit.notation import is_recursive
from promptkit.schema import Shape
from promptkit.task import Task

INPUT_SUFFIXES = (".txt", ".jsonl", ".csv")
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class InputItem:
    """One input of a run: its index, the validated input, or why the row is not one.

    Exactly one of ``value`` and ``problem`` is set; ``raw`` is the row as read.
    """

    index: int
    raw: Any
    value: BaseModel | None = None
    problem: str | None = None


# -- reading inputs ----------------------------------------------------------------


def read_inputs(path: Path, task: Task) -> Iterator[InputItem]:
    """Stream the inputs of ``path`` as :class:`InputItem` values, by suffix.

    The file is checked when this is called, before the first item is asked for.

    Raises:
        JobFileError: the file cannot be read as inputs of ``task`` at all (unknown
            suffix, a ``.txt`` file for a task with several input fields, a CSV header
            that lacks a required input field). Problems of single rows are items.
    """
    suffix = path.suffix.lower()
    if suffix not in INPUT_SUFFIXES:
        raise JobFileError(f"input file {str(path)!r}: use a {', '.join(INPUT_SUFFIXES)} file")
    if not path.is_file():
        raise JobFileError(f"input file {str(path)!r} does not exist")
    fields = task.input_model_class.model_fields
    if suffix == ".txt" and len(fields) != 1:
        raise JobFileError(
            f"input file {str(path)!r}: a .txt file holds one value per line, but task "
            f"{task.name!r} has input fields {', '.join(fields)}; use .jsonl or .csv"
        )
    if suffix == ".csv":
        with _open(path) as handle:
            _csv_columns(task, _csv_header(_csv_rows(handle), path), path)
    return _items(path, task, suffix)


def _open(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as error:
        raise JobFileError(
            f"input file {str(path)!r} cannot be read: {why_not(path, error)}"
        ) from None


def why_not(path: Path, error: Exception) -> str:
    """Say in a few words why ``path`` could not be used, from the error that said so."""
    if path.is_dir():
        return "it is a folder"
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                return f"{str(parent)!r} is a file, not a folder"
            break
    return getattr(error, "strerror", None) or str(error)


def _items(path: Path, task: Task, suffix: str) -> Iterator[InputItem]:
    readers = {".txt": _read_txt, ".jsonl": _read_jsonl, ".csv": _read_csv}
    with _open(path) as handle:
        for index, raw, problem in _numbered(readers[suffix](handle, task, path)):
            yield _item(task, index, raw, problem)


def count_inputs(path: Path) -> int:
    """Count the non-blank lines of an input file (less a CSV header): the items, nearly.

    A CSV record spanning lines counts once per line; this is for progress bars.
    """
    count = 0
    with path.open("rb") as handle:
        for line in handle:
            count += bool(line.strip())
    return max(0, count - 1) if path.suffix.lower() == ".csv" else count


def _numbered(rows: Iterator[tuple[Any, str | None]]) -> Iterator[tuple[int, Any, str | None]]:
    for index, (raw, problem) in enumerate(rows):
        yield index, raw, problem


def _item(task: Task, index: int, raw: Any, problem: str | None) -> InputItem:
    if problem is not None:
        return InputItem(index, raw, problem=problem)
    try:
        return InputItem(index, raw, value=task.make_input(raw))
    except ValidationError as error:
        details = "; ".join(validation_problems(error))
        return InputItem(index, raw, problem=f"invalid input: {details}")


@dataclass(frozen=True, slots=True)
class _Line:
    """One line of an input file as text, where it is, and why it is not UTF-8 if it is not."""

    number: int
    start: int
    end: int
    text: str
    problem: str | None = None


def _decoded(raw: bytes, number: int, start: int) -> _Line:
    """Decode one line; an undecodable one keeps its text with U+FFFD and says where it broke."""
    body = raw[len(_BOM) :] if start == 0 and raw.startswith(_BOM) else raw
    try:
        return _Line(number, start, start + len(raw), body.decode("utf-8"))
    except UnicodeDecodeError as error:
        where = start + len(raw) - len(body) + error.start
        problem = (
            f"line {number} is not UTF-8 (byte {where}: "
            f"{body[error.start : error.start + 1]!r}); save the file as UTF-8"
        )
        return _Line(number, start, start + len(raw), body.decode("utf-8", "replace"), problem)


def _lines(handle: BinaryIO) -> Iterator[_Line]:
    start = 0
    for number, raw in enumerate(handle, start=1):
        yield _decoded(raw, number, start)
        start += len(raw)


def _read_txt(handle: BinaryIO, task: Task, path: Path) -> Iterator[tuple[Any, str | None]]:
    for line in _lines(handle):
        text = line.text.rstrip("\r\n")
        if text.strip():
            yield text, line.problem


def _read_jsonl(handle: BinaryIO, task: Task, path: Path) -> Iterator[tuple[Any, str | None]]:
    fields = task.input_model_class.model_fields
    for line in _lines(handle):
        if not line.text.strip():
            continue
        if line.problem is not None:
            yield line.text.rstrip("\r\n"), line.problem
            continue
        try:
            value = json.loads(line.text)
        except json.JSONDecodeError as error:
            yield line.text.rstrip("\r\n"), f"line {line.number} is not JSON: {error.msg}"
            continue
        if isinstance(value, Mapping):
            # Extra keys (labels, ids) are kept in the file but not sent to the model.
            yield {key: value[key] for key in fields if key in value}, None
        elif isinstance(value, str) and len(fields) == 1:
            yield value, None
        else:
            what = type(value).__name__
            yield value, f"line {line.number} is a JSON {what}, not an object of input fields"


class _CsvLines:
    """The lines csv.reader reads, remembering where the record being read began.

    After a record that is not valid CSV (a quote never closed swallows every
    line after it), :meth:`skip_record` goes back to the line after its first,
    so one bad record costs one item and the rows after it are read as rows.
    """

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self._number = 0
        self._start = 0
        self.first: _Line | None = None
        self.problem: str | None = None

    def __iter__(self) -> _CsvLines:
        return self

    def __next__(self) -> str:
        raw = self._handle.readline()
        if not raw:
            raise StopIteration
        self._number += 1
        line = _decoded(raw, self._number, self._start)
        self._start = line.end
        if self.first is None:
            self.first = line
        self.problem = self.problem or line.problem
        return line.text

    def begin_record(self) -> None:
        self.first, self.problem = None, None

    def skip_record(self) -> None:
        assert self.first is not None
        self._handle.seek(self.first.end)
        self._number, self._start = self.first.number, self.first.end
        self.begin_record()


def _csv_rows(handle: BinaryIO) -> Iterator[tuple[list[str] | None, _Line, str | None]]:
    """Yield each CSV record's cells (None if it is not valid CSV), first line and problem."""
    lines = _CsvLines(handle)
    while True:
        try:
            for row in csv.reader(lines, strict=True):
                assert lines.first is not None
                yield row, lines.first, lines.problem
                lines.begin_record()
            return
        except csv.Error as error:
            first = lines.first
            if first is None:  # csv fails before reading a line only on a closed file
                raise
            lines.skip_record()
            yield (
                None,
                first,
                (
                    f"CSV record at line {first.number} (byte {first.start}) is not valid CSV "
                    f"({error}); a field holding a comma, quote or line break must be quoted, "
                    "with its quotes doubled"
                ),
            )


def _csv_header(
    rows: Iterator[tuple[list[str] | None, _Line, str | None]], path: Path
) -> list[str]:
    for row, _, problem in rows:
        if problem is not None or row is None:
            raise JobFileError(f"input file {str(path)!r}: cannot read the CSV header: {problem}")
        return row
    return []


def _read_csv(handle: BinaryIO, task: Task, path: Path) -> Iterator[tuple[Any, str | None]]:
    rows = _csv_rows(handle)
    header = _csv_header(rows, path)
    if not header:
        return
    columns = _csv_columns(task, header, path)
    width = len(header)
    for row, first, problem in rows:
        if row is None or problem is not None:
            yield first.text.rstrip("\r\n"), problem
            continue
        if not any(cell.strip() for cell in row):
            continue
        raw = {name: row[position] for name, position in columns.items() if position < len(row)}
        if len(row) != width:
            where = f"at line {first.number} (byte {first.start})"
            yield raw, f"CSV record {where} has {len(row)} cells, the header has {width}"
        else:
            yield raw, None


def _csv_columns(task: Task, header: list[str], path: Path) -> dict[str, int]:
    """Map each input field to its column position; fail on a missing required field."""
    positions = {name.strip().lower(): number for number, name in enumerate(header)}
    columns: dict[str, int] = {}
    missing = []
    for name, info in task.input_model_class.model_fields.items():
        if name.lower() in positions:
            columns[name] = positions[name.lower()]
        elif info.is_required():
            missing.append(name)
    if missing:
        raise JobFileError(
            f"input file {str(path)!r}: the CSV header has no column "
            f"{', '.join(repr(m) for m in missing)} for task {task.name!r} "
            f"(columns: {', '.join(repr(h) for h in header)}); name the columns after the "
            "input fields"
        )
    return columns


# -- writing records ---------------------------------------------------------------


def output_format(path: Path) -> OutputFormat:
    """Return the output format named by the suffix of ``path``."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    raise JobFileError(f"output file {str(path)!r}: use a .jsonl or .csv file")


def csv_header(task: Task) -> list[str]:
    """Return the CSV columns of a task's records: index, inputs, flattened outputs, status."""
    inputs = list(task.input_model_class.model_fields)
    status = ["error_type", "error_message", "error_raw", "attempts"]
    status += ["prompt_tokens", "completion_tokens"]
    taken = {"index", *inputs, *status}
    outputs = [
        name if name not in taken else f"output.{name}" for name in _flat_names(task.output_shape)
    ]
    return ["index", *inputs, *outputs, *status]


def _flat_names(shape: Shape, prefix: str = "") -> list[str]:
    names: list[str] = []
    for spec in shape.fields:
        if spec.shape.kind == "object" and not is_recursive(spec.shape):
            names += _flat_names(spec.shape, f"{prefix}{spec.name}.")
        else:
            names.append(f"{prefix}{spec.name}")
    return names


def _flatten(value: Any, shape: Shape, prefix: str, into: list[Any]) -> None:
    for spec in shape.fields:
        item = value.get(spec.name) if isinstance(value, Mapping) else None
        if spec.shape.kind == "object" and not is_recursive(spec.shape):
            _flatten(item, spec.shape, f"{prefix}{spec.name}.", into)
        elif isinstance(item, list | dict):
            into.append(json.dumps(item, ensure_ascii=False))
        else:
            into.append("" if item is None else item)


def format_record(record: Mapping[str, Any], task: Task, fmt: OutputFormat) -> str:
    """Return one output record as the exact text written for it, newline included."""
    if fmt == "jsonl":
        return json.dumps(record, ensure_ascii=False) + "\n"
    row: list[Any] = [record["index"], *_input_cells(record["input"], task)]
    _flatten(record["output"], task.output_shape, "", row)
    error = record["error"] or {}
    usage = record["usage"]
    row += [error.get("type", ""), error.get("message", ""), error.get("raw") or ""]
    row += [record["attempts"], usage["prompt_tokens"], usage["completion_tokens"]]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(row)
    return buffer.getvalue()


def _input_cells(shown: Any, task: Task) -> list[Any]:
    """The CSV cells of a record's input, one per input field."""
    fields = task.input_model_class.model_fields
    source = shown if isinstance(shown, Mapping) else {}
    if isinstance(shown, str) and len(fields) == 1:
        source = {next(iter(fields)): shown}
    return [_cell(source.get(name)) for name in fields]


def input_digest(index: int, shown: Any, task: Task, fmt: OutputFormat) -> int:
    """A 64-bit digest of a record's index and input, as its output file keeps the input.

    A JSONL record keeps the input as JSON; a CSV record as text cells.
    """
    if fmt == "jsonl":
        kept = json.dumps(shown, ensure_ascii=False, sort_keys=True)
    else:
        kept = json.dumps([str(cell) for cell in _input_cells(shown, task)], ensure_ascii=False)
    data = f"{index}\n{kept}".encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else value
