"""promptkit: an LLM task as typed, testable code.

Every public name is loaded from its module on first access (PEP 562, as
pydantic does), so ``import promptkit`` costs almost nothing, ``from promptkit
import Task`` loads the definition layer only, and file jobs, evaluation and the
CLI (rich, sqlite3, thread pools) load only when they are used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from promptkit.checks import Check, Finding, grounded
    from promptkit.compiler import CompileOptions, compile_batch, compile_prompt
    from promptkit.errors import (
        BackendError,
        DataError,
        DefinitionError,
        ErrorDetail,
        JobFileError,
        OutputError,
        PromptkitError,
        TaskDefinitionError,
        TaskNotFoundError,
    )
    from promptkit.evaluation import Configuration, evaluate, load_labelled
    from promptkit.execution import arun, arun_many, run, run_many
    from promptkit.jobs import JobOptions, JobSummary, run_job
    from promptkit.output import (
        Action,
        Parsed,
        Report,
        parse,
        parse_batch,
        parse_with_report,
        reask_messages,
    )
    from promptkit.pools import ExamplePool
    from promptkit.prompt import GenerationParams, Message, Prompt
    from promptkit.registry import load_task, registered_tasks
    from promptkit.result import Result
    from promptkit.selection import select_examples
    from promptkit.task import Example, Strategy, Task, field
    from promptkit.vocabularies import vocabulary

_LAZY = {
    "Check": "promptkit.checks",
    "Finding": "promptkit.checks",
    "grounded": "promptkit.checks",
    "CompileOptions": "promptkit.compiler",
    "compile_batch": "promptkit.compiler",
    "compile_prompt": "promptkit.compiler",
    "BackendError": "promptkit.errors",
    "DataError": "promptkit.errors",
    "DefinitionError": "promptkit.errors",
    "ErrorDetail": "promptkit.errors",
    "JobFileError": "promptkit.errors",
    "OutputError": "promptkit.errors",
    "PromptkitError": "promptkit.errors",
    "TaskDefinitionError": "promptkit.errors",
    "TaskNotFoundError": "promptkit.errors",
    "Configuration": "promptkit.evaluation",
    "evaluate": "promptkit.evaluation",
    "load_labelled": "promptkit.evaluation",
    "arun": "promptkit.execution",
    "arun_many": "promptkit.execution",
    "run": "promptkit.execution",
    "run_many": "promptkit.execution",
    "JobOptions": "promptkit.jobs",
    "JobSummary": "promptkit.jobs",
    "run_job": "promptkit.jobs",
    "Action": "promptkit.output",
    "Parsed": "promptkit.output",
    "Report": "promptkit.output",
    "parse": "promptkit.output",
    "parse_batch": "promptkit.output",
    "parse_with_report": "promptkit.output",
    "reask_messages": "promptkit.output",
    "ExamplePool": "promptkit.pools",
    "GenerationParams": "promptkit.prompt",
    "Message": "promptkit.prompt",
    "Prompt": "promptkit.prompt",
    "load_task": "promptkit.registry",
    "registered_tasks": "promptkit.registry",
    "Result": "promptkit.result",
    "select_examples": "promptkit.selection",
    "Example": "promptkit.task",
    "Strategy": "promptkit.task",
    "Task": "promptkit.task",
    "field": "promptkit.task",
    "vocabulary": "promptkit.vocabularies",
}

__all__ = [
    "Action",
    "BackendError",
    "Check",
    "CompileOptions",
    "Configuration",
    "DataError",
    "DefinitionError",
    "ErrorDetail",
    "Example",
    "ExamplePool",
    "Finding",
    "GenerationParams",
    "JobFileError",
    "JobOptions",
    "JobSummary",
    "Message",
    "OutputError",
    "Parsed",
    "Prompt",
    "PromptkitError",
    "Report",
    "Result",
    "Strategy",
    "Task",
    "TaskDefinitionError",
    "TaskNotFoundError",
    "__version__",
    "arun",
    "arun_many",
    "compile_batch",
    "compile_prompt",
    "evaluate",
    "field",
    "grounded",
    "load_labelled",
    "load_task",
    "parse",
    "parse_batch",
    "parse_with_report",
    "reask_messages",
    "registered_tasks",
    "run",
    "run_job",
    "run_many",
    "select_examples",
    "vocabulary",
]

__version__: str


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name == "__version__":
        from importlib.metadata import version

        globals()["__version__"] = found = version("promptkit")
        return found
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
