"""The ``openai`` backend: any OpenAI-compatible server through the official openai SDK.

OpenAI itself, vLLM, llama-cpp-python's server, Ollama and LM Studio all
speak the same chat API; pick one with ``base_url``, and tell the backend
how that server takes a schema with ``dialect``. The key comes from the
environment (``OPENAI_API_KEY``) unless a client is passed in; it is never
printed or logged, and a local server with no key gets a placeholder.

The body is built once per call by :func:`promptkit.backends.openai_wire.request_body`
and posted through the SDK's own client (:class:`~promptkit.backends.sdk.PostingBackend`).
Retries are promptkit's (:class:`RetryPolicy`); the SDK's own are off.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from promptkit._types import Layout, check_choice
from promptkit.backends import openai_wire
from promptkit.backends.base import GenerationParams, RetryPolicy
from promptkit.backends.openai_wire import (
    DIALECTS,
    OUTPUT_MODES,
    ChatOptions,
    Dialect,
    OutputMode,
    is_strict_compatible,
)
from promptkit.backends.sdk import PostingBackend, WireRequest
from promptkit.errors import BackendError
from promptkit.prompt import Prompt

if TYPE_CHECKING:
    import httpx
    import openai

__all__ = ["Dialect", "OpenAIBackend", "OutputMode", "is_strict_compatible"]

_NO_KEY = "sk-no-key-needed"  # what local servers get when the environment has no key


class OpenAIBackend(PostingBackend):
    """Call a model on an OpenAI-compatible server.

    Args:
        model: the model name the server knows.
        base_url: the server's ``/v1`` URL; OpenAI's when unset.
        mode: how the reply is constrained: ``text`` (the prompt only),
            ``json_object``, ``json_schema`` (strict where the schema allows) or
            ``tool`` (a forced function call whose arguments are the reply).
        dialect: how the server takes a schema: ``openai``, ``llama-cpp-python``
            (a schema on ``json_object`` for chat, a grammar for completions),
            ``vllm`` or ``ollama`` (the prompt's own schema); see docs/backends.md.
        layout: ``completion`` to send completion-layout prompts to ``/completions``
            (for a base model); ``None`` to use the task's layout on the chat API.
        retry: retries, backoff and the per-request timeout.
        client: an ``openai.OpenAI`` to use instead of building one.
        async_client: an ``openai.AsyncOpenAI`` to use instead of building one.
        http_client: an HTTP client for the built SDK client (a proxy, a mock transport).
        async_http_client: the async counterpart, for the built async SDK client.
        send_top_k: whether to send ``top_k``; by default only to servers other than OpenAI's,
            which rejects it.
    """

    provider: ClassVar[str] = "openai"
    client_classes = ("OpenAI", "AsyncOpenAI")

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        mode: OutputMode = "json_schema",
        dialect: Dialect = "openai",
        layout: Layout | None = None,
        retry: RetryPolicy | None = None,
        client: openai.OpenAI | None = None,
        async_client: openai.AsyncOpenAI | None = None,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
        send_top_k: bool | None = None,
    ) -> None:
        check_choice("the openai backend's mode", mode, OUTPUT_MODES)
        check_choice("dialect", dialect, DIALECTS)
        base_url = base_url or _base_url_of(client) or os.environ.get("OPENAI_BASE_URL")
        clients, http_clients = (client, async_client), (http_client, async_http_client)
        super().__init__(model, base_url, retry, clients, http_clients)
        self.mode: OutputMode = mode
        self.dialect: Dialect = dialect
        self.layout = layout
        official = _is_openai(base_url)
        self._options = ChatOptions(
            model,
            mode,
            dialect,
            token_field="max_completion_tokens" if official else "max_tokens",
            top_k=(not official) if send_top_k is None else send_top_k,
        )

    def __repr__(self) -> str:
        url, mode, dialect = self._base_url, self.mode, self.dialect
        return (
            f"OpenAIBackend(model={self.model!r}, base_url={url!r}, mode={mode!r}, "
            f"dialect={dialect!r})"
        )

    def request(self, prompt: Prompt, params: GenerationParams) -> WireRequest:
        """Return what one call sends, and how its reply is read."""
        return openai_wire.request(prompt, params, self._options)

    def request_body(self, prompt: Prompt, params: GenerationParams) -> tuple[str, dict[str, Any]]:
        """Return the API path and the JSON body that one call sends."""
        return openai_wire.request_body(prompt, params, self._options)

    def api_key(self) -> str:
        """The key from ``OPENAI_API_KEY``; a placeholder for a server other than OpenAI's."""
        key = os.environ.get("OPENAI_API_KEY")
        if key:
            return key
        if self._base_url and not _is_openai(self._base_url):
            return _NO_KEY
        raise BackendError(
            "no OpenAI API key: set OPENAI_API_KEY in the environment, "
            "or give a base URL for a server that needs none",
            retryable=False,
        )


def _is_openai(base_url: str | None) -> bool:
    if not base_url:
        return True
    host = urlsplit(base_url).hostname or ""
    return host == "api.openai.com" or host.endswith(".openai.azure.com")


def _base_url_of(client: openai.OpenAI | None) -> str | None:
    return str(client.base_url) if client is not None else None
