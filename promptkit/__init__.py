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
from promptkit.evaluation import Configuration, evaluate, load_labelled
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
from promptkit.selection import select_examples
from promptkit.task import (
    Example,
    GenerationParams,
    Strategy,
    Task,
    field,
    load_task,
    registered_tasks,
)

__all__ = [
    "Action",
    "BackendError",
    "Check",
    "Configuration",
    "DefinitionError",
    "ErrorDetail",
    "Example",
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
]
