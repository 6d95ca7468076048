"""The ``promptkit`` command: a thin typer app over the library, one module per command.

Expected errors (a usage mistake, an unknown task, a bad definition, a file
that cannot be used, a missing extra) become one readable line on stderr
and an exit code, never a traceback: 2 for usage and files, 1 for a check or
run that found problems or a backend that failed, 130 for Ctrl-C. Every
line is redacted (:mod:`promptkit.redaction`): no API key reaches stderr.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

import typer
from pydantic import ValidationError

from promptkit.cli import (  # noqa: F401  (each registers its commands)
    batches,
    config,
    define,
    evaluate,
    render,
    run,
)
from promptkit.cli.app import app
from promptkit.errors import (
    DefinitionError,
    ExtraNotInstalled,
    JobFileError,
    PromptkitError,
    validation_problems,
)
from promptkit.redaction import redact

__all__ = ["app", "console_main", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return its exit code, turning expected errors into one line."""
    command = typer.main.get_command(app)
    args = list(sys.argv[1:] if argv is None else argv) or ["--help"]
    try:
        code = command.main(
            args=args,
            prog_name="promptkit",
            standalone_mode=False,
        )
    except typer.TyperException as error:  # typer's own usage errors, exit code 2
        return _error(error.format_message(), error.exit_code)
    except typer.Abort:
        return 130
    except (DefinitionError, JobFileError, ExtraNotInstalled) as error:
        return _error(str(error), 2)
    except ValidationError as error:
        return _error(f"invalid input: {'; '.join(validation_problems(error))}", 2)
    except PromptkitError as error:
        return _error(str(error), 1)
    except OSError as error:  # a path that cannot be read or written
        return _error(str(error), 2)
    return code if isinstance(code, int) else 0


def console_main() -> NoReturn:
    """Run the ``promptkit`` command and exit with its code, at once if a stopped job left calls.

    A file job stopped by a fatal error or Ctrl-C abandons its calls in flight: their
    daemon threads may sit in a socket read of a hanging server or in a llama.cpp decode.
    The interpreter's teardown would free the objects they use under them, and takes
    seconds on a busy machine (``benchmarks/bench_stop.py`` times the exit); everything
    is written and closed when :func:`main` returns, so the process ends there. Any other
    run exits normally (exit handlers, such as a tracer's flush, run).
    """
    code = main()
    workers = sys.modules.get("promptkit.jobs.workers")
    if workers is not None and workers.abandoned():
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing to flush
                stream.flush()
        os._exit(code)
    sys.exit(code)


def _error(message: str, code: int) -> int:
    print(f"promptkit: error: {redact(message)}", file=sys.stderr)
    return code
