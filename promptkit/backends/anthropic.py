"""The ``anthropic`` backend: Claude through the official anthropic SDK.

Anthropic's Messages API differs from the chat API the compiler targets in
three ways this module absorbs: the system prompt is a separate field, the
turns must alternate user/assistant starting with a user turn (consecutive
turns of one role are joined), and there is no ``response_format``. A reply
is constrained either by the prompt alone (``json``; the schema is in the
prompt) or by a forced tool whose input schema is the task's (``tool``).

Newer Claude models refuse ``temperature`` and ``top_p`` together, so
``top_p`` is sent only when ``temperature`` is unset. Assistant prefill
(starting the reply with ``{``) helps older models and is refused by the
newest, so it is off unless asked for.
"""

from __future__ import annotations

import importlib
import json
import os
import time
from typing import TYPE_CHECKING, Any, Literal

from promptkit._types import Layout
from promptkit.backends.base import (
    Completion,
    GenerationParams,
    RetryPolicy,
    acall_with_retries,
    call_with_retries,
    translate_sdk_error,
)
from promptkit.errors import BackendError
from promptkit.prompt import Prompt

if TYPE_CHECKING:
    import anthropic

AnthropicMode = Literal["json", "tool"]

_FINISH = {"max_tokens": "length", "end_turn": "stop", "stop_sequence": "stop", "tool_use": "stop"}


class AnthropicBackend:
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
            (``httpx.Client``; ``httpx2.Client`` from anthropic 2.x on).
        async_http_client: the async counterpart, for the built async SDK client.
    """

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
        if mode not in ("json", "tool"):
            raise ValueError(f"mode must be json or tool, not {mode!r}")
        self.model = model
        self.mode: AnthropicMode = mode
        self.prefill = prefill
        self.retry = retry or RetryPolicy()
        self._base_url = base_url
        self._client = client.with_options(max_retries=0) if client is not None else None
        self._async_client = (
            async_client.with_options(max_retries=0) if async_client is not None else None
        )
        self._http_client = http_client
        self._async_http_client = async_http_client

    def __repr__(self) -> str:
        return f"AnthropicBackend(model={self.model!r}, mode={self.mode!r})"

    @property
    def name(self) -> str:
        """The backend's name in reports."""
        return f"anthropic:{self.model}"

    @property
    def layout(self) -> Layout | None:
        """Claude is a chat model: the task's layout is used."""
        return None

    def complete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        """Send one prompt and return the reply, retrying transient failures."""
        body, opening = self.request_body(prompt, params)
        client = self._sync_client()

        def send() -> Completion:
            started = time.perf_counter()
            try:
                response = client.post("/v1/messages", body=body, cast_to=_response_type(client))
            except Exception as error:
                raise translate_sdk_error(
                    error, _anthropic(), "anthropic", self.retry.timeout
                ) from error
            return self._read(response, opening, time.perf_counter() - started)

        return call_with_retries(send, self.retry)

    async def acomplete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        """Async form of :meth:`complete`."""
        body, opening = self.request_body(prompt, params)
        client = self._async_sdk_client()

        async def send() -> Completion:
            started = time.perf_counter()
            try:
                response = await client.post(
                    "/v1/messages", body=body, cast_to=_response_type(client)
                )
            except Exception as error:
                raise translate_sdk_error(
                    error, _anthropic(), "anthropic", self.retry.timeout
                ) from error
            return self._read(response, opening, time.perf_counter() - started)

        return await acall_with_retries(send, self.retry)

    def request_body(self, prompt: Prompt, params: GenerationParams) -> tuple[dict[str, Any], str]:
        """Return the Messages API body and the prefill the reply text starts with."""
        system, turns = alternate(prompt)
        body: dict[str, Any] = {"model": self.model, "max_tokens": params.max_tokens}
        if system:
            body["system"] = system
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
        root = prompt.response_format["json_schema"]["schema"]
        if self.mode == "tool":
            name = prompt.response_format["json_schema"]["name"]
            body["tools"] = [
                {
                    "name": name,
                    "description": f"Record the {prompt.task} output.",
                    "input_schema": root,
                }
            ]
            body["tool_choice"] = {"type": "tool", "name": name}
        elif self.prefill:
            opening = "[" if prompt.json_schema.get("type") == "array" else "{"
            turns.append({"role": "assistant", "content": opening})
        body["messages"] = turns
        return body, opening

    def _read(self, response: Any, opening: str, latency: float) -> Completion:
        try:
            data = json.loads(response.content)
            text = opening + _reply_text(data["content"])
            usage = data.get("usage") or {}
            return Completion(
                text=text,
                finish_reason=_FINISH.get(data.get("stop_reason"), data.get("stop_reason")),
                prompt_tokens=int(usage.get("input_tokens") or 0),
                completion_tokens=int(usage.get("output_tokens") or 0),
                model=str(data.get("model") or self.model),
                latency=latency,
                cached_tokens=int(usage.get("cache_read_input_tokens") or 0),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise BackendError(
                f"anthropic returned a reply that is not a Messages API response ({error!r}): "
                f"{response.text[:200]!r}",
                status=response.status_code,
                retryable=False,
            ) from None

    def _sync_client(self) -> anthropic.Anthropic:
        if self._client is None:
            self._client = _anthropic().Anthropic(
                api_key=_api_key(),
                base_url=self._base_url,
                timeout=self.retry.timeout,
                max_retries=0,
                http_client=self._http_client,
            )
        return self._client

    def _async_sdk_client(self) -> anthropic.AsyncAnthropic:
        if self._async_client is None:
            self._async_client = _anthropic().AsyncAnthropic(
                api_key=_api_key(),
                base_url=self._base_url,
                timeout=self.retry.timeout,
                max_retries=0,
                http_client=self._async_http_client,
            )
        return self._async_client


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


def _reply_text(content: list[dict[str, Any]]) -> str:
    for block in content:
        if block.get("type") == "tool_use":
            return json.dumps(block["input"], ensure_ascii=False)
    return "".join(block.get("text", "") for block in content if block.get("type") == "text")


def _api_key() -> str:
    key = os.environ.get("ANTHROPIC_API_KEY")
    if not key:
        raise BackendError(
            "no Anthropic API key: set ANTHROPIC_API_KEY in the environment", retryable=False
        )
    return key


def _anthropic() -> Any:
    try:
        import anthropic
    except ImportError as error:
        raise ImportError(
            "the anthropic backend needs the anthropic SDK: pip install 'promptkit[anthropic]'"
        ) from error
    return anthropic


def _response_type(client: Any) -> Any:
    """Return the raw response class of the HTTP package the SDK uses (httpx, or httpx2 in 2.x)."""
    package = type(client._client).__module__.split(".")[0]
    return importlib.import_module(package).Response
