"""The re-ask request: the model's reply shown back to it with every problem found.

Pure functions of the original prompt, the reply and the errors; the run
layer (:mod:`promptkit.execution`) decides when to ask again.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence

from promptkit.errors import BackendError, OutputError
from promptkit.output.parse import Parsed
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
    outcomes: Sequence[Parsed | OutputError | BackendError | None],
    failing: list[int],
    prompt: Prompt,
) -> str:
    """Write the correction request for the failing items of a batch reply (0-based indexes).

    Items are named by their ids in ``prompt`` (:attr:`Prompt.item_ids`); a
    table prompt asks for rows again, a JSON one for a JSON array.
    """
    numbers = [prompt.item_ids[n] for n in failing]
    ids = ", ".join(map(str, numbers))
    parts = [f"Items {ids} of your reply could not be used."]
    for n, number in zip(failing, numbers, strict=True):
        outcome = outcomes[n]
        if isinstance(outcome, OutputError):
            parts.append(f"Item {number}:\n{reask_messages(outcome)}")
    if prompt.reply_format == "table":
        parts.append(f"Reply with the header and the rows of only items {ids}, each with its id.")
    else:
        parts.append(f"Reply with a JSON array holding only items {ids}, each with its id.")
    return "\n\n".join(parts)


def reask_messages(error: OutputError) -> str:
    """Write the message that asks a model to correct its reply, naming every problem.

    The run layer sends the model's own reply back (as its turn) followed by
    this text. Each problem gives the field path, what is wrong and the value
    the model wrote. A truncated reply should not be re-asked with the same
    token budget; the message still says it was cut off.
    """
    lines = ["Your reply could not be used."]
    if error.truncated:
        lines.append("It was cut off before the JSON ended; write it shorter and complete.")
    if error.errors:
        lines.append("Problems:")
        for detail in error.errors:
            where = "the reply" if not detail.path else f"field {detail.location}"
            line = f"- {where}: {detail.message}"
            if detail.value is not None:
                written = json.dumps(detail.value, ensure_ascii=False, default=str)
                line += f" (you wrote {written[:200]})"
            lines.append(line)
    else:
        lines.append(f"Problem: {str(error).splitlines()[0]}")
    lines.append(
        "Reply again with only the corrected JSON, no other text: fix these problems "
        "and keep every other value as it was."
    )
    return "\n".join(lines)
