"""Result and Attempt: what became of one input of a run, as frozen values.

A :class:`Result` holds the typed output or the error that ended its
attempts, the parse report, every call that involved the input, and the
input's share of the tokens; :meth:`Result.to_record` is the record the CLI
writes per input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel

from promptkit.backends.base import Completion, GenerationParams, Usage
from promptkit.errors import BackendError, OutputError
from promptkit.output.actions import Report
from promptkit.prompt import Prompt
from promptkit.task import shown_input

OutputT = TypeVar("OutputT", bound=BaseModel)

Reason = Literal["first", "reask", "more tokens", "split", "copy"]
"""Why a call was made: the first ask, a correction, a bigger budget, a smaller batch,
or an item asked alone because the batch reply copied an example's answer for it."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One call made for an input: why, what was sent, what came back, what went wrong."""

    reason: Reason
    prompt: Prompt
    params: GenerationParams
    completion: Completion | None = None
    error: OutputError | BackendError | None = None


@dataclass(frozen=True, slots=True)
class Result(Generic[OutputT]):
    """What became of one input: the typed output, or the error that ended its attempts.

    ``usage`` is this input's share of the tokens (a batch call is shared
    evenly among its items); ``attempts`` lists every call that involved it.
    """

    index: int
    input: BaseModel
    output: OutputT | None
    error: OutputError | BackendError | None
    report: Report | None
    attempts: tuple[Attempt, ...]
    usage: Usage

    @property
    def ok(self) -> bool:
        """Whether an output was obtained."""
        return self.output is not None

    @property
    def value(self) -> OutputT:
        """The output; raises the error that prevented one."""
        if self.output is None:
            raise self.error or OutputError("no output", raw="")
        return self.output

    @property
    def reasks(self) -> int:
        """How many correction requests were sent for this input."""
        return sum(attempt.reason == "reask" for attempt in self.attempts)

    @property
    def raw(self) -> str:
        """The text of the last reply, or ``""`` when no reply came."""
        for attempt in reversed(self.attempts):
            if attempt.completion is not None:
                return attempt.completion.text
        return ""

    @property
    def warnings(self) -> tuple[str, ...]:
        """The report's warnings, in words (a copied example's answer among them)."""
        if self.report is None:
            return ()
        return tuple(action.message for action in self.report.of_kind("warning"))

    def to_record(self) -> dict[str, Any]:
        """Return the CLI's output record: index, input, output, error, attempts, usage.

        A record whose batch reply copied an example's answer (the item was asked again
        alone) also has ``warnings``.
        """
        error = None
        if self.error is not None:
            raw = getattr(self.error, "raw", None)
            message = str(self.error)
            error = {"type": type(self.error).__name__, "message": message, "raw": raw}
        return {
            "index": self.index,
            "input": shown_input(self.input),
            "output": self.output.model_dump(mode="json") if self.output is not None else None,
            "error": error,
            "attempts": len(self.attempts),
            "usage": self.usage.to_dict(),
        } | ({"warnings": list(self.warnings)} if self._asked_alone else {})

    @property
    def _asked_alone(self) -> bool:
        return any(attempt.reason == "copy" for attempt in self.attempts)
