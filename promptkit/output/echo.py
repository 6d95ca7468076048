"""Telling a batch item that copies an example's answer, which its input does not support.

A small model shown a batch of examples and then a batch of items tends to
answer an item with an example's answer. When an item's output is exactly
an example's (its fields left at their defaults aside) and a value of it
does not occur in the item's input, the answer was copied, not read: the
run layer flags it and asks for that item alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from promptkit.task import shown_input, shown_output


def copied_example(
    output: BaseModel, source: BaseModel, examples: Sequence[Mapping[str, Any]]
) -> int | None:
    """The index of the example whose answer ``output`` copies, unsupported by ``source``.

    ``None`` when the output is no example's answer, when it is empty (all
    defaults: an answer any input may have), or when every value of it occurs
    in the input (a copy the input supports is a right answer).
    """
    data = shown_output(output)
    if not data:
        return None
    text = json.dumps(shown_input(source), ensure_ascii=False).casefold()
    for number, example in enumerate(examples):
        if data == example and any(value.casefold() not in text for value in _texts(data)):
            return number
    return None


def _texts(value: Any) -> list[str]:
    """Every scalar of a value, written as text."""
    if isinstance(value, Mapping):
        return [text for item in value.values() for text in _texts(item)]
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    return [] if value is None else [value if isinstance(value, str) else json.dumps(value)]
