"""promptkit: an LLM task as typed, testable code."""

from promptkit.compiler import compile_batch, compile_prompt
from promptkit.errors import (
    BackendError,
    DefinitionError,
    ErrorDetail,
    OutputError,
    PromptkitError,
    TaskDefinitionError,
    TaskNotFoundError,
)
from promptkit.prompt import Message, Prompt
from promptkit.task import Example, Strategy, Task, field, load_task, registered_tasks

__all__ = [
    "BackendError",
    "DefinitionError",
    "ErrorDetail",
    "Example",
    "Message",
    "OutputError",
    "Prompt",
    "PromptkitError",
    "Strategy",
    "Task",
    "TaskDefinitionError",
    "TaskNotFoundError",
    "compile_batch",
    "compile_prompt",
    "field",
    "load_task",
    "registered_tasks",
]
