"""Prompt, Message and GenerationParams: what crosses the backend boundary, as frozen values."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

from promptkit._types import Layout, ReplyFormat

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
    A ``table`` reply (:mod:`promptkit.rows`) is rows, not JSON: it has no
    ``response_format``, and ``grammar`` is the Lark grammar of its rows.
    ``example_outputs`` are the answers of a batch's examples, as shown, so
    that an item that copies one can be told (:mod:`promptkit.output.echo`).
    """

    task: str
    layout: Layout
    messages: tuple[Message, ...]
    text: str | None
    json_schema: dict[str, Any]
    response_format: dict[str, Any]
    stop: tuple[str, ...] = ()
    item_ids: tuple[int, ...] = ()
    reply_format: ReplyFormat = "json"
    grammar: str | None = None
    example_outputs: tuple[dict[str, Any], ...] = ()

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
            reply_format=data.get("reply_format", "json"),
            grammar=data.get("grammar"),
            example_outputs=tuple(data.get("example_outputs", ())),
        )

    def render_text(self) -> str:
        """Return the prompt as plain text, each turn headed by its role."""
        if self.text is not None:
            return f"--- text ---\n{self.text}\n"
        return "".join(f"--- {m.role} ---\n{m.content}\n" for m in self.messages)


@dataclass(frozen=True, slots=True)
class GenerationParams:
    """Sampling settings for one call; the defaults are the source blog's.

    A backend sends what its provider supports and leaves out the rest
    (OpenAI's own API has no ``top_k``). ``None`` leaves a setting to the
    provider's default.
    """

    temperature: float | None = 0.05
    top_p: float | None = 0.8
    top_k: int | None = 20
    max_tokens: int = 500
    seed: int | None = None
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be 1 or more, not {self.max_tokens}")
        if self.temperature is not None and self.temperature < 0:
            raise ValueError(f"temperature must be 0 or more, not {self.temperature}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], not {self.top_p}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be 1 or more, not {self.top_k}")
        object.__setattr__(self, "stop", tuple(self.stop))

    def replace(self, **changes: object) -> GenerationParams:
        """Return a copy with some settings changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def stops_for(self, prompt: Prompt) -> tuple[str, ...]:
        """Return the stop sequences of the call: the prompt's, then any extra ones."""
        extra = tuple(stop for stop in self.stop if stop not in prompt.stop)
        return prompt.stop + extra
