"""--log for run and eval, and OpenTelemetry spans when a tracer provider is set."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import FakeOpenAI

from promptkit.cli import main


def openai_args(server: FakeOpenAI) -> list[str]:
    return ["--backend", "openai", "--model", "m", "--base-url", server.url]


def read_log(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_run_logs_every_request_with_the_key_redacted(
    fake_openai: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "calls.jsonl"
    args = ["run", "apparel-search", *openai_args(fake_openai), "-i", "red shirt", "-i", "hat"]
    assert main([*args, "--log", str(log)]) == 0
    capsys.readouterr()
    records = read_log(log)
    assert len(records) == len(fake_openai.requests) == 2
    assert [r["backend"] for r in records] == ["openai:m", "openai:m"]
    assert records[0]["reply"] == '{"colour": "red", "type": "shirt"}'
    assert records[0]["usage"] == {"prompt_tokens": 100, "completion_tokens": 10,
                                   "cached_tokens": 0}  # fmt: skip
    assert {r["attempt"] for r in records} == {1}
    assert "sk-test-0123456789abcdef" not in log.read_text()
    # Appending: a second run adds its lines.
    assert main([*args, "--log", str(log)]) == 0
    assert len(read_log(log)) == 4


def test_eval_logs_every_request(
    fake_openai: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "eval.jsonl"
    args = ["eval", "apparel-search", *openai_args(fake_openai), "--cross-validate",
            "--limit", "2", "--shots", "0,1", "--json", "--log", str(log)]  # fmt: skip
    assert main(args) == 0
    capsys.readouterr()
    records = read_log(log)
    assert len(records) == len(fake_openai.requests) == 4
    assert all(r["error"] is None and r["cache_hit"] is False for r in records)


def test_a_file_job_logs_cache_hits(
    fake_openai: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.txt"
    source.write_text("red shirt\nblue hat\n")
    log = tmp_path / "calls.jsonl"
    for number in (1, 2):
        args = ["run", "apparel-search", *openai_args(fake_openai), "--input-file", str(source),
                "-o", str(tmp_path / f"out{number}.jsonl"), "--cache", str(tmp_path / "c.sqlite"),
                "--log", str(log)]  # fmt: skip
        assert main(args) == 0
    summary = capsys.readouterr().err
    assert len(fake_openai.requests) == 2  # the second run came from the cache
    assert [r["cache_hit"] for r in read_log(log)] == [False, False, True, True]
    # The second summary spends no tokens on cached replies.
    second = summary[summary.rindex("promptkit run") :]
    assert "replies from the cache" in second
    spent = [line.split()[-2] for line in second.splitlines() if "tokens spent" in line]
    assert spent == ["0", "0"], second


def test_an_unwritable_log_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fake_openai: FakeOpenAI
) -> None:
    args = ["run", "apparel-search", *openai_args(fake_openai), "-i", "x"]
    assert main([*args, "--log", str(tmp_path / "missing" / "log.jsonl")]) == 2
    assert "Invalid value for --log: cannot write" in capsys.readouterr().err


def test_spans_reach_a_configured_tracer_provider(fake_openai: FakeOpenAI) -> None:
    script = textwrap.dedent(
        f"""
        import json, sys
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from promptkit.cli import main

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        code = main(["run", "apparel-search", "--backend", "openai", "--model", "m",
                     "--base-url", {fake_openai.url!r}, "-i", "red shirt"])
        spans = [{{"name": s.name, "attributes": dict(s.attributes)}}
                 for s in exporter.get_finished_spans()]
        print(json.dumps({{"code": code, "spans": spans}}, default=list), file=sys.stderr)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, check=False)  # fmt: skip
    report = json.loads(result.stderr.strip().splitlines()[-1])
    assert report["code"] == 0, result.stderr
    (span,) = report["spans"]
    assert span["name"] == "chat m"
    attributes = span["attributes"]
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.model"] == "m"
    assert attributes["gen_ai.usage.input_tokens"] == 100
    assert attributes["gen_ai.usage.output_tokens"] == 10
    assert attributes["gen_ai.response.finish_reasons"] == ["stop"]
