"""Backends: one small protocol from a compiled prompt to a completion.

The protocol and the scripted test double are imported here; provider
backends (``OpenAIBackend``, ``AnthropicBackend``, ``InstructorBackend``,
``LocalBackend``) are imported on first access, so that importing promptkit
never imports a provider SDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, cast

from promptkit.backends.base import (
    Backend,
    Completion,
    GenerationParams,
    RetryPolicy,
    Usage,
)
from promptkit.backends.scripted import ScriptedBackend

if TYPE_CHECKING:
    from promptkit.backends.anthropic import AnthropicBackend
    from promptkit.backends.anthropic_wire import AnthropicMode
    from promptkit.backends.instructor import InstructorBackend
    from promptkit.backends.local import LocalBackend
    from promptkit.backends.openai import OpenAIBackend
    from promptkit.backends.openai_wire import Dialect, OutputMode

BACKEND_KINDS = ("local", "openai", "anthropic")

_LAZY = {
    "AnthropicBackend": "promptkit.backends.anthropic",
    "InstructorBackend": "promptkit.backends.instructor",
    "LocalBackend": "promptkit.backends.local",
    "OpenAIBackend": "promptkit.backends.openai",
}

__all__ = [
    "BACKEND_KINDS",
    "AnthropicBackend",
    "Backend",
    "Completion",
    "GenerationParams",
    "InstructorBackend",
    "LocalBackend",
    "OpenAIBackend",
    "RetryPolicy",
    "ScriptedBackend",
    "Usage",
    "create_backend",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def create_backend(
    kind: str = "local",
    *,
    model: str | None = None,
    base_url: str | None = None,
    mode: str | None = None,
    dialect: str | None = None,
    retry: RetryPolicy | None = None,
) -> Backend:
    """Build a backend by kind, as the CLI names them.

    Args:
        kind: ``local`` (the embedded default), ``openai`` or ``anthropic``.
        model: a GGUF path for ``local``; a model name for the others.
        base_url: an OpenAI-compatible server's URL, or an Anthropic gateway.
        mode: how replies are constrained: ``text``, ``json_object``, ``json_schema``
            (the default) or ``tool`` for ``openai``; ``json`` (the default) or ``tool``
            for ``anthropic``. The local backend always holds replies to the schema.
        dialect: for ``openai``, how the server takes a schema: ``openai`` (the default),
            ``llama-cpp-python``, ``vllm`` or ``ollama``.
        retry: retries and timeout of the HTTP backends (the local one makes no requests).

    Raises:
        ValueError: an unknown kind, or a mode or dialect the kind does not take
            (the message names the valid ones).
    """
    if kind not in BACKEND_KINDS:
        raise ValueError(f"unknown backend {kind!r}; choose one of {', '.join(BACKEND_KINDS)}")
    if dialect is not None and kind != "openai":
        raise ValueError(f"a dialect is for the openai backend, not {kind}")
    if kind == "local":
        if mode is not None:
            raise ValueError(
                "a mode is for the openai and anthropic backends; "
                "the local backend always holds replies to the schema"
            )
        from promptkit.backends.local import LocalBackend

        return LocalBackend(model)
    if kind == "openai":
        from promptkit.backends.openai import OpenAIBackend

        return OpenAIBackend(
            model or "gpt-4o-mini",
            base_url=base_url,
            mode=cast("OutputMode", mode or "json_schema"),
            dialect=cast("Dialect", dialect or "openai"),
            retry=retry,
        )
    from promptkit.backends.anthropic import AnthropicBackend

    chosen = cast("AnthropicMode", mode or "json")
    return AnthropicBackend(
        model or "claude-haiku-4-5", base_url=base_url, mode=chosen, retry=retry
    )
