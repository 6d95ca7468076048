"""Example pools: labelled rows in a JSONL file, read when a prompt first needs them.

A task's few hand-picked examples are written in code; a pool of hundreds
ships beside it as data (``ExamplePool.packaged(__package__, "pool.jsonl")``)
or comes from a file (``promptkit run --pool FILE``). Each row holds the
task's input fields and its expected output fields, as in evaluation data.
The file is read and every row validated the first time the task selects
examples (or when ``promptkit check`` asks), so importing a task stays cheap;
a bad row then fails with the task, the file, the line and the field named.
"""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from promptkit.errors import DataError


@dataclass(frozen=True, slots=True)
class ExamplePool:
    """Where a task's pool of labelled examples lives: a path, or a file in a package."""

    source: Path | Traversable
    label: str = ""

    @classmethod
    def packaged(cls, package: str, name: str) -> ExamplePool:
        """A pool shipped as data in an installed package (``__package__``, ``"pool.jsonl"``)."""
        return cls(importlib.resources.files(package).joinpath(name), name)

    @property
    def name(self) -> str:
        """How errors and reports name the file: its path, or its name in its package."""
        return self.label or str(self.source)

    def rows(self) -> list[tuple[int, dict[str, Any]]]:
        """Read the rows with their line numbers.

        Raises:
            DataError: the file cannot be read, or a line is not a JSON object.
        """
        return list(read_rows(self.source, self.name))


def read_rows(source: Path | Traversable, name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, row) for every non-blank line of a JSONL file of objects.

    Raises:
        DataError: the file cannot be read, or a line is not a JSON object, with its line.
    """
    try:
        lines = source.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise DataError(f"cannot read labelled data {name!r}: {reason}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{name}:{number}: not JSON ({error.msg})") from None
        if not isinstance(row, dict):
            raise DataError(f"{name}:{number}: expected an object, got {type(row).__name__}")
        yield number, row
