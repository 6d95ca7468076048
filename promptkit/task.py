"""Task and Example: a typed LLM task, checked when it is defined.

A :class:`Task` names an input model, an output model, instructions and
labelled examples. Every example is validated against both models in the
task's constructor, so a bad example fails at import time with the task,
the example's index and the field named, not at the first call.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic

from pydantic import BaseModel, ValidationError, create_model
from pydantic import Field as _PydanticField
from typing_extensions import TypeVar

from promptkit._types import (
    LAYOUTS,
    REPLY_FORMATS,
    SCHEMA_STYLES,
    SELECTORS,
    Layout,
    ReplyFormat,
    SchemaStyle,
    SelectorName,
    check_choice,
)
from promptkit.checks import Check, Grounded
from promptkit.errors import DataError, TaskDefinitionError, validation_problems
from promptkit.pools import ExamplePool
from promptkit.prompt import GenerationParams
from promptkit.schema import Shape, element, field_metadata, shape_of, shape_problems
from promptkit.vocabularies import canonical_fields

_CHOICE_ERRORS = frozenset({"literal_error", "enum"})
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
    ``reply_format`` is ``json`` or, for flat outputs, ``table`` (rows under a
    header; see :mod:`promptkit.rows`). ``pinned`` opens every prompt with the
    task's first ``pinned`` examples, before the ``shots - pinned`` the selector
    chooses: a prefix every prompt shares, which a backend's prompt cache
    evaluates once rather than for every input.
    """

    shots: int | None = None
    layout: Layout = "chat"
    schema_style: SchemaStyle = "compact"
    batch_size: int = 1
    selector: SelectorName = "first"
    seed: int = 0
    token_budget: int | None = None
    reply_format: ReplyFormat = "json"
    pinned: int = 0

    def __post_init__(self) -> None:
        if self.shots is not None and self.shots < 0:
            raise ValueError(f"shots must be 0 or more, not {self.shots}")
        if self.pinned < 0:
            raise ValueError(f"pinned must be 0 or more, not {self.pinned}")
        check_choice("selector", self.selector, SELECTORS)
        if self.token_budget is not None and self.token_budget < 0:
            raise ValueError(f"token_budget must be 0 or more, not {self.token_budget}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be 1 or more, not {self.batch_size}")
        check_choice("layout", self.layout, LAYOUTS)
        check_choice("schema_style", self.schema_style, SCHEMA_STYLES)
        check_choice("reply_format", self.reply_format, REPLY_FORMATS)


Metric = Callable[[BaseModel, BaseModel | None], float | None]
"""A task's own evaluation metric: (expected, predicted or None) -> a score, or None to skip."""


InT = TypeVar("InT", bound=BaseModel, default=BaseModel, covariant=True)
OutT = TypeVar("OutT", bound=BaseModel, default=BaseModel, covariant=True)


@dataclass(frozen=True, eq=False)
class Task(Generic[InT, OutT]):
    """A typed LLM task: instructions, an input model, an output model and labelled examples.

    Args:
        name: kebab-case name the task is found by (``apparel-search``).
        instructions: what the model is asked to do.
        input_model: a pydantic model, or the name of the single string input field.
        output_model: the pydantic model every reply must become.
        examples: labelled examples, validated here against both models.
        pool: more labelled examples to select from, in a JSONL file read when first
            needed (see :mod:`promptkit.pools`); a prompt selects among ``examples``
            followed by the pool's rows.
        description: one line for ``promptkit tasks``; defaults to the first line of instructions.
        strategy: default compile settings.
        output_label: the label before each output in inline and completion layouts;
            defaults to the output model's name in words.
        checks: task-level output checks, run after validation.
        metrics: the task's own evaluation metrics, reported by name next to the built-in ones.
        generation: default sampling settings for this task; a call's own settings win.
        described: the output fields whose descriptions the prompt carries (in the reply
            notation and the reply's JSON Schema); ``None``, the default, carries every one.
            A description the model does not need costs tokens on every call.
    """

    name: str
    instructions: str
    input_model: type[InT] | str
    output_model: type[OutT]
    examples: Sequence[Example] = ()
    pool: ExamplePool | None = None
    description: str = ""
    strategy: Strategy = dataclasses.field(default_factory=Strategy)
    output_label: str = ""
    checks: Sequence[Check] = ()
    metrics: Sequence[Metric] = ()
    generation: GenerationParams = dataclasses.field(default_factory=GenerationParams)
    described: Sequence[str] | None = None

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not _KEBAB.match(self.name):
            problems.append(f"name {self.name!r} must be kebab-case, like 'apparel-search'")
        if not self.instructions.strip():
            problems.append("instructions are empty")
        input_model: type[BaseModel] | str = self.input_model
        if isinstance(input_model, str):
            input_model = _single_field_model(self.name, input_model)
        for role, model in (("input", input_model), ("output", self.output_model)):
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                problems.append(f"{role} model must be a pydantic model class, not {model!r}")
                continue
            problems += (f"{role} {error}" for error in shape_problems(model))
        examples: tuple[Example, ...] = ()
        if self.strategy.pinned > len(self.examples):
            problems.append(
                f"strategy pins {self.strategy.pinned} examples, "
                f"but the task has {len(self.examples)}"
            )
        if not problems:
            problems += _grounding_problems(self.checks, shape_of(self.output_model))
            problems += _described_problems(self.described, shape_of(self.output_model))
            examples = tuple(self._validated(input_model, self.examples, problems))
        if problems:
            raise TaskDefinitionError(self.name, problems)
        set_ = object.__setattr__
        set_(self, "input_model", input_model)
        set_(self, "examples", examples)
        set_(self, "checks", tuple(self.checks))
        set_(self, "metrics", tuple(self.metrics))
        if self.described is not None:
            set_(self, "described", tuple(self.described))
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
    def candidates(self) -> tuple[Example, ...]:
        """The examples a prompt selects from: the task's own, then its pool's rows.

        Raises:
            TaskDefinitionError: the pool cannot be read or a row is not valid,
                with the file, the line and the field named.
        """
        return (*self.examples, *_pool_examples(self))

    def labelled(
        self, row: Mapping[str, Any], where: str, problems: list[str], *, gold: bool = False
    ) -> Example | None:
        """Split a labelled row into a validated example (input fields, expected output fields).

        What is wrong is appended to ``problems``, with ``where`` before it; then ``None``.
        A ``gold`` row (evaluation data, never shown to a model) may hold a value
        outside a closed vocabulary: it is kept as written, and no output can match it.
        """
        known = set(self.input_model_class.model_fields) | _field_names(self.output_model)
        unknown = sorted(set(row) - known)
        if unknown:
            problems.append(
                f"{where}: {', '.join(map(repr, unknown))} is not a field of the task's input "
                f"or output ({', '.join(sorted(known))})"
            )
            return None
        inputs = {name: row[name] for name in self.input_model_class.model_fields if name in row}
        outputs = {name: value for name, value in row.items() if name not in inputs}
        checked_input = _validate(self.input_model_class, inputs, f"{where} input", problems)
        checked_output = _validate(
            self.output_model, outputs, f"{where} output", problems, open_choices=gold
        )
        if checked_input is None or checked_output is None:
            return None
        return Example(checked_input, checked_output)

    @property
    def input_shape(self) -> Shape:
        """The input model as a shape tree."""
        return shape_of(self.input_model_class)

    @property
    def output_shape(self) -> Shape:
        """The output model as a shape tree, its fields described as ``described`` says."""
        return _described_shape(self.output_model, self.described)

    @property
    def input_model_class(self) -> type[InT]:
        """The input model (a plain-string input has become a one-field model)."""
        assert isinstance(self.input_model, type)
        return self.input_model

    def make_input(self, value: Any) -> InT:
        """Validate one input: a string for a one-field input, a mapping, or a model instance."""
        model = self.input_model_class
        if isinstance(value, model):
            return value
        if isinstance(value, str) and len(model.model_fields) == 1:
            value = {next(iter(model.model_fields)): value}
        return model.model_validate(value)

    def __repr__(self) -> str:
        return f"Task(name={self.name!r}, examples={len(self.examples)})"


def shown_input(item: BaseModel) -> Any:
    """Return an input as prompts and records show it: a one-field input as its bare value."""
    data = item.model_dump(mode="json")
    return next(iter(data.values())) if len(data) == 1 else data


def shown_output(output: BaseModel) -> dict[str, Any]:
    """Return an output as a prompt's examples write it: fields left at their default omitted.

    Keys are written by alias (the one name the prompt and schema use).
    """
    return output.model_dump(mode="json", exclude_defaults=True, by_alias=True)


def _pool_examples(task: Task) -> tuple[Example, ...]:
    """Read and validate a task's pool once (tasks hash by identity)."""
    if task.pool is None:
        return ()
    cached = _POOLS.get(task)
    if cached is not None:
        return cached
    problems: list[str] = []
    try:
        rows = task.pool.rows()
    except DataError as error:
        raise TaskDefinitionError(task.name, [f"pool: {error}"]) from None
    examples = []
    for number, row in rows:
        example = task.labelled(row, f"pool {task.pool.name}:{number}", problems)
        if example is not None:
            examples.append(example)
    if problems:
        raise TaskDefinitionError(task.name, problems)
    return _POOLS.setdefault(task, tuple(examples))


_POOLS: weakref.WeakKeyDictionary[Task, tuple[Example, ...]] = weakref.WeakKeyDictionary()


def _described_problems(described: Sequence[str] | None, output: Shape) -> list[str]:
    """Name every field ``described`` lists that is not a field of the output."""
    if described is None or isinstance(described, str):
        return [] if described is None else [f"described must be field names, not {described!r}"]
    fields = {spec.name for spec in output.fields}
    return [
        f"described: {name!r} is not an output field ({', '.join(sorted(fields))})"
        for name in described
        if name not in fields
    ]


@functools.lru_cache(maxsize=64)
def _described_shape(model: type[BaseModel], described: tuple[str, ...] | None) -> Shape:
    """A model's shape with the descriptions of fields not in ``described`` left out."""
    output = shape_of(model)
    if described is None:
        return output
    fields = tuple(
        spec if spec.name in described else dataclasses.replace(spec, description=None)
        for spec in output.fields
    )
    return dataclasses.replace(output, fields=fields)


def _grounding_problems(checks: Sequence[Check], output: Shape) -> list[str]:
    """Name every field a ``grounded`` check asks for that is not a string or vocabulary field."""
    kinds = {spec.name: spec.shape for spec in output.fields}
    problems = []
    for check in checks:
        if not isinstance(check, Grounded):
            continue
        for name in check.fields:
            shape = element(kinds[name]) if name in kinds else None
            textual = shape is not None and (
                shape.kind == "string"
                or (shape.kind == "enum" and all(isinstance(v, str) for v in shape.values))
            )
            if not textual:
                problems.append(
                    f"check grounded({name!r}): the output has no str, vocabulary or list "
                    f"of them named {name!r}"
                )
    return problems


def _single_field_model(task: str, name: str) -> type[BaseModel]:
    model_name = "".join(part.title() for part in re.split(r"[-_\s]+", task)) + "Input"
    model: type[BaseModel] = create_model(model_name, **{name: (str, ...)})  # type: ignore[call-overload]
    return model


def _validate(
    model: type[BaseModel],
    value: Any,
    where: str,
    problems: list[str],
    *,
    open_choices: bool = False,
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
    names = _field_names(model)
    unknown = sorted(set(value) - names) if model.model_config.get("extra") != "allow" else []
    for key in unknown:
        problems.append(f"{where}, field {key!r}: not a field of {model.__name__} (a typo?)")
    if unknown:
        return None
    canonical = canonical_fields(shape_of(model).fields, value)
    try:
        return model.model_validate(canonical, by_alias=True, by_name=True)
    except ValidationError as error:
        if open_choices and all(e["type"] in _CHOICE_ERRORS for e in error.errors()):
            return model.model_construct(**canonical)
        problems += (f"{where}, {problem}" for problem in validation_problems(error))
        return None


def _field_names(model: type[BaseModel]) -> set[str]:
    """Every key an example may use for a field: its name or any of its aliases."""
    return {name for spec in shape_of(model).fields for name in spec.names}


def _words(name: str) -> str:
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).split()
    return " ".join([words[0], *(word.lower() for word in words[1:])]) if words else name
