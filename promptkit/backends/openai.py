"""The ``openai`` backend: any OpenAI-compatible server through the official openai SDK.

OpenAI itself, vLLM, llama.cpp's servers, Ollama and LM Studio all speak the
same chat API; pick one with ``base_url``. The key comes from the
environment (``OPENAI_API_KEY``) unless a client is passed in; it is never
printed or logged, and a local server with no key gets a placeholder.

The request body is built once from the compiled prompt and sent with the
SDK's own client (``client.post``), so the SDK's auth, headers and
connection pool are used while its per-call conversion of every message
parameter is not paid. Retries are promptkit's (:class:`RetryPolicy`); the
SDK's own are turned off so that they do not multiply.
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

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
    import httpx
    import openai

OutputMode = Literal["text", "json_object", "json_schema", "tool"]
Dialect = Literal["openai", "llama-cpp-python"]

_MAX_STOPS = 4  # OpenAI's limit on stop sequences
_NO_KEY = "sk-no-key-needed"  # what local servers get when the environment has no key


class OpenAIBackend:
    """Call a model on an OpenAI-compatible server.

    Args:
        model: the model name the server knows.
        base_url: the server's ``/v1`` URL; OpenAI's when unset.
        mode: how the reply is constrained: ``text`` (the prompt only),
            ``json_object``, ``json_schema`` (strict where the schema allows) or
            ``tool`` (a forced function call whose arguments are the reply).
        dialect: ``llama-cpp-python`` for that package's server, which takes a
            schema as ``{"type": "json_object", "schema": ...}`` on chat and as a
            grammar on completions.
        layout: ``completion`` to send completion-layout prompts to ``/completions``
            (for a base model); ``None`` to use the task's layout on the chat API.
        retry: retries, backoff and the per-request timeout.
        client: an ``openai.OpenAI`` to use instead of building one.
        async_client: an ``openai.AsyncOpenAI`` to use instead of building one.
        http_client: an ``httpx.Client`` for the built SDK client (a proxy, a mock transport).
        async_http_client: an ``httpx.AsyncClient`` for the built async SDK client.
        send_top_k: whether to send ``top_k``; by default only to servers other than OpenAI's,
            which rejects it.
    """

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
        if mode not in ("text", "json_object", "json_schema", "tool"):
            raise ValueError(f"mode must be text, json_object, json_schema or tool, not {mode!r}")
        self.model = model
        self.mode: OutputMode = mode
        self.dialect: Dialect = dialect
        self.retry = retry or RetryPolicy()
        self._layout: Layout | None = layout
        self._base_url = base_url or _base_url_of(client) or os.environ.get("OPENAI_BASE_URL")
        official = _is_openai(self._base_url)
        self._send_top_k = (not official) if send_top_k is None else send_top_k
        self._token_field = "max_completion_tokens" if official else "max_tokens"
        self._client = client.with_options(max_retries=0) if client is not None else None
        self._async_client = (
            async_client.with_options(max_retries=0) if async_client is not None else None
        )
        self._http_client = http_client
        self._async_http_client = async_http_client

    def __repr__(self) -> str:
        url, mode = self._base_url, self.mode
        return f"OpenAIBackend(model={self.model!r}, base_url={url!r}, mode={mode!r})"

    @property
    def name(self) -> str:
        """The backend's name in reports."""
        return f"openai:{self.model}"

    @property
    def layout(self) -> Layout | None:
        """The layout this backend asks for, if any."""
        return self._layout

    # -- the call ----------------------------------------------------------------

    def complete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        """Send one prompt and return the reply, retrying transient failures."""
        path, body = self.request_body(prompt, params)
        client = self._sync_client()

        def send() -> Completion:
            started = time.perf_counter()
            try:
                response = client.post(path, body=body, cast_to=_httpx().Response)
            except Exception as error:
                raise translate_sdk_error(error, _openai(), "openai", self.retry.timeout) from error
            return self._read(response, prompt, time.perf_counter() - started)

        return call_with_retries(send, self.retry)

    async def acomplete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        """Async form of :meth:`complete`."""
        path, body = self.request_body(prompt, params)
        client = self._async_sdk_client()

        async def send() -> Completion:
            started = time.perf_counter()
            try:
                response = await client.post(path, body=body, cast_to=_httpx().Response)
            except Exception as error:
                raise translate_sdk_error(error, _openai(), "openai", self.retry.timeout) from error
            return self._read(response, prompt, time.perf_counter() - started)

        return await acall_with_retries(send, self.retry)

    # -- the request -------------------------------------------------------------

    def request_body(self, prompt: Prompt, params: GenerationParams) -> tuple[str, dict[str, Any]]:
        """Return the API path and the JSON body that one call sends."""
        body: dict[str, Any] = {"model": self.model}
        if prompt.text is not None:
            path = "/completions"
            body["prompt"] = prompt.text
        else:
            path = "/chat/completions"
            body["messages"] = [{"role": m.role, "content": m.content} for m in prompt.messages]
        body[self._token_field] = params.max_tokens
        for key in ("temperature", "top_p", "seed"):
            value = getattr(params, key)
            if value is not None:
                body[key] = value
        if params.top_k is not None and self._send_top_k:
            body["top_k"] = params.top_k
        stops = params.stops_for(prompt)
        if stops:
            body["stop"] = list(stops[:_MAX_STOPS])
        body.update(self._format_fields(prompt, chat=prompt.text is None))
        return path, body

    def _format_fields(self, prompt: Prompt, *, chat: bool) -> dict[str, Any]:
        if self.mode == "text":
            return {}
        spec = prompt.response_format["json_schema"]
        root = spec["schema"]
        if self.dialect == "llama-cpp-python" and self.mode != "tool":
            # That server knows no "json_schema" type: a schema rides on json_object (chat)
            # or becomes a grammar (completions). Its grammars take the prompt's own schema
            # (optional keys may be left out, as the examples do; an array root is fine).
            if not chat:
                return {"grammar": _gbnf(prompt.json_schema)} if self.mode == "json_schema" else {}
            fmt: dict[str, Any] = {"type": "json_object"}
            if self.mode == "json_schema":
                fmt["schema"] = prompt.json_schema
            return {"response_format": fmt}
        if self.mode == "json_object":
            return {"response_format": {"type": "json_object"}}
        strict = is_strict_compatible(root)
        if self.mode == "json_schema":
            named = {**spec, "strict": strict}
            return {"response_format": {"type": "json_schema", "json_schema": named}}
        tool = {
            "type": "function",
            "function": {
                "name": spec["name"],
                "description": f"Record the {prompt.task} output.",
                "parameters": root,
                "strict": strict,
            },
        }
        choice = {"type": "function", "function": {"name": spec["name"]}}
        return {"tools": [tool], "tool_choice": choice}

    # -- the response ------------------------------------------------------------

    def _read(self, response: httpx.Response, prompt: Prompt, latency: float) -> Completion:
        try:
            data = json.loads(response.content)
        except ValueError:
            kind = response.headers.get("content-type", "no content type")
            raise BackendError(
                f"{self.name} returned a body that is not JSON (HTTP {response.status_code}, "
                f"{kind}): {response.text[:200]!r}; is the base URL an OpenAI-compatible API?",
                status=response.status_code,
                retryable=False,
            ) from None
        try:
            return _completion(data, self.model, latency)
        except (KeyError, IndexError, TypeError, AttributeError) as error:
            raise BackendError(
                f"{self.name} returned JSON of an unexpected shape ({error!r}): {str(data)[:200]}",
                status=response.status_code,
                retryable=False,
            ) from None

    # -- clients -----------------------------------------------------------------

    def _sync_client(self) -> openai.OpenAI:
        if self._client is None:
            sdk = _openai()
            self._client = sdk.OpenAI(
                api_key=_api_key(self._base_url),
                base_url=self._base_url,
                timeout=self.retry.timeout,
                max_retries=0,
                http_client=self._http_client,
            )
        return self._client

    def _async_sdk_client(self) -> openai.AsyncOpenAI:
        if self._async_client is None:
            sdk = _openai()
            self._async_client = sdk.AsyncOpenAI(
                api_key=_api_key(self._base_url),
                base_url=self._base_url,
                timeout=self.retry.timeout,
                max_retries=0,
                http_client=self._async_http_client,
            )
        return self._async_client


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


def _completion(data: dict[str, Any], model: str, latency: float) -> Completion:
    if "error" in data and "choices" not in data:
        error = data["error"]
        message = error.get("message", error) if isinstance(error, dict) else error
        raise BackendError(f"the server returned an error: {message}", retryable=False)
    choice = data["choices"][0]
    message = choice.get("message")
    if message is None:
        text = choice["text"]
    else:
        calls = message.get("tool_calls") or []
        text = calls[0]["function"]["arguments"] if calls else message.get("content") or ""
    usage = data.get("usage") or {}
    details = usage.get("prompt_tokens_details") or {}
    return Completion(
        text=text,
        finish_reason=choice.get("finish_reason"),
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        model=str(data.get("model") or model),
        latency=latency,
        cached_tokens=int(details.get("cached_tokens") or 0),
    )


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


def _api_key(base_url: str | None) -> str:
    key = os.environ.get("OPENAI_API_KEY")
    if key:
        return key
    if base_url and not _is_openai(base_url):
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


def _openai() -> Any:
    try:
        import openai
    except ImportError as error:
        raise ImportError(
            "the openai backend needs the openai SDK: pip install 'promptkit[openai]'"
        ) from error
    return openai


def _httpx() -> Any:
    import httpx

    return httpx
