"""Anthropic's Messages API on the wire: pure functions, no I/O.

:func:`request_body` turns a compiled prompt and generation parameters into
the body of one ``/v1/messages`` call; :func:`read_completion` turns the reply
(its JSON data, or the SDK's ``Message``) into a :class:`Completion`;
:func:`request` pairs the two. The ``anthropic`` and ``instructor`` backends
both use them.

The Messages API differs from the chat API the compiler targets in three
ways absorbed here: the system prompt is a separate field, the turns must
alternate user/assistant starting with a user turn (consecutive turns of
one role are joined), and there is no ``response_format``. A reply is
constrained either by the prompt alone (``json``; the schema is in the
prompt) or by a forced tool whose input schema is the task's (``tool``).

Sampling parameters depend on the API version the client sends. Version
2026-10-21 (the default of the anthropic SDK from 2.0 on) removed
``temperature``, ``top_p`` and ``top_k``: a request with any of them is
refused, so none is sent. Version 2023-06-01 takes them, but newer Claude
models refuse ``temperature`` and ``top_p`` together, so ``top_p`` is sent
only when ``temperature`` is unset. Stop sequences made only of white space
are refused by the API and left out.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
from dataclasses import dataclass
from typing import Any, Literal, get_args

from promptkit.backends.base import Completion, GenerationParams
from promptkit.backends.sdk import WireRequest
from promptkit.errors import BackendError
from promptkit.prompt import Prompt

AnthropicMode = Literal["json", "tool"]
"""How a reply is constrained: by the prompt (``json``) or by a forced tool call (``tool``)."""

ANTHROPIC_MODES: tuple[AnthropicMode, ...] = get_args(AnthropicMode)

PATH = "/v1/messages"
SAMPLING_REMOVED = "2026-10-21"  # the API version without temperature, top_p and top_k

# The API's stop reasons as promptkit's finish reasons ("length" means cut off).
FINISH = {"max_tokens": "length", "end_turn": "stop", "stop_sequence": "stop", "tool_use": "stop"}


@dataclass(frozen=True, slots=True)
class MessagesOptions:
    """What shapes a body besides the prompt and the parameters.

    Args:
        model: the model name (``claude-haiku-4-5``).
        mode: ``json`` or ``tool``.
        prefill: start the assistant turn with ``{`` or ``[`` (json mode; older models only).
        sampling: send ``temperature``, ``top_p`` and ``top_k`` (API version 2023-06-01
            only; see :func:`takes_sampling`).
    """

    model: str
    mode: AnthropicMode = "json"
    prefill: bool = False
    sampling: bool = False


def request(prompt: Prompt, params: GenerationParams, options: MessagesOptions) -> WireRequest:
    """Return one call as it goes over the wire, and how its reply is read."""
    body, opening = request_body(prompt, params, options)
    read = functools.partial(read_completion, model=options.model, opening=opening)
    return WireRequest(PATH, body, read)


def request_body(
    prompt: Prompt, params: GenerationParams, options: MessagesOptions
) -> tuple[dict[str, Any], str]:
    """Return the Messages API body and the prefill the reply text starts with."""
    system, turns = alternate(prompt)
    body: dict[str, Any] = {"model": options.model, "max_tokens": params.max_tokens}
    if system:
        body["system"] = system
    if options.sampling:
        if params.temperature is not None:
            body["temperature"] = min(params.temperature, 1.0)
        elif params.top_p is not None:
            body["top_p"] = params.top_p
        if params.top_k is not None:
            body["top_k"] = params.top_k
    stops = [stop for stop in params.stops_for(prompt) if stop.strip()]
    if stops:
        body["stop_sequences"] = stops
    opening = ""
    if prompt.reply_format == "table":  # rows are written as text: no tool, no JSON prefill
        body["messages"] = turns
        return body, opening
    spec = prompt.response_format["json_schema"]
    if options.mode == "tool":
        tool = {
            "name": spec["name"],
            "description": f"Record the {prompt.task} output.",
            "input_schema": spec["schema"],
        }
        body["tools"] = [tool]
        body["tool_choice"] = {"type": "tool", "name": spec["name"]}
    elif options.prefill:
        opening = "[" if prompt.json_schema.get("type") == "array" else "{"
        turns.append({"role": "assistant", "content": opening})
    body["messages"] = turns
    return body, opening


def takes_sampling(api_version: str | None) -> bool:
    """Whether an API version takes sampling parameters (those before 2026-10-21 do).

    ``None`` is the installed SDK's default: 2023-06-01 before anthropic 2.0,
    2026-10-21 from it on.
    """
    if api_version is None:
        try:
            major = int(importlib.metadata.version("anthropic").split(".")[0])
        except (importlib.metadata.PackageNotFoundError, ValueError):
            return False
        return major < 2
    return api_version < SAMPLING_REMOVED


def alternate(prompt: Prompt) -> tuple[str, list[dict[str, Any]]]:
    """Lift the system turns out and join turns so that user and assistant alternate.

    A completion-layout prompt becomes one user turn. A conversation that
    would start with the assistant gets its opening turn folded into the system text.
    """
    if prompt.text is not None:
        return "", [{"role": "user", "content": prompt.text}]
    system = "\n\n".join(m.content for m in prompt.messages if m.role == "system")
    turns: list[dict[str, Any]] = []
    for message in prompt.messages:
        if message.role == "system":
            continue
        if turns and turns[-1]["role"] == message.role:
            turns[-1]["content"] += "\n\n" + message.content
        else:
            turns.append({"role": message.role, "content": message.content})
    if turns and turns[0]["role"] == "assistant":
        system = "\n\n".join(part for part in (system, turns.pop(0)["content"]) if part)
    if not turns or turns[-1]["role"] != "user":
        turns.append({"role": "user", "content": "Continue."})
    return system, turns


def read_completion(
    reply: Any, latency: float = 0.0, *, model: str, opening: str = ""
) -> Completion:
    """Return the completion in a Messages API reply (its JSON data or an SDK ``Message``).

    ``opening`` is the prefill the reply continues. A forced tool call's input
    is the reply text, as JSON.

    Raises:
        BackendError: not retryable, for a reply that is not a Messages API response.
    """
    data = reply if isinstance(reply, dict) else reply.model_dump()
    try:
        text = opening + _reply_text(data["content"])
        stop = data.get("stop_reason")
        finish = FINISH.get(stop, stop) if isinstance(stop, str) else stop
        usage = data.get("usage") or {}
        prompt_tokens = int(usage.get("input_tokens") or 0)
        completion_tokens = int(usage.get("output_tokens") or 0)
        cached = int(usage.get("cache_read_input_tokens") or 0)
        served = str(data.get("model") or model)
        return Completion(text, finish, prompt_tokens, completion_tokens, served, latency, cached)
    except (KeyError, TypeError, AttributeError) as error:
        raise BackendError(
            f"the reply is not a Messages API response ({error!r}): {str(data)[:200]}",
            retryable=False,
        ) from None


def _reply_text(content: list[dict[str, Any]]) -> str:
    for block in content:
        if block.get("type") == "tool_use":
            return json.dumps(block["input"], ensure_ascii=False)
    return "".join(block.get("text", "") for block in content if block.get("type") == "text")
