"""Prompt and Message: the exact request a backend sends, as frozen values."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class Message:
    """One chat turn."""

    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class Prompt:
    """Everything that goes over the wire for one call, and how to read the reply.

    A chat prompt has ``messages``; a completion prompt (for base models with
    no chat template) has ``text`` instead. ``item_ids`` are the ids a batch
    reply must carry, in order; a single-input prompt has none. The schema
    dicts are shared between prompts of one task: treat them as read-only.
    """

    task: str
    layout: Literal["chat", "inline", "completion"]
    messages: tuple[Message, ...]
    text: str | None
    json_schema: dict[str, Any]
    response_format: dict[str, Any]
    stop: tuple[str, ...] = ()
    item_ids: tuple[int, ...] = ()

    @property
    def is_batch(self) -> bool:
        """Whether the reply is an array of outputs matched back by id."""
        return bool(self.item_ids)

    def to_dict(self) -> dict[str, Any]:
        """Return the prompt as plain JSON-ready data."""
        return asdict(self)

    def to_json(self, *, indent: int | None = 2) -> str:
        """Return the prompt as JSON, for tools."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Prompt:
        """Rebuild a prompt from :meth:`to_dict` output."""
        return cls(
            task=data["task"],
            layout=data["layout"],
            messages=tuple(Message(m["role"], m["content"]) for m in data["messages"]),
            text=data["text"],
            json_schema=data["json_schema"],
            response_format=data["response_format"],
            stop=tuple(data["stop"]),
            item_ids=tuple(data["item_ids"]),
        )

    def render_text(self) -> str:
        """Return the prompt as plain text, each turn headed by its role."""
        if self.text is not None:
            return f"--- text ---\n{self.text}\n"
        return "".join(f"--- {m.role} ---\n{m.content}\n" for m in self.messages)
