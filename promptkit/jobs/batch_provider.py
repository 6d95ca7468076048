"""What a provider's batch API must do for a batch job, and the helpers every provider shares.

:class:`BatchProvider` is the protocol (one per provider: :mod:`promptkit.jobs.batch_openai`,
:mod:`promptkit.jobs.batch_anthropic`), spoken through the provider's own SDK;
:class:`BatchStatus` is a polled batch; :func:`request_digest` keys a request so that
its reply is found again; :func:`scrubbed` keeps API keys out of every message.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from promptkit.backends.base import Backend, Completion, GenerationParams
from promptkit.errors import BackendError
from promptkit.prompt import Prompt


@dataclass(frozen=True, slots=True)
class BatchStatus:
    """A provider batch as last polled: its status word and request counts.

    ``ended`` is set once no request will be processed any more; ``files`` are the
    provider's result and error files (OpenAI); ``errors`` says why a batch failed whole.
    """

    id: str
    status: str
    ended: bool
    total: int
    done: int
    failed: int
    files: tuple[str, ...] = ()
    errors: str = ""

    @property
    def failed_whole(self) -> bool:
        """Whether the batch was refused as a whole (no request was run)."""
        return self.status == "failed"


class BatchProvider(Protocol):
    """One provider's batch API, spoken through its SDK (see batch_openai, batch_anthropic)."""

    name: str
    max_requests: int
    max_bytes: int

    @property
    def model(self) -> str:
        """The model the batches run."""
        ...

    @property
    def base_url(self) -> str | None:
        """The API's URL, as the SDK client has it."""
        ...

    def request(self, prompt: Prompt, params: GenerationParams) -> dict[str, Any]:
        """Return one request of the batch file, all but its ``custom_id``."""
        ...

    def create(self, lines: Sequence[Mapping[str, Any]]) -> tuple[str, str | None]:
        """Upload the requests and create the batch; return its id and input file id."""
        ...

    def retrieve(self, batch_id: str) -> BatchStatus:
        """Poll a batch."""
        ...

    def results(self, status: BatchStatus) -> Iterator[dict[str, Any]]:
        """Yield every result and error line of an ended batch (each has a ``custom_id``)."""
        ...

    def read(
        self, line: Mapping[str, Any], prompt: Prompt, params: GenerationParams
    ) -> Completion | BackendError:
        """Turn a result line into the completion a call would have returned, or its error."""
        ...

    def cancel(self, batch_id: str) -> BatchStatus:
        """Ask the provider to cancel a batch."""
        ...

    def secrets(self) -> list[str]:
        """Return the key values that must never reach a message or a record."""
        ...


def provider_for(backend: Backend) -> BatchProvider:
    """Return the batch API of a backend's provider.

    Raises:
        ValueError: the backend has no batch API here (only openai and anthropic do).
    """
    from promptkit.backends.anthropic import AnthropicBackend
    from promptkit.backends.openai import OpenAIBackend

    if isinstance(backend, OpenAIBackend):
        from promptkit.jobs.batch_openai import OpenAIBatches

        return OpenAIBatches(backend)
    if isinstance(backend, AnthropicBackend):
        from promptkit.jobs.batch_anthropic import AnthropicBatches

        return AnthropicBatches(backend)
    raise ValueError(
        f"--batch-api works with the openai and anthropic backends, not {backend.name!r}"
    )


def request_digest(request: Mapping[str, Any]) -> str:
    """Return a short digest of one request: the end of its ``custom_id``, the replay key."""
    text = json.dumps(request, sort_keys=True, ensure_ascii=False)
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def scrubbed(error: BackendError, secrets: Sequence[str]) -> BackendError:
    """Return the error with every known secret value in its message redacted."""
    message = str(error)
    for secret in secrets:
        if secret:
            message = message.replace(secret, "[redacted]")
    if message == str(error):
        return error
    return BackendError(
        message, status=error.status, retryable=error.retryable, retry_after=error.retry_after
    )


def provider_secrets(*values: str | None) -> list[str]:
    """Return the API keys in the environment and those given, for :func:`scrubbed`."""
    found = [os.environ.get(name) for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")]
    return [value for value in (*found, *values) if value and len(value) >= 8]
