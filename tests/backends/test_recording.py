"""The recording backend: a JSONL line per call, secrets redacted, and GenAI spans."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import BaseModel

from promptkit import Example, Prompt, Task, arun, compile_prompt, run
from promptkit.backends import Completion, GenerationParams, ScriptedBackend
from promptkit.backends.recording import RecordingBackend, redact, redact_url
from promptkit.errors import BackendError
from promptkit.jobs.packing import JobBackend
from promptkit.jobs.runner import JobOptions, run_job


class Colour(BaseModel):
    colour: str


TASK = Task(
    name="colour",
    instructions="Name the colour.",
    input_model="search",
    output_model=Colour,
    examples=[Example("red shirt", {"colour": "red"})],
)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_every_call_is_a_line_with_prompt_params_reply_usage_and_attempt() -> None:
    log = io.StringIO()
    inner = ScriptedBackend(
        ["not json", Completion('{"colour": "blue"}', prompt_tokens=30, completion_tokens=5)]
    )
    result = run(TASK, "blue hat", backend=RecordingBackend(inner, log=log))
    assert result.output == Colour(colour="blue")
    first, second = lines(log)
    assert (first["attempt"], second["attempt"]) == (1, 2)  # the re-ask is attempt 2
    assert first["backend"] == "scripted:scripted"
    assert first["model"] == "scripted"
    assert first["reply"] == "not json"
    assert second["reply"] == '{"colour": "blue"}'
    assert second["usage"] == {"prompt_tokens": 30, "completion_tokens": 5, "cached_tokens": 0}
    assert second["cache_hit"] is False
    assert second["error"] is None
    assert Prompt.from_dict(first["prompt"]) == inner.prompts[0]  # type: ignore[arg-type]
    assert first["params"]["max_tokens"] == inner.calls[0].params.max_tokens
    assert isinstance(first["latency"], float)
    assert str(first["time"]).endswith("+00:00")


def test_identical_requests_are_each_a_first_attempt_and_more_tokens_is_the_next() -> None:
    log = io.StringIO()
    backend = RecordingBackend(ScriptedBackend(["a", "b", "c"]), log=log)
    prompt = compile_prompt(TASK, "red hat")
    backend.complete(prompt, GenerationParams())
    backend.complete(prompt, GenerationParams())
    backend.complete(prompt, GenerationParams(max_tokens=1000))
    assert [line["attempt"] for line in lines(log)] == [1, 1, 2]


def test_a_failed_call_is_logged_with_its_error_and_raised() -> None:
    log = io.StringIO()
    error = BackendError("server said no", status=503, retryable=True)
    backend = RecordingBackend(ScriptedBackend([error]), log=log)
    with pytest.raises(BackendError, match="server said no"):
        backend.complete(compile_prompt(TASK, "x"), GenerationParams())
    (line,) = lines(log)
    assert line["error"] == {"type": "BackendError", "message": "server said no", "status": 503}
    assert line["reply"] is None


def test_secrets_are_redacted_from_the_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "ant-secret-value-42")
    log = io.StringIO()
    echo = (
        '{"colour": "red"} Authorization: Bearer tok_ABCDEFGH12345 '
        "sk-abcdefghijklmnop ant-secret-value-42"
    )
    backend = RecordingBackend(ScriptedBackend([echo, '{"colour": "red"}']), log=log)
    run(TASK, "red", backend=backend)
    text = log.getvalue()
    for secret in ("tok_ABCDEFGH12345", "sk-abcdefghijklmnop", "ant-secret-value-42"):
        assert secret not in text
    assert text.count("[redacted]") >= 3
    assert all(json.loads(line) for line in text.splitlines())  # still valid JSON


def test_redact_and_redact_url() -> None:
    assert redact("key sk-abcdefgh12345 ok", environ={}) == "key [redacted] ok"
    assert redact("x-api-key: abcdefgh123", environ={}) == "x-api-key: [redacted]"
    assert redact("short sk-1", environ={}) == "short sk-1"
    assert redact_url("http://127.0.0.1:8080/v1") == "http://127.0.0.1:8080/v1"
    assert redact_url("https://a:b@h/v1?key=1") == "https://a:[redacted]@h/v1?[redacted]"


def test_the_wrapper_is_invisible_to_the_response_cache() -> None:
    inner = ScriptedBackend([])
    wrapped = RecordingBackend(inner)
    assert JobBackend(wrapped).identity == JobBackend(inner).identity == "scripted:scripted"
    assert wrapped.name == inner.name
    assert wrapped.layout == inner.layout
    assert wrapped.remaining == 0  # anything else is the inner backend's


def test_async_calls_are_recorded_too() -> None:
    log = io.StringIO()
    backend = RecordingBackend(ScriptedBackend(['{"colour": "red"}']), log=log)
    result = asyncio.run(arun(TASK, "red", backend=backend))
    assert result.ok
    assert lines(log)[0]["reply"] == '{"colour": "red"}'


def test_a_file_job_logs_cache_hits(tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("red hat\nblue hat\n")
    cache = tmp_path / "cache.sqlite"
    log = tmp_path / "calls.jsonl"
    replies = ['{"colour": "red"}', '{"colour": "blue"}']
    for number in (1, 2):
        inner = ScriptedBackend(replies if number == 1 else [])
        with RecordingBackend(inner, log=log) as backend:
            summary = run_job(TASK, source, tmp_path / f"out{number}.jsonl", backend,
                              options=JobOptions(), cache_path=cache)  # fmt: skip
        assert summary.failed == 0
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["cache_hit"] for r in records] == [False, False, True, True]
    assert [r["reply"] for r in records[2:]] == replies
    assert records[2]["latency"] == 0.0


# -- OpenTelemetry ------------------------------------------------------------------------


@pytest.fixture
def spans() -> tuple[InMemorySpanExporter, object]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter, provider.get_tracer("test")


def test_a_span_per_call_with_the_genai_attributes(
    spans: tuple[InMemorySpanExporter, object],
) -> None:
    exporter, tracer = spans
    reply = Completion('{"colour": "red"}', "stop", 42, 7, model="scripted-2024")
    backend = RecordingBackend(ScriptedBackend([reply], model="tiny"), tracer=tracer)
    run(TASK, "red", backend=backend)
    (span,) = exporter.get_finished_spans()
    assert span.name == "chat tiny"
    assert span.kind is SpanKind.CLIENT
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "scripted"
    assert attributes["gen_ai.system"] == "scripted"
    assert attributes["gen_ai.request.model"] == "tiny"
    assert attributes["gen_ai.request.max_tokens"] > 0
    assert attributes["gen_ai.response.model"] == "scripted-2024"
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["gen_ai.usage.input_tokens"] == 42
    assert attributes["gen_ai.usage.output_tokens"] == 7
    assert attributes["promptkit.attempt"] == 1
    assert span.status.status_code is StatusCode.UNSET


def test_a_failed_call_is_an_error_span(spans: tuple[InMemorySpanExporter, object]) -> None:
    exporter, tracer = spans
    error = BackendError("bad gateway", status=502)
    backend = RecordingBackend(ScriptedBackend([error]), tracer=tracer)
    with pytest.raises(BackendError):
        backend.complete(compile_prompt(TASK, "x", layout="completion"), GenerationParams())
    (span,) = exporter.get_finished_spans()
    assert span.name.startswith("text_completion ")
    assert dict(span.attributes or {})["error.type"] == "502"
    assert span.status.status_code is StatusCode.ERROR
    assert "gen_ai.usage.input_tokens" not in (span.attributes or {})
