"""OpenAI's chat and completions API on the wire: pure functions, no I/O.

:func:`request_body` turns a compiled prompt and generation parameters into
the path and JSON body of one call; :func:`read_completion` turns the reply
(its JSON data, or the SDK's object for it) into a :class:`Completion`;
:func:`request` pairs the two. The ``openai`` and ``instructor`` backends
both use them.

Servers that speak this API differ in how a reply is held to a schema
(the *dialect*):

- ``openai``: ``response_format`` ``json_schema``, strict where the schema
  allows; a batch's array is wrapped in an object (OpenAI wants an object root).
- ``llama-cpp-python``: that server has no ``json_schema`` type; the prompt's
  own schema rides on ``json_object`` (chat), or becomes a GBNF grammar
  (completions).
- ``vllm``: ``response_format`` ``json_schema`` on both endpoints, with the
  prompt's own schema (vLLM's grammar engines take any root, so a batch
  reply is the bare array the examples show).
- ``ollama``: ``response_format`` ``json_schema`` with the prompt's own
  schema on chat (Ollama passes it on as its ``format``); its
  ``/v1/completions`` takes no format, so a completion prompt is shaped by
  the prompt alone.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any, Literal, get_args

from promptkit.backends.base import Completion, GenerationParams, status_error
from promptkit.backends.sdk import WireRequest
from promptkit.errors import BackendError
from promptkit.prompt import Prompt

OutputMode = Literal["text", "json_object", "json_schema", "tool"]
"""How a reply is constrained: the prompt only, JSON, a JSON Schema, or a forced tool call."""

Dialect = Literal["openai", "llama-cpp-python", "vllm", "ollama"]
"""Which server's rules the schema follows on the wire (see the module docstring)."""

OUTPUT_MODES: tuple[OutputMode, ...] = get_args(OutputMode)
DIALECTS: tuple[Dialect, ...] = get_args(Dialect)

MAX_STOPS = 4  # OpenAI's limit on stop sequences


@dataclass(frozen=True, slots=True)
class ChatOptions:
    """What shapes a body besides the prompt and the parameters.

    Args:
        model: the model name the server knows.
        mode: how the reply is constrained.
        dialect: which server's schema rules to follow.
        token_field: ``max_completion_tokens`` for OpenAI itself, ``max_tokens`` elsewhere.
        top_k: whether to send ``top_k`` (OpenAI itself rejects it).
        chat_only: send a completion prompt as one user turn on the chat API
            (for clients that have only the chat API).
    """

    model: str
    mode: OutputMode = "json_schema"
    dialect: Dialect = "openai"
    token_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    top_k: bool = True
    chat_only: bool = False


def request(prompt: Prompt, params: GenerationParams, options: ChatOptions) -> WireRequest:
    """Return one call as it goes over the wire, and how its reply is read."""
    path, body = request_body(prompt, params, options)
    return WireRequest(path, body, functools.partial(read_completion, model=options.model))


def request_body(
    prompt: Prompt, params: GenerationParams, options: ChatOptions
) -> tuple[str, dict[str, Any]]:
    """Return the API path and the JSON body of one call."""
    body: dict[str, Any] = {"model": options.model}
    chat = prompt.text is None or options.chat_only
    if chat:
        path = "/chat/completions"
        body["messages"] = messages(prompt)
    else:
        path = "/completions"
        body["prompt"] = prompt.text
    body[options.token_field] = params.max_tokens
    for key in ("temperature", "top_p", "seed"):
        value = getattr(params, key)
        if value is not None:
            body[key] = value
    if params.top_k is not None and options.top_k:
        body["top_k"] = params.top_k
    stops = params.stops_for(prompt)
    if stops:
        body["stop"] = list(stops[:MAX_STOPS])
    body.update(_format_fields(prompt, options, chat=chat))
    return path, body


def messages(prompt: Prompt) -> list[dict[str, str]]:
    """The chat turns of a prompt; a completion prompt is one user turn."""
    if prompt.text is not None:
        return [{"role": "user", "content": prompt.text}]
    return [{"role": m.role, "content": m.content} for m in prompt.messages]


def _format_fields(prompt: Prompt, options: ChatOptions, *, chat: bool) -> dict[str, Any]:
    mode, dialect = options.mode, options.dialect
    if mode == "text" or prompt.reply_format == "table":  # rows are not JSON: no JSON format
        return {}
    spec = prompt.response_format["json_schema"]
    root = spec["schema"]
    if mode == "tool":
        tool = {
            "type": "function",
            "function": {
                "name": spec["name"],
                "description": f"Record the {prompt.task} output.",
                "parameters": root,
                "strict": is_strict_compatible(root),
            },
        }
        choice = {"type": "function", "function": {"name": spec["name"]}}
        return {"tools": [tool], "tool_choice": choice}
    if dialect == "llama-cpp-python":
        if not chat:  # that server's completions take a grammar, and no response_format
            return {"grammar": _gbnf(prompt.json_schema)} if mode == "json_schema" else {}
        fmt: dict[str, Any] = {"type": "json_object"}
        if mode == "json_schema":
            fmt["schema"] = prompt.json_schema
        return {"response_format": fmt}
    if dialect == "ollama" and not chat:
        return {}  # Ollama's /v1/completions has no format field
    if mode == "json_object":
        return {"response_format": {"type": "json_object"}}
    if dialect == "openai":
        named = {**spec, "strict": is_strict_compatible(root)}
    else:  # vllm, ollama: the prompt's own schema, as its examples show the reply
        named = {"name": spec["name"], "schema": prompt.json_schema}
    return {"response_format": {"type": "json_schema", "json_schema": named}}


def is_strict_compatible(schema: Any) -> bool:
    """Whether OpenAI's strict mode accepts a schema: closed objects, every property required."""
    if isinstance(schema, dict):
        if schema.get("type") == "object" or "properties" in schema:
            properties = schema.get("properties", {})
            if schema.get("additionalProperties") is not False:
                return False
            if set(schema.get("required", ())) != set(properties):
                return False
        return all(is_strict_compatible(value) for value in schema.values())
    if isinstance(schema, list):
        return all(is_strict_compatible(value) for value in schema)
    return True


def read_completion(reply: Any, latency: float = 0.0, *, model: str) -> Completion:
    """Return the completion in a chat or completions reply (its JSON data or an SDK object).

    Raises:
        BackendError: retryable for a reply with no choices or no content (a
            server hiccup that a new request may not repeat); not retryable for
            an error object or a reply of another shape.
    """
    data = reply if isinstance(reply, dict) else reply.model_dump()
    try:
        return _completion(data, model, latency)
    except (KeyError, IndexError, TypeError, AttributeError) as error:
        raise BackendError(
            f"the reply is not a chat completion ({error!r}): {str(data)[:200]}", retryable=False
        ) from None


def _completion(data: dict[str, Any], model: str, latency: float) -> Completion:
    if data.get("error") and not data.get("choices"):
        raise _error_in_body(data["error"])
    choices = data.get("choices")
    if not choices:
        raise BackendError(f"the reply has no choices: {str(data)[:200]}", retryable=True)
    choice = choices[0]
    finish = choice.get("finish_reason")
    message = choice.get("message")
    if message is None:
        text = choice.get("text")
    else:
        calls = message.get("tool_calls") or []
        text = calls[0]["function"]["arguments"] if calls else message.get("content")
    if text is None:
        if finish != "length":  # cut off before any content: the run layer gives more tokens
            refusal = (message or {}).get("refusal")
            said = f"; it says: {refusal!r}" if refusal else ""
            raise BackendError(
                f"the reply has no content (finish reason {finish!r}){said}", retryable=True
            )
        text = ""
    usage = data.get("usage") or {}
    prompt_tokens = int(usage.get("prompt_tokens") or 0)
    completion_tokens = int(usage.get("completion_tokens") or 0)
    cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    served = str(data.get("model") or model)
    return Completion(text, finish, prompt_tokens, completion_tokens, served, latency, cached)


def _error_in_body(error: Any) -> BackendError:
    """An error object in a 200 reply: a status in its ``code`` decides whether to retry."""
    message = error.get("message", error) if isinstance(error, dict) else error
    code = error.get("code") if isinstance(error, dict) else None
    if isinstance(code, int) and 400 <= code < 600:
        return status_error(code, str(message), provider="the server")
    return BackendError(f"the server returned an error: {message}", retryable=False)


def _gbnf(schema: dict[str, Any]) -> str:
    """Return a llama.cpp grammar for a schema (the ``llama-cpp-python`` dialect)."""
    try:
        from llama_cpp.llama_grammar import json_schema_to_gbnf
    except ImportError as error:
        raise BackendError(
            "the llama-cpp-python dialect needs llama-cpp-python to write grammars for "
            "completion prompts; pip install 'promptkit[local]', or use the chat layout",
            retryable=False,
        ) from error
    return str(json_schema_to_gbnf(json.dumps(schema)))
