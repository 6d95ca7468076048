"""Finding tasks: by kebab-case name, ``module:attr``, ``path/to/file.py:attr`` or ``file.py``.

Named tasks are those that installed packages declare under the
``promptkit.tasks`` entry-point group, promptkit's own bundled tasks
included (they are installed as ``promptkit_tasks``, a name no
application's own ``tasks`` package can clash with). Entry points are
loaded on first lookup, never at import of promptkit.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from promptkit.errors import DefinitionError, TaskNotFoundError
from promptkit.task import Task

ENTRY_POINT_GROUP = "promptkit.tasks"


def load_task(reference: str) -> Task[Any, Any]:
    """Find a task by kebab-case name, ``module:attr``, ``path/to/file.py:attr`` or ``file.py``.

    A file or module given without ``:attr`` must hold exactly one task.
    """
    location, colon, attr = reference.rpartition(":")
    if not colon and reference.endswith(".py"):
        location, attr = reference, ""
    if location:
        return _from_module(_import(location, reference), reference, attr)
    found = registered_tasks()
    if reference in found:
        return found[reference]
    known = ", ".join(sorted(found)) or "none"
    raise TaskNotFoundError(
        f"no task named {reference!r}; known tasks: {known} "
        "(or give module:attr, path/to/file.py:attr or file.py)"
    )


def registered_tasks() -> dict[str, Task[Any, Any]]:
    """Return every task declared under the entry-point group, by name; a clash is an error."""
    sources: dict[str, str] = {}
    found: dict[str, Task[Any, Any]] = {}
    for origin, task in _declared():
        if task.name in found and found[task.name] is not task:
            raise TaskNotFoundError(
                f"two tasks are named {task.name!r}: {sources[task.name]} and {origin}; rename one"
            )
        sources[task.name] = origin
        found[task.name] = task
    return found


def _declared() -> Iterator[tuple[str, Task[Any, Any]]]:
    for entry_point in sorted(
        importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name
    ):
        value = entry_point.load()
        if isinstance(value, Task):
            yield entry_point.value, value


def _import(location: str, reference: str) -> ModuleType:
    if not location.endswith(".py"):
        try:
            return importlib.import_module(location)
        except ModuleNotFoundError as error:
            raise TaskNotFoundError(
                f"cannot import module {location!r} (from {reference!r}): {error}"
            ) from None
    path = Path(location)
    if not path.is_file():
        raise TaskNotFoundError(f"no file {location!r} (from {reference!r})")
    name = f"_promptkit_task_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TaskNotFoundError(f"cannot load {location!r} as a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look classes up by module name
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        sys.modules.pop(name, None)
        raise TaskNotFoundError(
            f"{location}:{error.lineno}: syntax error: {error.msg} (from {reference!r})"
        ) from None
    except Exception as error:
        sys.modules.pop(name, None)
        if isinstance(error, DefinitionError):
            raise  # a bad task in the file: its own message names the task and the problem
        raise TaskNotFoundError(
            f"{location} failed to import: {type(error).__name__}: {error} (from {reference!r})"
        ) from None
    return module


def _from_module(module: ModuleType, reference: str, attr: str) -> Task[Any, Any]:
    named: dict[str, Task[Any, Any]] = {}
    for value in vars(module).values():
        if isinstance(value, Task) and named.setdefault(value.name, value) is not value:
            raise TaskNotFoundError(
                f"{reference!r}: two tasks are named {value.name!r}; rename one"
            )
    if attr:
        value = getattr(module, attr, None)
        if not isinstance(value, Task):
            what = "nothing" if value is None else type(value).__name__
            raise TaskNotFoundError(f"{reference!r} names {what}, not a Task")
        return value
    tasks: dict[str, Task[Any, Any]] = {}
    for name, value in vars(module).items():
        if isinstance(value, Task) and all(value is not seen for seen in tasks.values()):
            tasks[name] = value
    if len(tasks) != 1:
        held = ", ".join(sorted(tasks)) or "no task"
        raise TaskNotFoundError(
            f"{reference!r} holds {held}; name one as {reference}:attr"
            if tasks
            else f"{reference!r} holds no task"
        )
    return next(iter(tasks.values()))
