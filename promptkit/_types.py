"""The shared vocabularies: each set of names declared once.

Validation (:class:`promptkit.Strategy`), the prompt, the schema renderer and
the CLI's choices all derive from these with :func:`typing.get_args`, so a
new layout or selector is added in one place.
"""

from __future__ import annotations

from typing import Literal, get_args

Layout = Literal["chat", "inline", "completion"]
"""How a prompt is laid out: chat turns, one inline user message, or a plain completion text."""

SchemaStyle = Literal["compact", "jsonschema"]
"""How the reply's shape is shown to the model: compact TypeScript-like notation or JSON Schema."""

SelectorName = Literal["first", "random", "similar", "diverse"]
"""How a prompt's examples are chosen (see :mod:`promptkit.selection`)."""

ReplyFormat = Literal["json", "table"]
"""How a reply is written: JSON, or for flat outputs rows under a header (one per item)."""

OutputFormat = Literal["jsonl", "csv"]
"""The record formats of a file run's output."""

LAYOUTS: tuple[Layout, ...] = get_args(Layout)
SCHEMA_STYLES: tuple[SchemaStyle, ...] = get_args(SchemaStyle)
SELECTORS: tuple[SelectorName, ...] = get_args(SelectorName)
REPLY_FORMATS: tuple[ReplyFormat, ...] = get_args(ReplyFormat)
OUTPUT_FORMATS: tuple[OutputFormat, ...] = get_args(OutputFormat)


def check_choice(what: str, value: object, allowed: tuple[str, ...]) -> None:
    """Raise ``ValueError`` naming the allowed values when ``value`` is not one of them."""
    if value not in allowed:
        listed = ", ".join(allowed[:-1]) + f" or {allowed[-1]}" if len(allowed) > 1 else allowed[0]
        raise ValueError(f"{what} must be {listed}, not {value!r}")
