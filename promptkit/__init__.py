"""promptkit: an LLM task as typed, testable code."""

from promptkit.checks import Check, Finding, grounded
from promptkit.compiler import compile_batch, compile_prompt
from promptkit.errors import (
    BackendError,
    DefinitionError,
    ErrorDetail,
    JobFileError,
    OutputError,
    PromptkitError,
    TaskDefinitionError,
    TaskNotFoundError,
)
from promptkit.jobs import JobOptions, run_job
from promptkit.parsing import (
    Parsed,
    Report,
    parse,
    parse_batch,
    parse_with_report,
    reask_messages,
)
from promptkit.progress import JobSummary
from promptkit.prompt import Message, Prompt
from promptkit.repair import Action
from promptkit.result import Result
from promptkit.run import arun, arun_many, run, run_many
from promptkit.task import Example, Strategy, Task, field, load_task, registered_tasks

__all__ = [
    "Action",
    "BackendError",
    "Check",
    "DefinitionError",
    "ErrorDetail",
    "Example",
    "Finding",
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
    "arun",
    "arun_many",
    "compile_batch",
    "compile_prompt",
    "field",
    "grounded",
    "load_task",
    "parse",
    "parse_batch",
    "parse_with_report",
    "reask_messages",
    "registered_tasks",
    "run",
    "run_job",
    "run_many",
]
