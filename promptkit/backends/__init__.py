"""Backends: one small protocol from a compiled prompt to a completion.

The protocol and the scripted test double are imported here; provider
backends (``OpenAIBackend``, ``AnthropicBackend``, ``InstructorBackend``,
``LocalBackend``) are imported on first access, so that importing promptkit
never imports a provider SDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
    from promptkit.backends.instructor import InstructorBackend
    from promptkit.backends.local import LocalBackend
    from promptkit.backends.openai import OpenAIBackend

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
) -> Backend:
    """Build a backend by kind, as the CLI names them.

    Args:
        kind: ``local`` (the embedded default), ``openai`` or ``anthropic``.
        model: a GGUF path for ``local``; a model name for the others.
        base_url: an OpenAI-compatible server's URL, or an Anthropic gateway.
        mode: how ``openai`` constrains replies (``text``, ``json_object``,
            ``json_schema``, ``tool``); None for its default.
    """
    if mode is not None and kind != "openai":
        raise ValueError(f"mode {mode!r} applies to the openai backend only, not {kind!r}")
    if kind == "local":
        from promptkit.backends.local import LocalBackend

        return LocalBackend(model)
    if kind == "openai":
        from promptkit.backends.openai import OpenAIBackend

        options: dict[str, Any] = {"mode": mode} if mode is not None else {}
        return OpenAIBackend(model or "gpt-4o-mini", base_url=base_url, **options)
    if kind == "anthropic":
        from promptkit.backends.anthropic import AnthropicBackend

        return AnthropicBackend(model or "claude-haiku-4-5", base_url=base_url)
    raise ValueError(f"unknown backend {kind!r}; choose one of {', '.join(BACKEND_KINDS)}")
