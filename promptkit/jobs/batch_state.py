"""The state file of a provider batch job: which batches were created, for which inputs.

It sits beside the output (``out.jsonl`` -> ``out.jsonl.batches.json``) and is
rewritten whole, atomically, after every change, so that a run killed at any
moment leaves either the old state or the new one. With it, ``--resume``
re-attaches to the batches already created instead of paying for them twice,
and ``promptkit batches`` lists, shows and cancels them. It holds ids and
input ranges only: no key, no prompt, no reply.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptkit.errors import JobFileError

STATE_VERSION = 1


@dataclass(slots=True)
class BatchRecord:
    """One provider batch: its ids, the input indices it covers, and how far it got.

    ``first`` and ``last`` are the first and last input index of the range whose
    records this batch's replies become; ``id`` is None for a range that needed no
    request (every input cached, invalid or a duplicate). ``offset`` is the output
    file's size when its records began to be written; ``written`` is set when all are.
    """

    first: int
    last: int
    requests: int
    bytes: int
    id: str | None = None
    input_file_id: str | None = None
    status: str = "created"
    offset: int | None = None
    written: bool = False


@dataclass(slots=True)
class BatchJobState:
    """Everything a resumed batch job needs to find its batches again."""

    provider: str
    backend: str
    settings: str
    """A digest of what shapes the prompts (task, strategy, batch size, params)."""
    model: str = ""
    base_url: str | None = None
    """Where the batches live, for ``promptkit batches`` (the key comes from the environment)."""
    planned: int = 0
    """The next input index to plan a batch from."""
    plan_complete: bool = False
    batches: list[BatchRecord] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the state as JSON-ready data."""
        return {"version": STATE_VERSION, **dataclasses.asdict(self)}


def state_path(output: Path) -> Path:
    """Return where the state of the batch job writing ``output`` lives."""
    return output.with_name(output.name + ".batches.json")


def load_state(path: Path) -> BatchJobState | None:
    """Read a state file; None when there is none.

    Raises:
        JobFileError: the file exists but is not a state promptkit wrote.
    """
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.pop("version") != STATE_VERSION:
            raise ValueError("another version")
        batches = [BatchRecord(**entry) for entry in data.pop("batches")]
        return BatchJobState(**data, batches=batches)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise JobFileError(
            f"batch state {str(path)!r} cannot be read ({error}); it is not a state file "
            "promptkit wrote: move it away to start the job afresh"
        ) from None


def save_state(path: Path, state: BatchJobState) -> None:
    """Write the state atomically: a temporary file beside it, then a rename."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(state.to_dict(), indent=1) + "\n", encoding="utf-8")
    os.replace(temporary, path)
