"""The ``promptkit`` command: a thin typer app over the library, one module per command.

Expected errors (a usage mistake, an unknown task, a bad definition) become
one readable line on stderr and an exit code, never a traceback: 2 for
usage, 1 for a check or run that found problems.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer
from pydantic import ValidationError

from promptkit.cli import config, define, evaluate, render, run  # noqa: F401  (each registers its commands)
from promptkit.cli.app import app
from promptkit.errors import DefinitionError, PromptkitError, validation_problems

__all__ = ["app", "main"]


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
        print(f"promptkit: error: {error.format_message()}", file=sys.stderr)
        return error.exit_code
    except typer.Abort:
        return 130
    except DefinitionError as error:
        print(f"promptkit: error: {error}", file=sys.stderr)
        return 2
    except ValidationError as error:
        problems = "; ".join(validation_problems(error))
        print(f"promptkit: error: invalid input: {problems}", file=sys.stderr)
        return 2
    except PromptkitError as error:
        print(f"promptkit: error: {error}", file=sys.stderr)
        return 1
    return code if isinstance(code, int) else 0
