"""The typer app every command registers on, and the options commands share.

Choices come from the vocabularies in :mod:`promptkit._types`, so the CLI
offers exactly the layouts, selectors and schema styles the library accepts;
a value that is not one is refused in our words, with the closest name.
Help names values plainly (``TEXT``, ``N``, ``PATH``); ``-`` is standard
input for ``--input-file``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

import typer
from typer.core import TyperArgument, TyperCommand

from promptkit._types import (
    LAYOUTS,
    REPLY_FORMATS,
    SCHEMA_STYLES,
    SELECTORS,
    Layout,
    ReplyFormat,
    SchemaStyle,
    SelectorName,
)
from promptkit.backends import BACKEND_KINDS
from promptkit.backends.anthropic_wire import AnthropicMode
from promptkit.backends.base import Backend, RetryPolicy
from promptkit.backends.openai_wire import Dialect, OutputMode
from promptkit.config import did_you_mean
from promptkit.errors import BackendError, JobFileError, TaskDefinitionError
from promptkit.jobs.files import read_inputs
from promptkit.task import Task

F = TypeVar("F", bound=Callable[..., Any])


class Command(TyperCommand):
    """A command whose help names each argument by its metavar alone (``TASK``)."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        names = [_argument_name(p) for p in self.get_params(ctx) if isinstance(p, TyperArgument)]
        return [self.options_metavar or "[OPTIONS]", *names]

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                arguments.append((_argument_name(param), param.help or ""))
            elif (record := param.get_help_record(ctx)) is not None:
                options.append(record)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


def _argument_name(param: TyperArgument) -> str:
    return param.metavar or (param.name or "").upper()


class App(typer.Typer):
    """A typer app whose commands use :class:`Command`."""

    def command(  # the same call, with a default command class
        self, name: str | None = None, **kwargs: Any
    ) -> Callable[[F], F]:
        kwargs.setdefault("cls", Command)
        register: Callable[[F], F] = super().command(name, **kwargs)
        return register


app = App(
    name="promptkit",
    help="An LLM task as typed, testable code.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        from promptkit import __version__

        print(f"promptkit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """An LLM task as typed, testable code."""


# -- choices ---------------------------------------------------------------------------


def choice(what: str, allowed: Sequence[str]) -> Callable[[str], str]:
    """Return a parser that accepts one of ``allowed`` and refuses anything else in our words."""

    def parse(value: str) -> str:
        if value in allowed:
            return value
        hint = did_you_mean(value, allowed)
        raise typer.BadParameter(f"no {what} {value!r}; {hint + ' ' if hint else ''}"
                                 f"choose {', '.join(allowed)}")  # fmt: skip

    return parse


def number(minimum: float, kind: type[int] | type[float] = int) -> Callable[[str], Any]:
    """Return a parser of a whole number (or with ``float``, any number) of at least ``minimum``."""
    what = "a whole number" if kind is int else "a number"

    def parse(value: str) -> int | float:
        try:
            parsed = kind(value)
        except (TypeError, ValueError):
            parsed = None
        if parsed is None or parsed < minimum:
            raise typer.BadParameter(f"expected {what} of {minimum:g} or more, got {value!r}")
        return parsed

    return parse


def _choices(allowed: Sequence[str]) -> str:
    return "[" + "|".join(allowed) + "]"


def choice_option(what: str, allowed: Sequence[str], text: str, *names: str) -> Any:
    """Return a ``typer.Option`` for one of ``allowed``, shown ``[a|b]``, refused in our words."""
    return typer.Option(*names, metavar=_choices(allowed), parser=choice(what, allowed), help=text)


class FormatChoice(StrEnum):
    TEXT = "text"
    JSON = "json"


# -- shared options ---------------------------------------------------------------------

TaskArg = Annotated[
    str,
    typer.Argument(
        metavar="TASK",
        help="Task name (apparel-search), module:attr, path/to/file.py:attr, or file.py "
        "when the file holds one task.",
    ),
]
InputOpt = Annotated[
    list[str] | None, typer.Option("--input", "-i", metavar="TEXT", help="An input (repeatable).")
]
InputFileOpt = Annotated[
    Path | None,
    typer.Option(
        metavar="PATH",
        help="Inputs from a file: .txt (one per line), .jsonl (objects of input fields) "
        "or .csv (columns named by input fields); - reads standard input (lines of text, "
        "or JSON objects).",
    ),
]
ShotsOpt = Annotated[
    int | None,
    typer.Option(metavar="N", parser=number(0), help="Examples to show (default: the task's)."),
]
LayoutOpt = Annotated[
    Layout | None,
    choice_option("layout", LAYOUTS, "Prompt layout (default: the task's)."),
]
BatchSizeOpt = Annotated[
    int | None, typer.Option(metavar="N", parser=number(1), help="Inputs packed into one prompt.")
]
SchemaStyleOpt = Annotated[
    SchemaStyle | None,
    choice_option("schema style", SCHEMA_STYLES, "How the reply shape is written."),
]
ReplyFormatOpt = Annotated[
    ReplyFormat | None,
    choice_option(
        "reply format",
        REPLY_FORMATS,
        "How replies are written: json, or table (rows; flat outputs only). Default: the task's.",
    ),
]
SelectorOpt = Annotated[
    SelectorName | None,
    choice_option(
        "selector", SELECTORS, "How examples are selected for each input (default: the task's)."
    ),
]
SeedOpt = Annotated[
    int | None,
    typer.Option(metavar="N", parser=number(-(2**63)), help="Seed of the random selector."),
]
TokenBudgetOpt = Annotated[
    int | None,
    typer.Option(
        metavar="N", parser=number(0), help="Most tokens the examples of a prompt may take."
    ),
]
PoolOpt = Annotated[
    Path | None,
    typer.Option(
        metavar="PATH",
        help="Labelled JSONL to select examples from instead of the task's examples and pool.",
    ),
]
BackendOpt = Annotated[
    str | None,
    typer.Option(
        metavar=_choices(BACKEND_KINDS),
        help="Where calls go: local (the embedded model), openai or anthropic "
        "(default: PROMPTKIT_BACKEND, then the config files, then local).",
    ),
]
ModelOpt = Annotated[
    str | None,
    typer.Option(metavar="NAME", help="Model name, or a GGUF path (default: PROMPTKIT_MODEL)."),
]
BaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        metavar="URL", help="An OpenAI-compatible server's URL (default: PROMPTKIT_BASE_URL)."
    ),
]
LogOpt = Annotated[
    Path | None,
    typer.Option(
        metavar="PATH",
        help="Append one JSON line per backend call here: prompt, reply, usage, latency "
        "(keys redacted).",
    ),
]
BackendMode = Literal[OutputMode, AnthropicMode]  # every mode some backend kind takes
ModeOpt = Annotated[
    BackendMode | None,
    choice_option(
        "mode",
        get_args(OutputMode) + get_args(AnthropicMode),
        "How replies are constrained: openai text, json_object, json_schema (default) or "
        "tool; anthropic json (default) or tool (default: PROMPTKIT_MODE).",
    ),
]
DialectOpt = Annotated[
    Dialect | None,
    choice_option(
        "dialect",
        get_args(Dialect),
        "How the openai backend's server takes a schema (default openai).",
    ),
]


# -- inputs -------------------------------------------------------------------------------


@contextlib.contextmanager
def input_path(path: Path | None) -> Iterator[Path | None]:
    """Yield ``path``, or for ``-`` a temporary copy of standard input named by what it holds.

    Standard input is lines of text, or JSONL when its first non-blank line is an object.
    """
    if path is None or str(path) != "-":
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="promptkit-stdin-") as folder:
        spool = Path(folder) / "stdin"
        with spool.open("wb") as handle:
            shutil.copyfileobj(sys.stdin.buffer, handle)
        with spool.open("rb") as handle:
            first = next((line for line in handle if line.strip()), b"")
        named = spool.rename(spool.with_suffix(".jsonl" if first.lstrip()[:1] == b"{" else ".txt"))
        yield named


def read_cli_inputs(
    task: Task, given: Sequence[str], path: Path | None, *, named: Path | None = None
) -> Iterator[Any]:
    """Yield the inputs from --input values, then from --input-file; at least one is required.

    The file is read by the batch-run reader (:func:`promptkit.jobs.files.read_inputs`); here a
    row that is not a valid input is a usage error, since nothing has been sent yet.
    ``named`` is the path as given (``-`` for standard input), for messages.
    """
    yield from given
    if path is None:
        if not given:
            raise typer.BadParameter("give at least one --input or an --input-file")
        return
    shown = "standard input" if named is not None and str(named) == "-" else str(path)
    try:
        items = read_inputs(path, task)
    except JobFileError as error:
        message = str(error).replace(str(path), shown)
        raise typer.BadParameter(message, param_hint="--input-file") from None
    empty = True
    for item in items:
        if item.problem is not None:
            raise typer.BadParameter(f"{shown}, input {item.index + 1}: {item.problem}")
        empty = False
        yield item.value
    if empty and not given:
        raise typer.BadParameter(f"{shown} holds no inputs", param_hint="--input-file")


def with_pool(task: Task, pool: Path | None) -> Task:
    """The task selecting its examples from ``pool`` alone (none pinned), read and validated now."""
    if pool is None:
        return task
    from promptkit.pools import ExamplePool

    alone = dataclasses.replace(task.strategy, pinned=0)
    pooled = dataclasses.replace(task, examples=(), pool=ExamplePool(pool), strategy=alone)
    try:
        pooled.candidates  # noqa: B018 - read and validate the file now, as a usage error
    except TaskDefinitionError as error:
        raise typer.BadParameter("; ".join(error.problems), param_hint="--pool") from None
    return pooled


def warn_shots(task: Task, shots: int | None, available: int | None = None) -> None:
    """Warn on stderr when more examples are asked for than there are, saying how many are used."""
    there = len(task.candidates) if available is None else available
    if shots is not None and shots > there:
        print(
            f"promptkit: warning: --shots {shots}, but {task.name} has {there} examples; "
            f"using {there}",
            file=sys.stderr,
        )


# -- backends -------------------------------------------------------------------------------


@contextlib.contextmanager
def open_backend(
    backend: str | None,
    model: str | None,
    base_url: str | None,
    log: Path | None = None,
    *,
    mode: str | None = None,
    dialect: str | None = None,
    retry: RetryPolicy | None = None,
) -> Iterator[Backend]:
    """Yield the backend the flags, environment and config files name, recording if asked.

    A backend that cannot be built (an unknown kind, a missing model file) is a usage
    error naming the flag, variable or file that chose it. With ``--log`` or a
    configured OpenTelemetry tracer provider, every call is recorded
    (:mod:`promptkit.backends.recording`).
    """
    from promptkit import config
    from promptkit.backends import create_backend

    flags = config.flag_layer(backend=backend, model=model, base_url=base_url, mode=mode)
    settings = config.resolve(config.read_layers(flags, Path.cwd(), os.environ))
    try:
        built = create_backend(settings.backend, model=settings.model, base_url=settings.base_url,
                               mode=settings.mode, dialect=dialect, retry=retry)  # fmt: skip
    except (ValueError, BackendError) as error:
        named = [key for key in ("mode", "model") if getattr(settings, key) and key in str(error)]
        key = named[0] if named else "backend"
        raise typer.BadParameter(str(error), param_hint=_hint(key, settings.source(key))) from None
    tracer = _tracer()
    if log is None and tracer is None:
        yield built
        return
    from promptkit.backends.recording import RecordingBackend

    try:
        recording = RecordingBackend(built, log=log, tracer=tracer)
    except OSError as error:
        raise typer.BadParameter(f"cannot write {str(log)!r}: {error.strerror}",
                                 param_hint="--log") from None  # fmt: skip
    with recording:
        yield recording


def _hint(key: str, source: str) -> str:
    from promptkit.config import ENVIRONMENT

    if source == "flags":
        return f"--{key.replace('_', '-')}"
    if source == "environment":
        return ENVIRONMENT[key]
    return f"{key} in {source}" if source != "default" else f"--{key}"


def _tracer() -> Any:
    """Return promptkit's tracer if OpenTelemetry is installed and a provider is set, else None."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    provider = trace.get_tracer_provider()
    if type(provider).__name__ in ("ProxyTracerProvider", "NoOpTracerProvider"):
        return None
    from promptkit import __version__

    return provider.get_tracer("promptkit", __version__)
