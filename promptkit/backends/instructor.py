"""instructor interop: run a promptkit task through an instructor client.

instructor users keep their client (``instructor.from_openai(OpenAI())``,
``instructor.from_anthropic(...)``, with its mode, hooks and settings) and
gain promptkit's compiled few-shot prompts, local repair and precise
re-asks: the call goes through the client's ``create`` with
``response_model=None`` (and one attempt: instructor's own loop would retry
every error), so instructor passes the provider's reply through untouched and
promptkit parses it. The request is the one the ``openai`` or ``anthropic``
backend would send (the same wire functions), shaped as the client's mode
asks (JSON mode, a JSON schema, or a forced tool call)::

    client = instructor.from_openai(OpenAI(), mode=instructor.Mode.JSON)
    result = run(task, "red shirt", backend=InstructorBackend(client, model="gpt-4o-mini"))
"""

from __future__ import annotations

import importlib
import time
from typing import Any, ClassVar

from promptkit.backends import anthropic_wire, openai_wire
from promptkit.backends.base import Completion, GenerationParams, RetryPolicy
from promptkit.backends.openai_wire import ChatOptions, OutputMode
from promptkit.backends.sdk import SDKBackend, WireRequest, translate_sdk_error
from promptkit.errors import BackendError
from promptkit.prompt import Prompt

# instructor's modes (their values) as the openai wire's output modes; any other is "text".
_OPENAI_MODES: dict[str, OutputMode] = {
    "json_mode": "json_object",
    "json_schema_mode": "json_schema",
    "tool_call": "tool",
    "function_call": "tool",
}


class InstructorBackend(SDKBackend):
    """Send promptkit prompts through an instructor client.

    Args:
        client: an ``instructor.Instructor`` or ``instructor.AsyncInstructor``.
        model: the model name.
        retry: promptkit's retries around the client; none by default, since the
            provider SDK inside the client retries on its own (the client is yours,
            so its SDK's retries stay as you set them: the one retry layer is theirs).
    """

    provider: ClassVar[str] = "instructor"

    def __init__(self, client: Any, *, model: str, retry: RetryPolicy | None = None) -> None:
        self.client = client
        self.model = model
        self.retry = retry or RetryPolicy(max_retries=0)
        self._anthropic = "anthropic" in str(getattr(client, "provider", "")).lower()
        mode = getattr(client, "mode", None)
        self._mode = str(getattr(mode, "value", mode) or "")
        headers = getattr(getattr(client, "client", None), "default_headers", None) or {}
        self._sampling = anthropic_wire.takes_sampling(headers.get("anthropic-version"))

    def __repr__(self) -> str:
        return f"InstructorBackend(model={self.model!r}, mode={self._mode!r})"

    def request(self, prompt: Prompt, params: GenerationParams) -> WireRequest:
        """Return the ``create`` keyword arguments of one call, and how its reply is read."""
        if self._anthropic:
            # tool_call (instructor 1.17's TOOLS for every provider), anthropic_tools, ...
            mode: Any = "tool" if "tool" in self._mode else "json"
            options = anthropic_wire.MessagesOptions(self.model, mode, sampling=self._sampling)
            return anthropic_wire.request(prompt, params, options)
        chat = ChatOptions(
            self.model, _OPENAI_MODES.get(self._mode, "text"), top_k=False, chat_only=True
        )
        return openai_wire.request(prompt, params, chat)

    def request_kwargs(self, prompt: Prompt, params: GenerationParams) -> dict[str, Any]:
        """Return the keyword arguments of one ``create`` call."""
        return self.request(prompt, params).body

    def _send(self, request: WireRequest) -> Completion:
        started = time.perf_counter()
        try:
            reply = self.client.create(response_model=None, max_retries=1, **request.body)
        except Exception as error:
            raise self._translate(error) from error
        return request.read(reply, time.perf_counter() - started)

    async def _asend(self, request: WireRequest) -> Completion:
        started = time.perf_counter()
        try:
            reply = await self.client.create(response_model=None, max_retries=1, **request.body)
        except Exception as error:
            raise self._translate(error) from error
        return request.read(reply, time.perf_counter() - started)

    def _translate(self, error: Exception) -> BackendError:
        """Find the provider SDK's error in the chain (instructor may wrap it)."""
        seen: Exception | None = error
        while seen is not None:
            module = type(seen).__module__.split(".")[0]
            if module in ("openai", "anthropic"):
                sdk = importlib.import_module(module)
                return translate_sdk_error(seen, sdk, self.name, self.retry.timeout)
            cause = seen.__cause__ or seen.__context__
            seen = cause if isinstance(cause, Exception) else None
        return BackendError(f"{self.name}: {error!r}", retryable=False)
