"""Anthropic's Message Batches for :mod:`promptkit.jobs.batch_api`, through the anthropic SDK.

A batch is created with its requests inline (``POST /v1/messages/batches``,
each a ``custom_id`` and the Messages API ``params``), polled
(``GET /v1/messages/batches/{id}``: in_progress, canceling, ended) and read
from its results (JSONL at the batch's ``results_url``), where every
request has one result: succeeded (a message), errored, canceled or
expired. A batch holds at most 100,000 requests or 256 MB. Each ``params``
is the body the backend sends for a normal call, and each message is read
as a normal reply is (a prefill the backend added starts the text).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from promptkit.backends import anthropic_wire
from promptkit.backends.base import (
    Completion,
    GenerationParams,
    RetryPolicy,
    retried,
    status_error,
)
from promptkit.errors import BackendError
from promptkit.jobs.batch_provider import BatchStatus, provider_secrets
from promptkit.prompt import Prompt

if TYPE_CHECKING:
    from promptkit.backends.anthropic import AnthropicBackend

T = TypeVar("T")

# The HTTP status each error type of an errored result stands for.
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "conflict_error": 409,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "timeout_error": 504,
    "api_error": 500,
    "overloaded_error": 529,
}


class AnthropicBatches:
    """Anthropic's Message Batches on the client of an :class:`AnthropicBackend`."""

    name = "anthropic"
    max_requests = 100_000
    max_bytes = 256_000_000

    def __init__(self, backend: AnthropicBackend) -> None:
        self.backend = backend

    @property
    def model(self) -> str:
        """The model the batches run."""
        return self.backend.model

    @property
    def base_url(self) -> str | None:
        """The API's URL, as the SDK client has it."""
        return str(self._client().base_url)

    def request(self, prompt: Prompt, params: GenerationParams) -> dict[str, Any]:
        """Return one request of the batch, all but its ``custom_id``."""
        body, _ = _wire_request(self.backend, prompt, params)
        return {"params": body}

    def create(self, lines: Sequence[Mapping[str, Any]]) -> tuple[str, str | None]:
        """Create a batch holding the requests."""
        client = self._client()
        requests = [dict(line) for line in lines]
        batch = self._call(lambda: client.messages.batches.create(requests=requests), once=True)
        return str(batch.id), None

    def retrieve(self, batch_id: str) -> BatchStatus:
        """Poll a batch."""
        client = self._client()
        return _status(self._call(lambda: client.messages.batches.retrieve(batch_id)))

    def cancel(self, batch_id: str) -> BatchStatus:
        """Ask Anthropic to cancel a batch (it goes through canceling to ended)."""
        client = self._client()
        return _status(self._call(lambda: client.messages.batches.cancel(batch_id)))

    def results(self, status: BatchStatus) -> Iterator[dict[str, Any]]:
        """Yield every result line of an ended batch."""
        client = self._client()

        def download() -> list[dict[str, Any]]:
            lines = client.messages.batches.results(status.id)
            return [line.model_dump(mode="json") for line in lines]

        yield from self._call(download)

    def read(
        self, line: Mapping[str, Any], prompt: Prompt, params: GenerationParams
    ) -> Completion | BackendError:
        """Turn a result line into the completion of that request, or its error."""
        result = line.get("result") or {}
        kind = result.get("type")
        name = f"anthropic batch request {line.get('custom_id')}"
        if kind == "succeeded":
            try:
                _, opening = _wire_request(self.backend, prompt, params)
                return _wire_completion(self.backend, result["message"], opening)
            except BackendError as refused:
                return refused
            except (KeyError, TypeError) as shape:
                return BackendError(f"{name}: a message of an unexpected shape ({shape!r})")
        if kind == "errored":
            error = (result.get("error") or {}).get("error") or {}
            status = ERROR_STATUS.get(str(error.get("type")), 500)
            message = f"{error.get('type')}: {error.get('message')}"
            return status_error(status, message, provider=name)
        # canceled or expired: the request was never run; a later try may pass.
        return BackendError(f"{name}: {kind}", retryable=True)

    def secrets(self) -> list[str]:
        """The key in the environment and the client's."""
        return provider_secrets(self._client().api_key)

    def _client(self) -> Any:
        return self.backend.sdk_client()

    def _call(self, call: Callable[[], T], *, once: bool = False) -> T:
        policy = self.backend.retry
        if once:
            policy = RetryPolicy(0, policy.base_delay, policy.max_delay, policy.timeout)

        def send() -> T:
            try:
                return call()
            except Exception as error:
                raise self.backend.translated(error) from error

        return retried(send, policy)[0]


def _status(batch: Any) -> BatchStatus:
    counts = batch.request_counts
    finished = counts.succeeded + counts.errored + counts.canceled + counts.expired
    return BatchStatus(
        str(batch.id),
        str(batch.processing_status),
        batch.processing_status == "ended",
        finished + counts.processing,
        finished,
        counts.errored + counts.canceled + counts.expired,
    )


# -- the wire: the one place this module uses the backend's request and reply format --


def _wire_request(
    backend: AnthropicBackend, prompt: Prompt, params: GenerationParams
) -> tuple[dict[str, Any], str]:
    """The Messages API body of one call and the prefill its reply starts with."""
    return backend.request_body(prompt, params)


def _wire_completion(
    backend: AnthropicBackend, message: Mapping[str, Any], opening: str
) -> Completion:
    """The completion the backend reads from a message."""
    return anthropic_wire.read_completion(dict(message), model=backend.model, opening=opening)
