"""The rooms keep their boundaries (docs/architecture.md): read every module's imports.

Data flows one way, task -> compiler -> Prompt -> backend -> output -> result;
jobs and evaluation sit on top of the run layer, the CLI on top of everything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "promptkit"

CORE = (
    "_types", "errors", "words", "prompt", "schema", "fieldinfo", "notation", "formats", "checks",
    "task", "registry", "selection", "vocabularies", "pools", "rows",
)  # fmt: skip
FORBIDDEN = {
    # A backend sees a Prompt and GenerationParams, never a task, a parse or a job.
    "backends": ("task", "compiler", "selection", "registry", "execution", "output", "jobs",
                 "evaluation", "cli", "testing"),
    # The definition layer and the pure compile know nothing of calls, replies or files.
    **dict.fromkeys(
        (*CORE, "compiler"),
        ("backends", "execution", "output", "jobs", "evaluation", "cli", "testing"),
    ),
    "output": ("backends", "execution", "jobs", "evaluation", "cli", "compiler"),
    "execution": ("jobs", "evaluation", "cli"),
    "result": ("jobs", "evaluation", "cli", "execution"),
    "jobs": ("evaluation", "cli"),
    "evaluation": ("jobs", "cli"),
    "integrations": ("cli",),
    "config": ("execution", "output", "jobs", "evaluation", "cli", "testing"),
    "redaction": ("backends", "execution", "output", "jobs", "evaluation", "cli", "testing"),
    "testing": ("backends", "execution", "jobs", "evaluation", "cli"),
}  # fmt: skip


def room(path: Path) -> str:
    """The first part of a module's dotted name under promptkit (``backends``, ``task``)."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def imported_rooms(path: Path) -> set[str]:
    """Every promptkit room a module imports, at any depth (lazy imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "promptkit" and len(parts) > 1:
                found.add(parts[1])
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if room(p) in FORBIDDEN)


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PACKAGE)) for p in MODULES])
def test_a_module_imports_no_room_above_it(path: Path) -> None:
    crossing = imported_rooms(path) & set(FORBIDDEN[room(path)])
    assert not crossing, f"{path.relative_to(PACKAGE)} imports {sorted(crossing)}"


def test_the_rules_cover_every_room() -> None:
    rooms = {room(p) for p in PACKAGE.rglob("*.py")} - {"__init__", "__main__"}
    assert rooms - set(FORBIDDEN) == {"cli"}  # the CLI may import everything
