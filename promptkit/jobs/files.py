"""Input and output files of a batch run: streaming readers, record writers, the checkpoint.

Inputs are read one row at a time, never whole: ``.txt`` (one input per
line, for tasks with one input field), ``.jsonl`` (an object per line whose
keys are input fields, or a JSON string) and ``.csv`` (a header whose column
names are the input fields). Blank lines and empty rows are not inputs; every
other row is one, numbered from 0 in file order, and a row that cannot become
an input (a short CSV row, invalid JSON, a failed validation) is still an
item: it comes back as a failed record, never silently dropped.

The output file is the checkpoint of the run. Each record is one line
(``.jsonl``) or one CSV record, written whole; :func:`scan_output` reads an
existing output back, finds which indices are done, and reports where the
last complete record ends so that a line torn by a kill is cut off and redone.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel, ValidationError

from promptkit._types import OutputFormat
from promptkit.errors import JobFileError, validation_problems
from promptkit.notation import is_recursive
from promptkit.schema import Shape
from promptkit.task import Task

INPUT_SUFFIXES = (".txt", ".jsonl", ".csv")


@dataclass(frozen=True, slots=True)
class InputItem:
    """One input of a run: its index, the validated input, or why the row is not one.

    Exactly one of ``value`` and ``problem`` is set; ``raw`` is the row as read.
    """

    index: int
    raw: Any
    value: BaseModel | None = None
    problem: str | None = None


class IndexSet:
    """A set of non-negative item indices as a bit array: 1,000,000 indices in 125 kB."""

    def __init__(self) -> None:
        self._bits = bytearray()
        self._count = 0

    def add(self, index: int) -> bool:
        """Add an index; return False when it was already there."""
        byte, bit = divmod(index, 8)
        if byte >= len(self._bits):
            self._bits.extend(bytes(byte - len(self._bits) + 1 + len(self._bits) // 2))
        if self._bits[byte] >> bit & 1:
            return False
        self._bits[byte] |= 1 << bit
        self._count += 1
        return True

    def __contains__(self, index: object) -> bool:
        if not isinstance(index, int) or index < 0:
            return False
        byte, bit = divmod(index, 8)
        return byte < len(self._bits) and bool(self._bits[byte] >> bit & 1)

    def __len__(self) -> int:
        return self._count


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
        with path.open(encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), None)
        if header is not None:
            _csv_columns(task, header, path)
    return _items(path, task, suffix)


def _items(path: Path, task: Task, suffix: str) -> Iterator[InputItem]:
    readers = {".txt": _read_txt, ".jsonl": _read_jsonl, ".csv": _read_csv}
    with path.open(encoding="utf-8-sig", newline="") as handle:
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


def _read_txt(handle: TextIO, task: Task, path: Path) -> Iterator[tuple[Any, str | None]]:
    for line in handle:
        text = line.rstrip("\r\n")
        if text.strip():
            yield text, None


def _read_jsonl(handle: TextIO, task: Task, path: Path) -> Iterator[tuple[Any, str | None]]:
    fields = task.input_model_class.model_fields
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as error:
            yield line.rstrip("\r\n"), f"line {number} is not JSON: {error.msg}"
            continue
        if isinstance(value, Mapping):
            # Extra keys (labels, ids) are kept in the file but not sent to the model.
            yield {key: value[key] for key in fields if key in value}, None
        elif isinstance(value, str) and len(fields) == 1:
            yield value, None
        else:
            what = type(value).__name__
            yield value, f"line {number} is a JSON {what}, not an object of input fields"


def _read_csv(handle: TextIO, task: Task, path: Path) -> Iterator[tuple[Any, str | None]]:
    reader = csv.reader(handle)
    header = next(reader, None)
    if header is None:
        return
    columns = _csv_columns(task, header, path)
    width = len(header)
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        raw = {name: row[position] for name, position in columns.items() if position < len(row)}
        if len(row) != width:
            yield (
                raw,
                (f"CSV record {reader.line_num} has {len(row)} cells, the header has {width}"),
            )
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


# -- the checkpoint ----------------------------------------------------------------


@dataclass(slots=True)
class Checkpoint:
    """What an existing output file already holds, and where its complete records end."""

    done: IndexSet = field(default_factory=IndexSet)
    inputs: int = 0
    """The sum (mod 2**64) of :func:`input_digest` over the records: what was run, in short."""
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    end: int = 0
    torn: bool = False


def scan_output(path: Path, task: Task) -> Checkpoint:
    """Read an existing output file back as a :class:`Checkpoint`, streaming.

    A last record that is incomplete (no final newline, an open CSV quote, or
    JSON that does not parse) is torn: ``end`` stops before it and ``torn`` is set.

    Raises:
        JobFileError: the file is not an output of this task (bad header, a bad record
            that is not the last one).
    """
    checkpoint = Checkpoint()
    if not path.exists():
        return checkpoint
    fmt = output_format(path)
    records = _jsonl_records(path, task) if fmt == "jsonl" else _csv_records(path, task)
    pending: tuple[int, int, Exception] | None = None
    for start, stop, parsed in records:
        if pending is not None:
            line_start, _, error = pending
            raise JobFileError(
                f"output file {str(path)!r}: the record at byte {line_start} cannot be read "
                f"({error}) and is not the last one; it is not a checkpoint promptkit wrote"
            )
        if isinstance(parsed, Exception):
            pending = (start, stop, parsed)
            continue
        if parsed is None:  # the CSV header
            checkpoint.end = stop
            continue
        index, digest, failed, prompt_tokens, completion_tokens = parsed
        if checkpoint.done.add(index):
            checkpoint.inputs = (checkpoint.inputs + digest) % 2**64
            checkpoint.failed += failed
            checkpoint.prompt_tokens += prompt_tokens
            checkpoint.completion_tokens += completion_tokens
        checkpoint.end = stop
    checkpoint.torn = pending is not None
    return checkpoint


_Parsed = tuple[int, int, int, int, int] | Exception | None


def _jsonl_records(path: Path, task: Task) -> Iterator[tuple[int, int, _Parsed]]:
    offset = 0
    with path.open("rb") as handle:
        for line in handle:
            start, offset = offset, offset + len(line)
            if not line.endswith(b"\n"):
                yield start, offset, ValueError("no final newline")
                continue
            try:
                record = json.loads(line)
                usage = record["usage"]
                index = int(record["index"])
                parsed: _Parsed = (
                    index,
                    input_digest(index, record["input"], task, "jsonl"),
                    int(record["error"] is not None),
                    int(usage["prompt_tokens"]),
                    int(usage["completion_tokens"]),
                )
            except (ValueError, KeyError, TypeError) as error:
                parsed = ValueError(f"not a record: {error}")
            yield start, offset, parsed


def _csv_records(path: Path, task: Task) -> Iterator[tuple[int, int, _Parsed]]:
    """Yield CSV records with their byte spans; a record ends at a newline outside quotes."""
    header = csv_header(task)
    offset = 0
    start = 0
    chunk: list[bytes] = []
    quotes = 0
    first = True
    with path.open("rb") as handle:
        for line in handle:
            offset += len(line)
            chunk.append(line)
            quotes += line.count(b'"')
            if quotes % 2 or not line.endswith(b"\n"):
                continue
            text = b"".join(chunk).decode("utf-8", errors="replace")
            chunk, quotes = [], 0
            row = next(csv.reader(io.StringIO(text)), [])
            if first:
                first = False
                if row != header:
                    raise JobFileError(
                        f"output file {str(path)!r} has columns {row}, not those of task "
                        f"{task.name!r} ({header}); write to a new file"
                    )
                yield start, offset, None
            else:
                yield start, offset, _csv_parsed(row, header, task)
            start = offset
    if chunk:
        yield start, offset, ValueError("incomplete last record")


def _csv_parsed(row: list[str], header: list[str], task: Task) -> _Parsed:
    if len(row) != len(header):
        return ValueError(f"{len(row)} cells, expected {len(header)}")
    try:
        index = int(row[0])
        shown = dict(zip(task.input_model_class.model_fields, row[1:], strict=False))
        digest = input_digest(index, shown, task, "csv")
        return (index, digest, int(bool(row[-6])), int(row[-2]), int(row[-1]))
    except ValueError as error:
        return error


def prepare_output(path: Path, task: Task, *, resume: bool) -> Checkpoint:
    """Check an output file before a run; on resume, cut off a torn record and return the rest.

    Raises:
        JobFileError: the file exists and holds records but ``resume`` is off.
    """
    output_format(path)
    if not resume:
        if path.exists() and path.stat().st_size > 0:
            raise JobFileError(
                f"output file {str(path)!r} exists; pass --resume to finish that run, "
                "or choose a new file"
            )
        return Checkpoint()
    checkpoint = scan_output(path, task)
    if checkpoint.torn or (path.exists() and path.stat().st_size != checkpoint.end):
        with path.open("r+b") as handle:
            handle.truncate(checkpoint.end)
    return checkpoint


def open_output(path: Path, task: Task) -> TextIO:
    """Open an output for appending, writing the CSV header when the file is new."""
    fmt = output_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    handle = path.open("a", encoding="utf-8", newline="")
    if fmt == "csv" and new:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(csv_header(task))
        handle.write(buffer.getvalue())
        handle.flush()
    return handle
