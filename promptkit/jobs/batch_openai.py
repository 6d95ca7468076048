"""OpenAI's Batch API for :mod:`promptkit.jobs.batch_api`, through the openai SDK.

A batch is a JSONL file of requests (``custom_id``, ``method``, ``url``,
``body``) uploaded with purpose ``batch`` (``POST /v1/files``), then a batch
created on it (``POST /v1/batches``, one endpoint, a 24 h window), polled
(``GET /v1/batches/{id}``: validating, in_progress, finalizing, then
completed, expired, cancelled or failed) and read back from its output and
error files (``GET /v1/files/{id}/content``). A file holds at most 50,000
requests and 200 MB. Each request body is the one the backend sends for a
normal call, and each reply body is read as a normal reply is.

Calls that only read (upload, poll, download, cancel) are retried as the
backend retries its calls; creating a batch is sent once, so that a
timeout never makes two batches.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from promptkit.backends import openai_wire
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
    from promptkit.backends.openai import OpenAIBackend

T = TypeVar("T")

ENDED = frozenset({"completed", "failed", "expired", "cancelled"})
# Line error codes that a later try may cure: the request was not run in time.
RETRY_CODES = frozenset({"batch_expired", "batch_cancelled", "request_timeout"})


class OpenAIBatches:
    """OpenAI's Batch API on the client of an :class:`OpenAIBackend`."""

    name = "openai"
    max_requests = 50_000
    max_bytes = 200_000_000

    def __init__(self, backend: OpenAIBackend) -> None:
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
        """Return one line of the batch file, all but its ``custom_id``."""
        path, body = openai_request_body(self.backend, prompt, params)
        return {"method": "POST", "url": f"/v1{path}", "body": body}

    def create(self, lines: Sequence[Mapping[str, Any]]) -> tuple[str, str | None]:
        """Upload the requests as a JSONL file and create a batch on it."""
        endpoints = sorted({str(line["url"]) for line in lines})
        if len(endpoints) != 1:
            raise BackendError(
                f"an OpenAI batch has one endpoint, but these requests go to {endpoints}; "
                "use one layout for the whole job",
                retryable=False,
            )
        data = b"".join(json.dumps(line, ensure_ascii=False).encode() + b"\n" for line in lines)
        client = self._client()
        upload = self._call(
            lambda: client.files.create(file=("promptkit-batch.jsonl", data), purpose="batch")
        )
        batch = self._call(
            lambda: client.batches.create(
                input_file_id=upload.id,
                endpoint=endpoints[0],
                completion_window="24h",
                metadata={"created_by": "promptkit"},
            ),
            once=True,
        )
        return str(batch.id), str(upload.id)

    def retrieve(self, batch_id: str) -> BatchStatus:
        """Poll a batch."""
        client = self._client()
        return _status(self._call(lambda: client.batches.retrieve(batch_id)))

    def cancel(self, batch_id: str) -> BatchStatus:
        """Ask OpenAI to cancel a batch (it goes through cancelling to cancelled)."""
        client = self._client()
        return _status(self._call(lambda: client.batches.cancel(batch_id)))

    def results(self, status: BatchStatus) -> Iterator[dict[str, Any]]:
        """Yield the lines of the batch's output file, then of its error file."""
        client = self._client()
        for file_id in status.files:
            text: str = self._call(partial(_content, client, file_id))
            for line in text.splitlines():
                if line.strip():
                    yield json.loads(line)

    def read(
        self, line: Mapping[str, Any], prompt: Prompt, params: GenerationParams
    ) -> Completion | BackendError:
        """Turn an output or error line into the completion of that request, or its error."""
        response = line.get("response") or {}
        error = line.get("error")
        status = response.get("status_code")
        if error:
            code = error.get("code") or "error"
            return BackendError(
                f"openai batch request {line.get('custom_id')}: {code}: {error.get('message')}",
                status=status,
                retryable=code in RETRY_CODES or status is None or status >= 429,
            )
        body = response.get("body")
        if status != 200 or not isinstance(body, dict):
            detail = body.get("error", body) if isinstance(body, dict) else body
            if isinstance(detail, dict):
                detail = detail.get("message", detail)
            return status_error(int(status or 500), str(detail), provider="openai batch")
        try:
            return openai_completion(self.backend, body)
        except BackendError as refused:
            return refused
        except (KeyError, IndexError, TypeError, AttributeError) as shape:
            return BackendError(
                f"openai batch reply of an unexpected shape ({shape!r}): {str(body)[:200]}",
                retryable=True,
            )

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


def _content(client: Any, file_id: str) -> str:
    return str(client.files.content(file_id).text)


def _status(batch: Any) -> BatchStatus:
    counts = batch.request_counts
    total, completed, failed = (
        (counts.total, counts.completed, counts.failed) if counts else (0,) * 3
    )
    problems = (batch.errors.data or []) if batch.errors is not None else []
    errors = "; ".join(
        f"{problem.code}: {problem.message}" + (f" (line {problem.line})" if problem.line else "")
        for problem in problems
    )
    files = tuple(name for name in (batch.output_file_id, batch.error_file_id) if name)
    return BatchStatus(
        str(batch.id),
        str(batch.status),
        batch.status in ENDED,
        total,
        completed + failed,
        failed,
        files,
        errors or ("no reason given" if batch.status == "failed" else ""),
    )


# -- the wire: the one place this module uses the backend's request and reply format --


def openai_request_body(
    backend: OpenAIBackend, prompt: Prompt, params: GenerationParams
) -> tuple[str, dict[str, Any]]:
    """The API path and body of one call, as the backend sends it."""
    return backend.request_body(prompt, params)


def openai_completion(backend: OpenAIBackend, body: dict[str, Any]) -> Completion:
    """The completion the backend reads from a reply body."""
    return openai_wire.read_completion(body, model=backend.model)
