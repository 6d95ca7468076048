"""The re-ask request: the model's reply shown back to it with every problem found.

Pure functions of the original prompt, the reply and the errors; the run
layer (:mod:`promptkit.run`) decides when to ask again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from promptkit.errors import BackendError, OutputError
from promptkit.parsing import Parsed, reask_messages
from promptkit.prompt import Message, Prompt
from promptkit.task import Task


def reask_prompt(prompt: Prompt, reply: str, correction: str, task: Task) -> Prompt:
    """Return the prompt that shows the model its reply and asks for a corrected one."""
    if prompt.text is not None:
        text = f"{prompt.text} {reply.strip()}\n\n{correction}\n{task.output_label}:"
        return dataclasses.replace(prompt, text=text)
    turns = (Message("assistant", reply), Message("user", correction))
    return dataclasses.replace(prompt, messages=prompt.messages + turns)


def batch_correction(
    outcomes: Sequence[Parsed | OutputError | BackendError | None], failing: list[int]
) -> str:
    """Write the correction request for the failing items of a batch reply (0-based indexes)."""
    ids = ", ".join(str(n + 1) for n in failing)
    parts = [f"Items {ids} of your reply could not be used."]
    for n in failing:
        outcome = outcomes[n]
        if isinstance(outcome, OutputError):
            parts.append(f"Item {n + 1}:\n{reask_messages(outcome)}")
    parts.append(f"Reply with a JSON array holding only items {ids}, each with its id.")
    return "\n\n".join(parts)
