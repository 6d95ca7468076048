"""A backend that records every call it passes on: a JSONL log, OpenTelemetry spans, or both.

:class:`RecordingBackend` wraps any backend, so the run layer, the jobs and
evaluation stay as they are: each call is sent to the inner backend
unchanged and then written down. A log line holds the time, backend, model,
prompt, parameters, reply, finish reason, usage, latency, attempt, whether
the reply came from the response cache, and the error if the call failed;
known secrets (API keys, bearer tokens) are redacted from the whole line.

Spans follow the OpenTelemetry semantic conventions for generative AI
client calls: one span per call named ``{operation} {model}`` (``chat`` for
chat prompts, ``text_completion`` for plain text ones) with
``gen_ai.provider.name`` (and the older ``gen_ai.system``),
``gen_ai.request.*``, ``gen_ai.response.model``,
``gen_ai.response.finish_reasons``, ``gen_ai.usage.input_tokens`` and
``gen_ai.usage.output_tokens``; ``error.type`` and an error status when the
call failed. Pass a tracer from ``opentelemetry.trace.get_tracer``; the
``otel`` extra installs the API and SDK. Prompts and replies are not put on
spans (the conventions make content opt-in): the log has them.

An attempt is counted per prompt: 1 for the first request, one more for each
re-ask of it (the prompt with the reply and a correction appended) and for
each resend with other parameters (more tokens after a cut-off reply).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

from promptkit._types import Layout
from promptkit.backends.base import Backend, Completion, GenerationParams
from promptkit.errors import BackendError
from promptkit.prompt import Prompt

SECRET_VARIABLES = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")
_SECRET_PATTERNS = (
    re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"),  # OpenAI and Anthropic key shapes
    re.compile(r"(?i)(?<=bearer )[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)(?<=x-api-key: )[A-Za-z0-9._~+/=-]{8,}"),
)
REDACTED = "[redacted]"
_PROVIDERS = {"local": "llama_cpp", "instructor": "openai"}


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace API keys, bearer tokens and the values of the provider key variables.

    A minimal stand-in until promptkit has one redaction module for every message.
    """
    environ = os.environ if environ is None else environ
    for name in SECRET_VARIABLES:
        secret = environ.get(name, "")
        if len(secret) >= 8:
            text = text.replace(secret, REDACTED)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def redact_url(url: str) -> str:
    """Hide a URL's password and query string (where keys are sometimes passed)."""
    parts = urlsplit(url)
    if parts.password is None and not parts.query:
        return url
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username}:{REDACTED}@{parts.hostname}"
        netloc += f":{parts.port}" if parts.port else ""
    query = REDACTED if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class RecordingBackend:
    """Pass every call on to ``backend`` and record it.

    Args:
        backend: the backend that does the work.
        log: a text stream or a path to append one JSON line per call to, or None.
        tracer: an OpenTelemetry tracer to start a span per call on, or None.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        log: TextIO | Path | None = None,
        tracer: Any = None,
    ) -> None:
        self.inner = backend
        self.tracer = tracer
        self._owned = isinstance(log, Path)
        self._log: TextIO | None = log.open("a", encoding="utf-8") if isinstance(log, Path) else log
        self._lock = threading.Lock()
        self._attempts = _Attempts()

    @property
    def name(self) -> str:
        """The inner backend's name."""
        return self.inner.name

    @property
    def layout(self) -> Layout | None:
        """The inner backend's layout."""
        return self.inner.layout

    def __repr__(self) -> str:
        # The response cache names a backend by its repr, or its name when it has none:
        # recording must not change the name a cached reply is found by.
        if type(self.inner).__repr__ is object.__repr__:
            return self.inner.name
        return repr(self.inner)

    def __getattr__(self, name: str) -> Any:
        # Anything else the inner backend offers (count_tokens, mode...) is its own.
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def complete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        """Send one prompt through the inner backend and record the call."""
        attempt = self._attempts.count(prompt, params)
        with self._span(prompt, params, attempt) as span:
            started, began = _now(), time.perf_counter()
            try:
                completion = self.inner.complete(prompt, params)
            except BackendError as error:
                self._failed(span, prompt, params, attempt, started, began, error)
                raise
            self._succeeded(span, prompt, params, attempt, started, completion)
        return completion

    async def acomplete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        """Async form of :meth:`complete`."""
        attempt = self._attempts.count(prompt, params)
        with self._span(prompt, params, attempt) as span:
            started, began = _now(), time.perf_counter()
            try:
                completion = await self.inner.acomplete(prompt, params)
            except BackendError as error:
                self._failed(span, prompt, params, attempt, started, began, error)
                raise
            self._succeeded(span, prompt, params, attempt, started, completion)
        return completion

    def record_cached(self, prompt: Prompt, params: GenerationParams, reply: Completion) -> None:
        """Record a call the response cache answered without reaching the backend."""
        attempt = self._attempts.count(prompt, params)
        with self._span(prompt, params, attempt, cache_hit=True) as span:
            self._succeeded(span, prompt, params, attempt, _now(), reply, cache_hit=True)

    def close(self) -> None:
        """Close the log file this backend opened (a stream it was given stays open)."""
        if self._owned and self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> RecordingBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- recording -----------------------------------------------------------------

    def _succeeded(
        self,
        span: Any,
        prompt: Prompt,
        params: GenerationParams,
        attempt: int,
        started: str,
        completion: Completion,
        *,
        cache_hit: bool = False,
    ) -> None:
        if span is not None:
            _end_span(span, completion)
        usage = {
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "cached_tokens": completion.cached_tokens,
        }
        self._write(
            {
                **self._request(prompt, params, attempt, started),
                "model": completion.model or _model(self.inner.name),
                "reply": completion.text,
                "finish_reason": completion.finish_reason,
                "usage": usage,
                "latency": 0.0 if cache_hit else completion.latency,
                "cache_hit": cache_hit,
                "error": None,
            }
        )

    def _failed(
        self,
        span: Any,
        prompt: Prompt,
        params: GenerationParams,
        attempt: int,
        started: str,
        began: float,
        error: BackendError,
    ) -> None:
        if span is not None:
            _fail_span(span, error)
        self._write(
            {
                **self._request(prompt, params, attempt, started),
                "model": _model(self.inner.name),
                "reply": None,
                "finish_reason": None,
                "usage": None,
                "latency": round(time.perf_counter() - began, 6),
                "cache_hit": False,
                "error": {
                    "type": type(error).__name__,
                    "message": str(error),
                    "status": error.status,
                },
            }
        )

    def _request(
        self, prompt: Prompt, params: GenerationParams, attempt: int, started: str
    ) -> dict[str, Any]:
        return {
            "time": started,
            "backend": self.inner.name,
            "attempt": attempt,
            "prompt": prompt.to_dict(),
            "params": dataclasses.asdict(params),
        }

    def _write(self, record: dict[str, Any]) -> None:
        if self._log is None:
            return
        line = redact(json.dumps(record, ensure_ascii=False)) + "\n"
        with self._lock:
            self._log.write(line)
            self._log.flush()

    def _span(
        self, prompt: Prompt, params: GenerationParams, attempt: int, *, cache_hit: bool = False
    ) -> AbstractContextManager[Any]:
        if self.tracer is None:
            return nullcontext(None)
        return _start_span(self.tracer, self.inner.name, prompt, params, attempt, cache_hit)


class _Attempts:
    """Counts requests per prompt: re-asks extend a prompt, resends change only parameters.

    Remembers the last 4,096 prompts by digest, so a long job stays small.
    """

    _LIMIT = 4096

    def __init__(self) -> None:
        self._seen: OrderedDict[str, tuple[int, str]] = OrderedDict()
        self._lock = threading.Lock()

    def count(self, prompt: Prompt, params: GenerationParams) -> int:
        turns = _turns(prompt)
        key, settings = _digest(turns), _digest(dataclasses.asdict(params))
        with self._lock:
            attempt = 1
            if key in self._seen:
                before, used = self._seen[key]
                attempt = before + 1 if used != settings else 1
            elif len(turns) > 2 and turns[-2][0] == "assistant":
                earlier = self._seen.get(_digest(turns[:-2]))
                attempt = earlier[0] + 1 if earlier is not None else 1
            self._seen[key] = (attempt, settings)
            self._seen.move_to_end(key)
            while len(self._seen) > self._LIMIT:
                self._seen.popitem(last=False)
        return attempt


def _turns(prompt: Prompt) -> list[tuple[str, str]]:
    if prompt.text is not None:
        return [("text", prompt.text)]
    return [(message.role, message.content) for message in prompt.messages]


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


def _model(backend_name: str) -> str:
    return backend_name.partition(":")[2] or backend_name


# -- OpenTelemetry ----------------------------------------------------------------------


@contextmanager
def _start_span(
    tracer: Any,
    backend_name: str,
    prompt: Prompt,
    params: GenerationParams,
    attempt: int,
    cache_hit: bool,
) -> Iterator[Any]:
    from opentelemetry.trace import SpanKind  # the otel extra; only reached with a tracer

    kind, _, model = backend_name.partition(":")
    provider = _PROVIDERS.get(kind, kind)
    operation = "text_completion" if prompt.text is not None else "chat"
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": provider,
        "gen_ai.system": provider,
        "gen_ai.request.model": model or backend_name,
        "gen_ai.request.max_tokens": params.max_tokens,
        "promptkit.attempt": attempt,
        "promptkit.cache_hit": cache_hit,
    }
    optional = {
        "gen_ai.request.temperature": params.temperature,
        "gen_ai.request.top_p": params.top_p,
        "gen_ai.request.top_k": params.top_k,
        "gen_ai.request.seed": params.seed,
        "gen_ai.request.stop_sequences": list(params.stops_for(prompt)) or None,
    }
    attributes.update({key: value for key, value in optional.items() if value is not None})
    in_process = kind == "local" or cache_hit
    with tracer.start_as_current_span(
        f"{operation} {model or backend_name}",
        kind=SpanKind.INTERNAL if in_process else SpanKind.CLIENT,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        yield span


def _end_span(span: Any, completion: Completion) -> None:
    span.set_attribute("gen_ai.usage.input_tokens", completion.prompt_tokens)
    span.set_attribute("gen_ai.usage.output_tokens", completion.completion_tokens)
    if completion.model:
        span.set_attribute("gen_ai.response.model", completion.model)
    if completion.finish_reason:
        span.set_attribute("gen_ai.response.finish_reasons", [completion.finish_reason])


def _fail_span(span: Any, error: BackendError) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("error.type", str(error.status) if error.status else type(error).__name__)
    span.set_status(Status(StatusCode.ERROR, redact(str(error))))
