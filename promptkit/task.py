"""Task and Example: a typed LLM task, checked when it is defined.

A :class:`Task` names an input model, an output model, instructions and
labelled examples. Every example is validated against both models in the
task's constructor, so a bad example fails at import time with the task,
the example's index and the field named, not at the first call.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import importlib.util
import pkgutil
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError, create_model
from pydantic import Field as _PydanticField

from promptkit.checks import Check, Grounded
from promptkit.errors import TaskDefinitionError, TaskNotFoundError
from promptkit.prompt import Prompt
from promptkit.schema import Shape, UnsupportedType, field_metadata, shape_of

Layout = Literal["chat", "inline", "completion"]
SchemaStyleName = Literal["compact", "jsonschema"]
SelectorName = Literal["first", "random", "similar", "diverse"]

_KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def field(
    default: Any = ...,
    *,
    description: str | None = None,
    null: str | None = None,
    aliases: Mapping[Any, Sequence[str]] | None = None,
) -> Any:
    """Declare a model field with what a prompt should say about it.

    Args:
        default: the field's default, as for :func:`pydantic.Field`.
        description: what the field holds.
        null: what null means, completing "null ..." (``"when the search names no colour"``).
        aliases: other spellings of allowed values (``{"long sleeve": ["long sleeved"]}``);
            shown in the prompt and accepted when parsing replies.
    """
    return _PydanticField(
        default,
        description=description,
        json_schema_extra=field_metadata(null=null, aliases=aliases),
    )


@dataclass(frozen=True, slots=True, eq=False)
class Example:
    """A labelled example: an input and the output the task should give for it.

    ``input`` may be a plain string for tasks with a single input field, a
    mapping of field values, or an instance of the input model; ``output`` a
    mapping or an instance of the output model. Examples compare by identity,
    so a prompt's examples can key a cache.
    """

    input: Any
    output: Any


@dataclass(frozen=True, slots=True)
class Strategy:
    """How a task is compiled into a prompt by default; every field can be overridden per call.

    ``selector`` picks which examples a prompt shows (``first``, ``random``,
    ``similar``, ``diverse``; see :mod:`promptkit.selection`), ``seed`` seeds
    ``random``, and ``token_budget`` caps the tokens the examples may take.
    """

    shots: int | None = None
    layout: Layout = "chat"
    schema_style: SchemaStyleName = "compact"
    batch_size: int = 1
    selector: SelectorName = "first"
    seed: int = 0
    token_budget: int | None = None

    def __post_init__(self) -> None:
        if self.shots is not None and self.shots < 0:
            raise ValueError(f"shots must be 0 or more, not {self.shots}")
        if self.selector not in ("first", "random", "similar", "diverse"):
            raise ValueError(
                f"selector must be first, random, similar or diverse, not {self.selector!r}"
            )
        if self.token_budget is not None and self.token_budget < 0:
            raise ValueError(f"token_budget must be 0 or more, not {self.token_budget}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be 1 or more, not {self.batch_size}")
        if self.layout not in ("chat", "inline", "completion"):
            raise ValueError(f"layout must be chat, inline or completion, not {self.layout!r}")
        if self.schema_style not in ("compact", "jsonschema"):
            raise ValueError(
                f"schema_style must be compact or jsonschema, not {self.schema_style!r}"
            )


Metric = Callable[[BaseModel, BaseModel | None], float | None]
"""A task's own evaluation metric: (expected, predicted or None) -> a score, or None to skip."""


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """Sampling settings for one call; the defaults are the source blog's.

    A backend sends what its provider supports and leaves out the rest
    (OpenAI's own API has no ``top_k``). ``None`` leaves a setting to the
    provider's default.
    """

    temperature: float | None = 0.05
    top_p: float | None = 0.8
    top_k: int | None = 20
    max_tokens: int = 500
    seed: int | None = None
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be 1 or more, not {self.max_tokens}")
        if self.temperature is not None and self.temperature < 0:
            raise ValueError(f"temperature must be 0 or more, not {self.temperature}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], not {self.top_p}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be 1 or more, not {self.top_k}")
        object.__setattr__(self, "stop", tuple(self.stop))

    def replace(self, **changes: object) -> GenerationParams:
        """Return a copy with some settings changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def stops_for(self, prompt: Prompt) -> tuple[str, ...]:
        """Return the stop sequences of the call: the prompt's, then any extra ones."""
        extra = tuple(stop for stop in self.stop if stop not in prompt.stop)
        return prompt.stop + extra


@dataclass(frozen=True, eq=False)
class Task:
    """A typed LLM task: instructions, an input model, an output model and labelled examples.

    Args:
        name: kebab-case name the task is found by (``apparel-search``).
        instructions: what the model is asked to do.
        input_model: a pydantic model, or the name of the single string input field.
        output_model: the pydantic model every reply must become.
        examples: labelled examples, validated here against both models.
        description: one line for ``promptkit tasks``; defaults to the first line of instructions.
        strategy: default compile settings.
        output_label: the label before each output in inline and completion layouts;
            defaults to the output model's name in words.
        checks: task-level output checks, run after validation.
        metrics: the task's own evaluation metrics, reported by name next to the built-in ones.
        generation: default sampling settings for this task; a call's own settings win.
    """

    name: str
    instructions: str
    input_model: type[BaseModel] | str
    output_model: type[BaseModel]
    examples: Sequence[Example] = ()
    description: str = ""
    strategy: Strategy = dataclasses.field(default_factory=Strategy)
    output_label: str = ""
    checks: Sequence[Check] = ()
    metrics: Sequence[Metric] = ()
    generation: GenerationParams = dataclasses.field(default_factory=GenerationParams)

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not _KEBAB.match(self.name):
            problems.append(f"name {self.name!r} must be kebab-case, like 'apparel-search'")
        if not self.instructions.strip():
            problems.append("instructions are empty")
        input_model = self.input_model
        if isinstance(input_model, str):
            input_model = _single_field_model(self.name, input_model)
        for role, model in (("input", input_model), ("output", self.output_model)):
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                problems.append(f"{role} model must be a pydantic model class, not {model!r}")
                continue
            try:
                shape_of(model)
            except (UnsupportedType, ValueError) as error:
                problems.append(f"{role} {error}")
        examples: tuple[Example, ...] = ()
        if not problems:
            problems += _grounding_problems(self.checks, shape_of(self.output_model))
            examples = tuple(self._validated(input_model, self.examples, problems))
        if problems:
            raise TaskDefinitionError(self.name, problems)
        set_ = object.__setattr__
        set_(self, "input_model", input_model)
        set_(self, "examples", examples)
        set_(self, "checks", tuple(self.checks))
        set_(self, "metrics", tuple(self.metrics))
        if not self.description:
            set_(self, "description", self.instructions.strip().splitlines()[0])
        if not self.output_label:
            set_(self, "output_label", _words(self.output_model.__name__))

    def _validated(
        self, input_model: type[BaseModel], examples: Sequence[Example], problems: list[str]
    ) -> list[Example]:
        validated = []
        for index, example in enumerate(examples):
            if not isinstance(example, Example):
                problems.append(
                    f"example {index}: expected Example(input=..., output=...), got {example!r}"
                )
                continue
            value = example.input
            if isinstance(value, str):
                (only, *rest) = input_model.model_fields
                value = {only: value} if not rest else value
            checked_input = _validate(input_model, value, f"example {index} input", problems)
            checked_output = _validate(
                self.output_model, example.output, f"example {index} output", problems
            )
            if checked_input is not None and checked_output is not None:
                validated.append(Example(checked_input, checked_output))
        return validated

    @property
    def input_shape(self) -> Shape:
        """The input model as a shape tree."""
        return shape_of(self.input_model_class)

    @property
    def output_shape(self) -> Shape:
        """The output model as a shape tree."""
        return shape_of(self.output_model)

    @property
    def input_model_class(self) -> type[BaseModel]:
        """The input model (a plain-string input has become a one-field model)."""
        assert isinstance(self.input_model, type)
        return self.input_model

    def make_input(self, value: Any) -> BaseModel:
        """Validate one input: a string for a one-field input, a mapping, or a model instance."""
        model = self.input_model_class
        if isinstance(value, model):
            return value
        if isinstance(value, str) and len(model.model_fields) == 1:
            value = {next(iter(model.model_fields)): value}
        return model.model_validate(value)

    def __repr__(self) -> str:
        return f"Task(name={self.name!r}, examples={len(self.examples)})"


def _grounding_problems(checks: Sequence[Check], output: Shape) -> list[str]:
    """Name every field a ``grounded`` check asks for that is not a string field of the output."""
    kinds = {spec.name: spec.shape for spec in output.fields}
    problems = []
    for check in checks:
        if not isinstance(check, Grounded):
            continue
        for name in check.fields:
            shape = kinds.get(name)
            if shape is not None and shape.kind == "array":
                shape = shape.item
            if shape is None or shape.kind != "string":
                problems.append(
                    f"check grounded({name!r}): the output has no str or list[str] field {name!r}"
                )
    return problems


def _single_field_model(task: str, name: str) -> type[BaseModel]:
    model_name = "".join(part.title() for part in re.split(r"[-_\s]+", task)) + "Input"
    model: type[BaseModel] = create_model(model_name, **{name: (str, ...)})  # type: ignore[call-overload]
    return model


def _validate(
    model: type[BaseModel], value: Any, where: str, problems: list[str]
) -> BaseModel | None:
    if isinstance(value, model):
        return value
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if not isinstance(value, Mapping):
        problems.append(
            f"{where}: expected {model.__name__} or a mapping, got {type(value).__name__} {value!r}"
        )
        return None
    unknown = sorted(set(value) - set(model.model_fields))
    for key in unknown:
        problems.append(f"{where}, field {key!r}: not a field of {model.__name__} (a typo?)")
    if unknown:
        return None
    try:
        return model.model_validate(value)
    except ValidationError as error:
        for detail in error.errors():
            location = ".".join(str(part) for part in detail["loc"]) or "<root>"
            problems.append(
                f"{where}, field {location!r}: {detail['msg']} (got {detail.get('input')!r})"
            )
        return None


def _words(name: str) -> str:
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).split()
    return " ".join([words[0], *(word.lower() for word in words[1:])]) if words else name


# -- lookup ----------------------------------------------------------------------

BUNDLED_PACKAGE = "tasks"
ENTRY_POINT_GROUP = "promptkit.tasks"


def load_task(reference: str) -> Task:
    """Find a task by kebab-case name, ``module:attr`` or ``path/to/file.py:attr``.

    Names are looked up among the bundled tasks and those that installed
    packages declare under the ``promptkit.tasks`` entry-point group; both
    are imported on first lookup, never at import of promptkit.
    """
    if ":" in reference:
        return _load_reference(reference)
    found = registered_tasks()
    if reference in found:
        return found[reference]
    known = ", ".join(sorted(found)) or "none"
    raise TaskNotFoundError(
        f"no task named {reference!r}; known tasks: {known} "
        "(or give module:attr or path/to/file.py:attr)"
    )


def registered_tasks() -> dict[str, Task]:
    """Return every findable task by name; two tasks with one name are an error."""
    sources: dict[str, str] = {}
    found: dict[str, Task] = {}
    for origin, task in _discover():
        if task.name in found and found[task.name] is not task:
            raise TaskNotFoundError(
                f"two tasks are named {task.name!r}: {sources[task.name]} and {origin}; rename one"
            )
        sources[task.name] = origin
        found[task.name] = task
    return found


def _discover() -> Iterator[tuple[str, Task]]:
    try:
        package = importlib.import_module(BUNDLED_PACKAGE)
    except ModuleNotFoundError:
        package = None
    if package is not None and hasattr(package, "__path__"):
        for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            module_name = f"{BUNDLED_PACKAGE}.{module_info.name}"
            module = importlib.import_module(module_name)
            for attr, value in vars(module).items():
                if isinstance(value, Task):
                    yield f"{module_name}:{attr}", value
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        value = entry_point.load()
        if isinstance(value, Task):
            yield entry_point.value, value


def _load_reference(reference: str) -> Task:
    location, _, attr = reference.rpartition(":")
    if location.endswith(".py"):
        path = Path(location)
        if not path.is_file():
            raise TaskNotFoundError(f"no file {location!r} (from {reference!r})")
        spec = importlib.util.spec_from_file_location(f"_promptkit_task_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise TaskNotFoundError(f"cannot load {location!r} as a Python file")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(location)
        except ModuleNotFoundError as error:
            raise TaskNotFoundError(
                f"cannot import module {location!r} (from {reference!r}): {error}"
            ) from None
    value = getattr(module, attr, None)
    if not isinstance(value, Task):
        what = "nothing" if value is None else type(value).__name__
        raise TaskNotFoundError(f"{reference!r} names {what}, not a Task")
    return value
