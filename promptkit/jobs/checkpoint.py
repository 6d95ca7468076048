"""The output file of a batch run as its checkpoint: locked, read back, cut, appended to.

The output file is the checkpoint of the run. Each record is one line
(``.jsonl``) or one CSV record, written whole; :func:`scan_output` reads an
existing output back, finds which indices are done, and reports where the
last complete record ends so that a line torn by a kill is cut off and redone.

:func:`claim_output` holds the file for one run: an exclusive ``flock`` on
the output itself, which the kernel drops when the process ends however it
ends (a ``kill -9`` leaves no stale lock behind), so a second run on the same
output is refused instead of writing every record twice.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from promptkit.errors import JobFileError
from promptkit.jobs.files import csv_header, input_digest, output_format, why_not
from promptkit.task import Task

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock; runs there are not locked
    fcntl = None  # type: ignore[assignment]

_BITS = 1 << 26
"""Indices below this live in the bit array (8 MB at most); a larger one in a plain set."""


class IndexSet:
    """A set of non-negative item indices as a bit array: 1,000,000 indices in 125 kB.

    An index beyond the bit array's reach (a record written by hand, say
    ``10**15``) is kept in a plain set, so no index can make it allocate more.
    """

    def __init__(self) -> None:
        self._bits = bytearray()
        self._far: set[int] = set()
        self._count = 0

    def add(self, index: int) -> bool:
        """Add an index; return False when it was already there."""
        if index >= _BITS:
            if index in self._far:
                return False
            self._far.add(index)
            self._count += 1
            return True
        byte, bit = divmod(index, 8)
        if byte >= len(self._bits):
            grown = min(_BITS // 8, byte + 1 + len(self._bits) // 2)
            self._bits.extend(bytes(grown - len(self._bits)))
        if self._bits[byte] >> bit & 1:
            return False
        self._bits[byte] |= 1 << bit
        self._count += 1
        return True

    def __contains__(self, index: object) -> bool:
        if not isinstance(index, int) or index < 0:
            return False
        if index >= _BITS:
            return index in self._far
        byte, bit = divmod(index, 8)
        return byte < len(self._bits) and bool(self._bits[byte] >> bit & 1)

    def __len__(self) -> int:
        return self._count


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
            that is not the last one), or holds an index twice.
    """
    checkpoint = Checkpoint()
    repeated: list[int] = []
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
        else:
            repeated.append(index)
        checkpoint.end = stop
    if repeated:
        raise _repeated(path, repeated)
    checkpoint.torn = pending is not None
    return checkpoint


def _repeated(path: Path, indices: list[int]) -> JobFileError:
    shown = ", ".join(str(index) for index in sorted(set(indices))[:10])
    more = len(set(indices)) - 10
    if more > 0:
        shown += f" and {more} more"
    return JobFileError(
        f"output file {str(path)!r} holds the records of index {shown} more than once "
        "(two runs wrote it at once?); it cannot be resumed: keep one record per index, "
        "or start a new output file"
    )


def _index(value: Any) -> int:
    index = int(value)
    if index < 0:
        raise ValueError(f"index {index} is negative")
    return index


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
                index = _index(record["index"])
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
        index = _index(row[0])
        shown = dict(zip(task.input_model_class.model_fields, row[1:], strict=False))
        digest = input_digest(index, shown, task, "csv")
        return (index, digest, int(bool(row[-6])), int(row[-2]), int(row[-1]))
    except ValueError as error:
        return error


def prepare_output(path: Path, task: Task, *, resume: bool) -> Checkpoint:
    """Check an output file before a run; on resume, cut off a torn record and return the rest.

    Without ``resume`` a file that holds no record (empty, or a CSV header only)
    is emptied; one that holds records is refused.

    Raises:
        JobFileError: the file holds records but ``resume`` is off; or see :func:`scan_output`.
    """
    fmt = output_format(path)
    if not resume:
        size = path.stat().st_size if path.exists() else 0
        if size > 0 and not (fmt == "csv" and _only_header(path, task)):
            raise JobFileError(
                f"output file {str(path)!r} exists; pass --resume to finish that run, "
                "or choose a new file"
            )
        checkpoint = Checkpoint()
    else:
        checkpoint = scan_output(path, task)
    if path.exists() and path.stat().st_size != checkpoint.end:
        with path.open("r+b") as handle:
            handle.truncate(checkpoint.end)
    return checkpoint


def _only_header(path: Path, task: Task) -> bool:
    header = _csv_line(csv_header(task)).encode()
    with path.open("rb") as handle:
        return handle.read(len(header) + 1) == header


def _csv_line(row: list[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(row)
    return buffer.getvalue()


class OutputFile:
    """An output file open for appending records; a new CSV file gets its header first."""

    def __init__(self, handle: TextIO, header: str | None) -> None:
        self._handle = handle
        self._header = header

    def write(self, text: str) -> None:
        """Append one record's text."""
        if self._header is not None:
            self._handle.write(self._header)
            self._header = None
        self._handle.write(text)

    def flush(self) -> None:
        """Hand what is written to the operating system."""
        self._handle.flush()


@contextlib.contextmanager
def claim_output(
    path: Path, task: Task, *, resume: bool
) -> Iterator[tuple[OutputFile, Checkpoint]]:
    """Lock ``path`` for this run, check it (:func:`prepare_output`), and open it for records.

    The lock is held until the block ends; the kernel releases it if the process dies.

    Raises:
        JobFileError: another run holds the file; it cannot be created or written; or
            see :func:`prepare_output`.
    """
    output_format(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a", encoding="utf-8", newline="")
    except OSError as error:
        raise JobFileError(
            f"output file {str(path)!r} cannot be written: {why_not(path, error)}; "
            "choose a path in a folder you can write to"
        ) from None
    with handle:
        _lock(handle, path)
        try:
            checkpoint = prepare_output(path, task, resume=resume)
        except OSError as error:
            raise JobFileError(
                f"output file {str(path)!r} cannot be read back: {why_not(path, error)}"
            ) from None
        new_csv = output_format(path) == "csv" and path.stat().st_size == 0
        yield OutputFile(handle, _csv_line(csv_header(task)) if new_csv else None), checkpoint


def _lock(handle: TextIO, path: Path) -> None:
    if fcntl is None:  # pragma: no cover - see the import
        return
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise JobFileError(
            f"output file {str(path)!r} is being written by another promptkit run; "
            "wait for it to end, or write to another file"
        ) from None
