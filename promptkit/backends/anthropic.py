"""The ``anthropic`` backend: Claude through the official anthropic SDK.

The body is built once per call by :func:`promptkit.backends.anthropic_wire.request_body`
(system prompt lifted out, turns alternating, the reply shaped by the prompt
or by a forced tool) and posted to ``/v1/messages`` through the SDK's own
client, built with the SDK's defaults (:class:`~promptkit.backends.sdk.PostingBackend`).
Retries are promptkit's (:class:`RetryPolicy`); the SDK's own are off.

Assistant prefill (starting the reply with ``{``) helps older models and is
refused by the newest, so it is off unless asked for.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, ClassVar

from promptkit._types import check_choice
from promptkit.backends import anthropic_wire
from promptkit.backends.anthropic_wire import (
    ANTHROPIC_MODES,
    AnthropicMode,
    MessagesOptions,
    alternate,
    takes_sampling,
)
from promptkit.backends.base import GenerationParams, RetryPolicy
from promptkit.backends.sdk import PostingBackend, WireRequest
from promptkit.errors import BackendError
from promptkit.prompt import Prompt

if TYPE_CHECKING:
    import anthropic

__all__ = ["AnthropicBackend", "AnthropicMode", "alternate"]


class AnthropicBackend(PostingBackend):
    """Call a Claude model through the Messages API.

    Args:
        model: the model name (``claude-haiku-4-5``).
        mode: ``json`` (the reply is the text, shaped by the prompt) or ``tool``
            (a forced tool call whose input is the reply).
        prefill: start the assistant turn with ``{`` or ``[`` (json mode; older models only).
        base_url: the API's URL, for a proxy or gateway.
        retry: retries, backoff and the per-request timeout.
        client: an ``anthropic.Anthropic`` to use instead of building one.
        async_client: an ``anthropic.AsyncAnthropic`` to use instead of building one.
        http_client: a client of the SDK's HTTP package for the built SDK client
            (``httpx.Client``; ``httpx2.Client`` from anthropic 2.x on), for tests.
        async_http_client: the async counterpart, for the built async SDK client.
    """

    provider: ClassVar[str] = "anthropic"
    client_classes = ("Anthropic", "AsyncAnthropic")

    def __init__(
        self,
        model: str,
        *,
        mode: AnthropicMode = "json",
        prefill: bool = False,
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
        client: anthropic.Anthropic | None = None,
        async_client: anthropic.AsyncAnthropic | None = None,
        http_client: Any = None,
        async_http_client: Any = None,
    ) -> None:
        check_choice("the anthropic backend's mode", mode, ANTHROPIC_MODES)
        clients, http_clients = (client, async_client), (http_client, async_http_client)
        super().__init__(model, base_url, retry, clients, http_clients)
        self.mode: AnthropicMode = mode
        self.prefill = prefill
        # The API version the client sends decides whether sampling parameters may be sent.
        given = client or async_client
        version = given.default_headers.get("anthropic-version") if given is not None else None
        sampling = takes_sampling(version if isinstance(version, str) else None)
        self._options = MessagesOptions(model, mode, prefill, sampling)

    def __repr__(self) -> str:
        url, mode = self._base_url, self.mode
        return f"AnthropicBackend(model={self.model!r}, base_url={url!r}, mode={mode!r})"

    def request(self, prompt: Prompt, params: GenerationParams) -> WireRequest:
        """Return what one call sends, and how its reply is read."""
        return anthropic_wire.request(prompt, params, self._options)

    def request_body(self, prompt: Prompt, params: GenerationParams) -> tuple[dict[str, Any], str]:
        """Return the Messages API body and the prefill the reply text starts with."""
        return anthropic_wire.request_body(prompt, params, self._options)

    def api_key(self) -> str:
        """The key from ``ANTHROPIC_API_KEY``."""
        key = os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            raise BackendError(
                "no Anthropic API key: set ANTHROPIC_API_KEY in the environment", retryable=False
            )
        return key
