"""The reply corpus (tests/output/corpus/*.jsonl): each reply, what it is parsed into, the outcome.

A row names a bundled task (``"task"``), or defines its output model as
Python source (``"models"``, the class to parse into named by ``"into"``,
default ``Out``). ``"expected"`` is the output promptkit must give
(``model_dump(mode="json")``), or ``"error": true`` when the reply must be
refused. Ported rows say where they come from (``"source"``); ``"peer"``
holds what the peer's own test expects when promptkit declines it
(``"declined"`` says why); ``"gap"`` marks a row promptkit does not yet
recover, and why. See corpus/README.md.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import functools
import json
import typing
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic

import promptkit

CORPUS = Path(__file__).parent / "corpus"
FILES = (
    "replies.jsonl",
    "json_repair.jsonl",
    "baml.jsonl",
    "jsonrepair_js.jsonl",
    "langchain.jsonl",
)


@dataclass(frozen=True)
class Case:
    """One reply of the corpus and the outcome promptkit must give for it."""

    file: str
    line: int
    cls: str
    source: str
    reply: str
    into: Any
    expected: Any
    error: bool
    declined: str
    peer: Any
    gap: str
    """Why promptkit does not give this outcome yet (the test checks it still does not)."""

    @property
    def model(self) -> type[pydantic.BaseModel]:
        return self.into.output_model if isinstance(self.into, promptkit.Task) else self.into

    @property
    def id(self) -> str:
        return f"{self.file.split('.')[0]}-{self.line}-{self.cls}"


def load(files: tuple[str, ...] = FILES) -> list[Case]:
    """Read every row of the corpus files, building each row's model once."""
    cases = []
    for name in files:
        lines = (CORPUS / name).read_text("utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            cases.append(
                Case(
                    file=name,
                    line=number,
                    cls=row["class"],
                    source=row.get("source", "promptkit"),
                    reply=row["reply"],
                    into=_into(row),
                    expected=row.get("expected"),
                    error=bool(row.get("error")),
                    declined=row.get("declined", ""),
                    peer=row.get("peer"),
                    gap=row.get("gap", ""),
                )
            )
    return cases


def outcome(case: Case, value: Any) -> bool:
    """Say whether what a parser returned (an instance, or an exception) is the expected outcome."""
    if case.error:
        return isinstance(value, Exception)
    if not isinstance(value, pydantic.BaseModel):
        return False
    # Ported rows write keys by alias or by name, as the peer's test does.
    by_alias = value.model_dump(mode="json", by_alias=True)
    return case.expected in (by_alias, value.model_dump(mode="json"))


def _into(row: dict[str, Any]) -> Any:
    if "task" in row:
        return promptkit.load_task(row["task"])
    return _models(row["models"])[row.get("into", "Out")]


_NAMESPACE = {
    "Annotated": typing.Annotated,
    "Any": typing.Any,
    "Literal": typing.Literal,
    "Optional": typing.Optional,
    "Union": typing.Union,
    "BaseModel": pydantic.BaseModel,
    "ConfigDict": pydantic.ConfigDict,
    "Field": pydantic.Field,
    "AliasChoices": pydantic.AliasChoices,
    "Enum": enum.Enum,
    "StrEnum": enum.StrEnum,
    "IntEnum": enum.IntEnum,
    "date": datetime.date,
    "datetime": datetime.datetime,
    "time": datetime.time,
    "timedelta": datetime.timedelta,
    "Decimal": decimal.Decimal,
    "UUID": uuid.UUID,
    "field": promptkit.field,
}


@functools.cache
def _models(source: str) -> dict[str, Any]:
    namespace = dict(_NAMESPACE, __name__="corpus_models")
    exec(source, namespace)  # the corpus's own model definitions
    for value in namespace.values():
        is_model = isinstance(value, type) and issubclass(value, pydantic.BaseModel)
        if is_model and value is not pydantic.BaseModel:
            value.model_rebuild(_types_namespace=namespace)
    return namespace
