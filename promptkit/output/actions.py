"""Action and Report: each thing done to a reply on its way to an output."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

ActionKind = Literal["extract", "repair", "coerce", "check", "warning"]


@dataclass(frozen=True, slots=True)
class Action:
    """One thing done to a reply on its way to an output.

    Attributes:
        kind: ``extract``, ``repair``, ``coerce``, ``check`` or ``warning``.
        path: the field path it applies to (empty for the whole reply).
        message: what was done, in words.
        before: the text or value before (``None`` when not applicable).
        after: the text or value after.
    """

    kind: ActionKind
    path: tuple[str | int, ...]
    message: str
    before: Any = None
    after: Any = None


@dataclass(frozen=True, slots=True)
class Report:
    """What was done to a reply on its way to an output, in order.

    Attributes:
        actions: each extraction, repair, coercion, check and warning.
        truncated: the reply ended inside its JSON; what it lost is missing, never invented.
    """

    actions: tuple[Action, ...] = ()
    truncated: bool = False

    def of_kind(self, kind: str) -> tuple[Action, ...]:
        """Return the actions of one kind (``extract``, ``repair``, ``coerce``, ``check``...)."""
        return tuple(action for action in self.actions if action.kind == kind)

    @property
    def changes(self) -> tuple[Action, ...]:
        """The actions that changed the reply: all but warnings (which only inform)."""
        return tuple(action for action in self.actions if action.kind != "warning")

    def __str__(self) -> str:
        if not self.actions:
            return "no changes: the reply was valid JSON for the output"
        lines = []
        for action in self.actions:
            where = ".".join(str(part) for part in action.path)
            lines.append(f"{action.kind}: {where + ': ' if where else ''}{action.message}")
        return "\n".join(lines)
