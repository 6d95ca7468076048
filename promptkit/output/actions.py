"""Action: one thing done to a reply on its way to an output, so nothing changes silently."""

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
