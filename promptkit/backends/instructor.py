"""instructor interop: run a promptkit task through an instructor client.

instructor users keep their client (``instructor.from_openai(OpenAI())``,
``instructor.from_anthropic(...)``, with its mode, hooks and settings) and
gain promptkit's compiled few-shot prompts, local repair and precise
re-asks: the call goes through the client's ``create`` with
``response_model=None`` (and one attempt: instructor's own loop would retry
every error), so instructor passes the provider's reply through untouched and
promptkit parses it. The reply is shaped as the client's mode
asks (JSON mode, a JSON schema, or a forced tool call)::

    client = instructor.from_openai(OpenAI(), mode=instructor.Mode.JSON)
    result = run(task, "red shirt", backend=InstructorBackend(client, model="gpt-4o-mini"))
"""

from __future__ import annotations

import json
import time
from typing import Any

from promptkit._types import Layout
from promptkit.backends.anthropic import alternate
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

_ANTHROPIC_FINISH = {"max_tokens": "length", "end_turn": "stop", "stop_sequence": "stop"}


class InstructorBackend:
    """Send promptkit prompts through an instructor client.

    Args:
        client: an ``instructor.Instructor`` or ``instructor.AsyncInstructor``.
        model: the model name.
        retry: promptkit's retries around the client; none by default, since the
            provider SDK inside the client retries on its own.
    """

    def __init__(self, client: Any, *, model: str, retry: RetryPolicy | None = None) -> None:
        self.client = client
        self.model = model
        self.retry = retry or RetryPolicy(max_retries=0)
        self._anthropic = "anthropic" in str(getattr(client, "provider", "")).lower()

    def __repr__(self) -> str:
        return f"InstructorBackend(model={self.model!r}, mode={self._mode!r})"

    @property
    def name(self) -> str:
        """The backend's name in reports."""
        return f"instructor:{self.model}"

    @property
    def layout(self) -> Layout | None:
        """The task's layout is used."""
        return None

    @property
    def _mode(self) -> str:
        mode = getattr(self.client, "mode", None)
        return str(getattr(mode, "value", mode) or "")

    def complete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        """Send one prompt through the client's ``create`` and return the raw reply."""
        kwargs = self.request_kwargs(prompt, params)

        def send() -> Completion:
            started = time.perf_counter()
            try:
                response = self.client.create(response_model=None, max_retries=1, **kwargs)
            except Exception as error:
                raise self._translate(error) from error
            return self._read(response, time.perf_counter() - started)

        return call_with_retries(send, self.retry)

    async def acomplete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        """Async form of :meth:`complete`; needs an ``AsyncInstructor``."""
        kwargs = self.request_kwargs(prompt, params)

        async def send() -> Completion:
            started = time.perf_counter()
            try:
                response = await self.client.create(response_model=None, max_retries=1, **kwargs)
            except Exception as error:
                raise self._translate(error) from error
            return self._read(response, time.perf_counter() - started)

        return await acall_with_retries(send, self.retry)

    def request_kwargs(self, prompt: Prompt, params: GenerationParams) -> dict[str, Any]:
        """Return the keyword arguments of one ``create`` call."""
        kwargs: dict[str, Any] = {"model": self.model, "max_tokens": params.max_tokens}
        stops = list(params.stops_for(prompt))
        spec = prompt.response_format["json_schema"]
        if self._anthropic:
            system, turns = alternate(prompt)
            kwargs["messages"] = turns
            if system:
                kwargs["system"] = system
            if params.temperature is not None:
                kwargs["temperature"] = min(params.temperature, 1.0)
            if params.top_k is not None:
                kwargs["top_k"] = params.top_k
            if stops:
                kwargs["stop_sequences"] = [stop for stop in stops if stop.strip()]
            if "tools" in self._mode:
                tool = {"name": spec["name"], "input_schema": spec["schema"]}
                kwargs["tools"] = [tool]
                kwargs["tool_choice"] = {"type": "tool", "name": spec["name"]}
            return kwargs
        kwargs["messages"] = _messages(prompt)
        for key in ("temperature", "top_p", "seed"):
            value = getattr(params, key)
            if value is not None:
                kwargs[key] = value
        if stops:
            kwargs["stop"] = stops[:4]
        mode = self._mode
        if mode == "json_mode":
            kwargs["response_format"] = {"type": "json_object"}
        elif mode == "json_schema_mode":
            kwargs["response_format"] = {"type": "json_schema", "json_schema": spec}
        elif mode in ("tool_call", "function_call"):
            function = {"name": spec["name"], "parameters": spec["schema"]}
            kwargs["tools"] = [{"type": "function", "function": function}]
            kwargs["tool_choice"] = {"type": "function", "function": {"name": spec["name"]}}
        return kwargs

    def _read(self, response: Any, latency: float) -> Completion:
        try:
            if self._anthropic:
                return _from_anthropic(response, self.model, latency)
            return _from_openai(response, self.model, latency)
        except (AttributeError, IndexError, KeyError, TypeError) as error:
            raise BackendError(
                f"{self.name}: unexpected reply ({error!r}): {str(response)[:200]}",
                retryable=False,
            ) from None

    def _translate(self, error: Exception) -> BackendError:
        """Find the provider SDK's error in the chain (instructor may wrap it)."""
        seen: Exception | None = error
        while seen is not None:
            module = type(seen).__module__.split(".")[0]
            if module in ("openai", "anthropic"):
                sdk = __import__(module)
                return translate_sdk_error(seen, sdk, self.name, self.retry.timeout)
            cause = seen.__cause__ or seen.__context__
            seen = cause if isinstance(cause, Exception) else None
        return BackendError(f"{self.name}: {error!r}", retryable=False)


def _messages(prompt: Prompt) -> list[dict[str, str]]:
    if prompt.text is not None:
        return [{"role": "user", "content": prompt.text}]
    return [{"role": m.role, "content": m.content} for m in prompt.messages]


def _from_openai(response: Any, model: str, latency: float) -> Completion:
    choice = response.choices[0]
    message = choice.message
    calls = getattr(message, "tool_calls", None) or []
    text = calls[0].function.arguments if calls else message.content or ""
    usage = response.usage
    return Completion(
        text=text,
        finish_reason=choice.finish_reason,
        # Some clients (instructor 1.17 over openai 3) report usage with its counts unset.
        prompt_tokens=getattr(usage, "prompt_tokens", None) or 0,
        completion_tokens=getattr(usage, "completion_tokens", None) or 0,
        model=response.model or model,
        latency=latency,
    )


def _from_anthropic(response: Any, model: str, latency: float) -> Completion:
    text = ""
    for block in response.content:
        if block.type == "tool_use":
            text = json.dumps(block.input, ensure_ascii=False)
            break
        if block.type == "text":
            text += block.text
    return Completion(
        text=text,
        finish_reason=_ANTHROPIC_FINISH.get(response.stop_reason, response.stop_reason),
        prompt_tokens=getattr(response.usage, "input_tokens", None) or 0,
        completion_tokens=getattr(response.usage, "output_tokens", None) or 0,
        model=response.model or model,
        latency=latency,
    )
