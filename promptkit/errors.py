"""The error tree.

Mistakes of the person writing a task are raised when the task is defined or
looked up; they also subclass ``ValueError``. What happens at run time (a
reply that cannot become an output, a backend that fails) has its own
branches and always carries what is needed to act on it.

::

    PromptkitError
    ├── DefinitionError (ValueError)   task authoring mistakes
    │   ├── TaskDefinitionError        bad schema, bad example (every problem listed)
    │   ├── UnsupportedType            a field type promptkit cannot describe (.path)
    │   └── TaskNotFoundError          unknown or ambiguous task reference
    ├── OutputError                    a reply that is not a valid output (.raw, .errors)
    ├── ReplyReadError (ValueError)    internal to parsing: no JSON value could be read
    │                                  (.offset); parse() turns it into an OutputError
    ├── BackendError                   transport or provider failure (.status, .retryable,
    │                                  .requests)
    ├── JobFileError (ValueError)      an input or output file of a batch run cannot be used
    └── DataError (ValueError)         a labelled-data file cannot be read as a task's items

Every error survives ``pickle.loads(pickle.dumps(error))`` with its fields
(a distributed run sends them across processes): the base class pickles the
message and the instance's attributes, not the constructor's arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError


def _rebuild(cls: type[PromptkitError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class PromptkitError(Exception):
    """Base of every error promptkit raises on purpose."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


class DefinitionError(PromptkitError, ValueError):
    """A mistake in how a task is written or referred to."""


class TaskDefinitionError(DefinitionError):
    """A task definition is invalid; ``problems`` lists every problem found."""

    def __init__(self, task: str, problems: Sequence[str]) -> None:
        self.task = task
        self.problems = tuple(problems)
        listed = "\n".join(f"  - {problem}" for problem in self.problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"task {task!r} has {count} {noun}:\n{listed}")


class TaskNotFoundError(DefinitionError, LookupError):
    """No task, or more than one, answers to a reference."""


class UnsupportedType(DefinitionError):
    """A model field has a type promptkit cannot describe; the task lists it as a problem."""

    def __init__(self, path: str, annotation: Any, reason: str) -> None:
        self.path = path
        self.annotation = annotation
        name = getattr(annotation, "__name__", repr(annotation))
        super().__init__(f"field {path!r} has unsupported type {name}; {reason}")


class ReplyReadError(PromptkitError, ValueError):
    """No JSON value could be read from a reply; ``offset`` is where reading gave up.

    Internal to parsing: :func:`promptkit.parse` turns it into an :class:`OutputError`.
    """

    def __init__(self, message: str, offset: int | None = None) -> None:
        self.offset = offset
        where = "" if offset is None else f" (at character {offset})"
        super().__init__(f"{message}{where}")


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """One problem with a reply: where it is, what is wrong, and the value found."""

    path: tuple[str | int, ...]
    message: str
    value: Any = None

    @property
    def location(self) -> str:
        """The field path in dotted form (``items.2.colour``), or ``<root>``."""
        return ".".join(str(part) for part in self.path) or "<root>"

    def __str__(self) -> str:
        return f"{self.location}: {self.message} (got {self.value!r})"


class OutputError(PromptkitError):
    """A reply could not become a valid output; it keeps the raw reply and every error.

    ``truncated`` is true when the reply ended inside its JSON (a token limit):
    asking again with the same budget would likely fail the same way.
    """

    def __init__(
        self,
        message: str,
        *,
        raw: str,
        errors: Sequence[ErrorDetail] = (),
        truncated: bool = False,
    ) -> None:
        self.raw = raw
        self.errors = tuple(errors)
        self.truncated = truncated
        details = "".join(f"\n  - {error}" for error in self.errors[:20])
        more = len(self.errors) - 20
        if more > 0:
            details += f"\n  - ... and {more} more"
        super().__init__(message + details)


class BackendError(PromptkitError):
    """A backend call failed; ``retryable`` says whether trying again may help.

    ``requests`` counts the requests sent before the backend gave up, retries included.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        requests: int = 1,
    ) -> None:
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        self.requests = requests
        super().__init__(message)


class ExtraNotInstalled(BackendError, ImportError):
    """A backend needs an optional dependency that is not installed; ``extra`` names it."""

    def __init__(self, what: str, extra: str) -> None:
        self.extra = extra
        super().__init__(f"{what}: pip install 'promptkit[{extra}]'", retryable=False)


class JobFileError(PromptkitError, ValueError):
    """An input or output file of a batch run cannot be used (missing columns, bad format)."""


class DataError(PromptkitError, ValueError):
    """A labelled-data file for evaluation cannot be read as items of a task (line given)."""


def validation_problems(error: ValidationError) -> list[str]:
    """Write each problem of a pydantic ``ValidationError`` as ``field 'loc': message``.

    The one formatter of pydantic errors: task definitions, input files,
    labelled data and the CLI all show problems this way.
    """
    problems = []
    for detail in error.errors():
        location = ".".join(str(part) for part in detail["loc"]) or "<root>"
        problem = f"field {location!r}: {detail['msg']}"
        if "input" in detail and detail["type"] != "missing":
            problem += f" (got {detail['input']!r})"
        problems.append(problem)
    return problems
