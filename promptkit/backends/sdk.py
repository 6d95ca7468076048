"""What the SDK backends share: the call with its retries, the SDK clients, the SDK's errors.

A backend over a provider SDK builds its request once per call from the
prompt (a provider's pure wire function, :mod:`~promptkit.backends.openai_wire`
or :mod:`~promptkit.backends.anthropic_wire`), then sends it: ``_send`` and
``_asend`` are the only places where the sync and async forms differ. Every
try is one request; the retries are :class:`~promptkit.backends.base.RetryPolicy`'s,
and the SDK's own are turned off (``max_retries=0`` on every client) so that
they do not multiply.

The openai and anthropic SDKs are generated alike (Stainless): a client takes
``api_key``, ``base_url``, ``timeout``, ``max_retries`` and ``http_client``,
posts a prepared body with ``client.post(path, body=..., cast_to=bytes)``, and
raises the same error classes. :class:`PostingBackend` is written once for both.

``cast_to`` is the Response class of the HTTP package the SDK is built on
(httpx, or httpx2 from openai 3 and anthropic 2 on), which the SDK hands back
as it is, without parsing: it is found through the SDK's public
``DefaultHttpxClient``, a subclass of that package's client.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, cast

from promptkit._types import Layout
from promptkit.backends.base import (
    Completion,
    GenerationParams,
    RetryPolicy,
    acall_with_retries,
    call_with_retries,
    retry_after_of,
    status_error,
)
from promptkit.errors import BackendError, ExtraNotInstalled
from promptkit.prompt import Prompt

Reader = Callable[[Any, float], Completion]
"""Turns a provider's reply (its JSON data, or an SDK object) and the latency into a Completion."""


@dataclass(frozen=True, slots=True)
class WireRequest:
    """One call as it goes over the wire: the API path, the JSON body, and how to read the reply."""

    path: str
    body: dict[str, Any]
    read: Reader


class SDKBackend(ABC):
    """A backend whose calls are a request built once, then sent with retries.

    Subclasses give :meth:`request` (pure: from the prompt to the wire) and
    the I/O, :meth:`_send` and :meth:`_asend`; both send one request.
    """

    provider: ClassVar[str]  # the first half of the name: "openai", "anthropic", "instructor"
    model: str
    retry: RetryPolicy
    layout: Layout | None = None  # a chat API: the task's layout is used

    @property
    def name(self) -> str:
        """A short name for reports (``"openai:gpt-4o-mini"``)."""
        return f"{self.provider}:{self.model}"

    @abstractmethod
    def request(self, prompt: Prompt, params: GenerationParams) -> WireRequest:
        """Return what one call sends, and how its reply is read."""

    @abstractmethod
    def _send(self, request: WireRequest) -> Completion:
        """Send one request and read its reply."""

    @abstractmethod
    async def _asend(self, request: WireRequest) -> Completion:
        """Send one request without blocking the event loop and read its reply."""

    def complete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        """Send one prompt and return the reply, retrying transient failures."""
        request = self.request(prompt, params)
        return call_with_retries(lambda: self._send(request), self.retry)

    async def acomplete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        """Async form of :meth:`complete`."""
        request = self.request(prompt, params)
        return await acall_with_retries(lambda: self._asend(request), self.retry)


class PostingBackend(SDKBackend):
    """An SDK backend that posts its prepared body through the SDK's own client.

    The SDK's auth, headers and connection pool are used; its per-call
    conversion of every message parameter is not paid. The clients are built
    on first use from the SDK's defaults (or taken as given, with their
    retries turned off).
    """

    # The provider names the SDK's module and the promptkit extra: "openai" or "anthropic".
    client_classes: ClassVar[tuple[str, str]]  # the SDK's sync and async client classes

    def __init__(
        self,
        model: str,
        base_url: str | None,
        retry: RetryPolicy | None,
        clients: tuple[Any, Any],
        http_clients: tuple[Any, Any],
    ) -> None:
        """Keep the settings; the SDK clients are built on first use.

        Args:
            model: the model name.
            base_url: the API's URL, or None for the provider's own.
            retry: the retry policy, or None for the default one.
            clients: the sync and async SDK clients to use (None: build one).
            http_clients: HTTP clients for the SDK clients built (None: the SDK's default).
        """
        if None in clients:
            require_sdk(self.provider)
        self.model = model
        self.retry = retry or RetryPolicy()
        self._base_url = base_url
        self._clients: list[Any] = [
            None if given is None else given.with_options(max_retries=0) for given in clients
        ]
        self._http_clients = http_clients
        self._lock = threading.Lock()

    @abstractmethod
    def api_key(self) -> str:
        """Return the key the built clients send (from the environment)."""

    def _send(self, request: WireRequest) -> Completion:
        client = self._client(0)
        started = time.perf_counter()
        try:
            response = client.post(
                request.path, body=request.body, cast_to=response_class(self.provider)
            )
        except Exception as error:
            raise self._translated(error) from error
        return request.read(self._json(response), time.perf_counter() - started)

    async def _asend(self, request: WireRequest) -> Completion:
        client = self._client(1)
        started = time.perf_counter()
        try:
            response = await client.post(
                request.path, body=request.body, cast_to=response_class(self.provider)
            )
        except Exception as error:
            raise self._translated(error) from error
        return request.read(self._json(response), time.perf_counter() - started)

    def _json(self, response: Any) -> Any:
        try:
            return json.loads(response.content)
        except ValueError:
            raise body_error(response, self.name) from None

    def _translated(self, error: Exception) -> BackendError:
        return translate_sdk_error(error, _module(self.provider), self.provider, self.retry.timeout)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the settings, not the clients or the lock: a copy builds its own clients.

        Engines that ship a backend to worker processes (Ray) pickle it.
        """
        state = dict(self.__dict__)
        state["_clients"] = [None, None]
        state["_http_clients"] = (None, None)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def sdk_client(self) -> Any:
        """The SDK's sync client this backend sends with (for the provider's other APIs)."""
        return self._client(0)

    def translated(self, error: Exception) -> BackendError:
        """Turn an exception of this backend's SDK into a :class:`BackendError`."""
        return self._translated(error)

    def _client(self, kind: int) -> Any:
        """The sync (0) or async (1) SDK client, built once with the SDK's defaults."""
        client = self._clients[kind]
        if client is not None:
            return client
        with self._lock:  # concurrent first calls build one client, not one each
            if self._clients[kind] is None:
                sdk = _module(self.provider)
                self._clients[kind] = getattr(sdk, self.client_classes[kind])(
                    api_key=self.api_key(),
                    base_url=self._base_url,
                    timeout=self.retry.timeout,
                    max_retries=0,
                    http_client=self._http_clients[kind],
                )
            return self._clients[kind]


@functools.cache
def response_class(provider: str) -> type[Any]:
    """The Response class of the HTTP package an SDK is built on (httpx or httpx2)."""
    sdk = _module(provider)
    for base in sdk.DefaultHttpxClient.__mro__[1:]:
        package = base.__module__.split(".")[0]
        if package != provider:
            return cast("type[Any]", importlib.import_module(package).Response)
    raise BackendError(f"the {provider} SDK's HTTP package was not found", retryable=False)


def body_error(response: Any, provider: str) -> BackendError:
    """Say what is wrong with a success reply whose body is not JSON.

    A body that stops inside its JSON (a reply cut off in transit) or is
    empty may come whole next time: retryable. A body that is not JSON at
    all (an HTML login page of a proxy) is not an API's reply: not retryable.
    """
    raw = response.content
    status = response.status_code
    text = raw.decode("utf-8", errors="replace")
    start = text.lstrip()[:1]
    if start in ("", "{", "["):
        what = "an empty body" if not start else f"JSON cut off after {len(raw)} bytes"
        return BackendError(
            f"{provider} replied (HTTP {status}) with {what}: {text[:200]!r}",
            status=status,
            retryable=True,
        )
    kind = response.headers.get("content-type", "no content type")
    return BackendError(
        f"{provider} replied (HTTP {status}, {kind}) with a body that is not JSON: "
        f"{text[:200]!r}; is the base URL the API's (for OpenAI-compatible servers, the URL "
        "ending in /v1)?",
        status=status,
        retryable=False,
    )


def translate_sdk_error(error: Exception, sdk: Any, provider: str, timeout: float) -> BackendError:
    """Turn an exception of a Stainless-generated SDK (openai, anthropic) into a BackendError."""
    if isinstance(error, BackendError):
        return error
    if isinstance(error, sdk.APITimeoutError):
        return BackendError(f"{provider}: no reply within {timeout:g}s", retryable=True)
    if isinstance(error, sdk.APIConnectionError):
        cause = error.__cause__ or error
        return BackendError(f"{provider}: connection failed: {cause!r}", retryable=True)
    if isinstance(error, sdk.APIStatusError):
        retry_after = retry_after_of(error.response.headers)
        return status_error(
            error.status_code, error.message, retry_after=retry_after, provider=provider
        )
    return BackendError(f"{provider}: {error!r}", retryable=False)


def require_sdk(name: str) -> None:
    """Raise a :class:`BackendError` naming the extra to install when an SDK is missing."""
    if importlib.util.find_spec(name) is None:
        raise _missing(name)


def _module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise _missing(name) from error


def _missing(name: str) -> ExtraNotInstalled:
    return ExtraNotInstalled(f"the {name} backend needs the {name} SDK", name)
