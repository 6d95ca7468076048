"""Provider batch jobs through the real openai and anthropic SDKs against a loopback server.

The SDKs' own default clients are used with ``base_url`` pointed at
:mod:`batch_server`, which implements the documented batch endpoints.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promptkit import load_task
from promptkit.backends.anthropic import AnthropicBackend
from promptkit.backends.openai import OpenAIBackend
from promptkit.errors import BackendError, JobFileError
from promptkit.jobs.batch_api import BatchOptions, BatchSummary, run_batch_job
from promptkit.jobs.batch_state import load_state, state_path
from promptkit.jobs.checkpoint import claim_output
from promptkit.jobs.progress import Price, Reporter
from promptkit.jobs.runner import JobOptions, run_job

sys.path.insert(0, str(Path(__file__).parent))
from batch_server import BatchServer, attributes, batch_server

TASK = load_task("apparel-search")
FAST = BatchOptions(poll=0.01, max_poll=0.05)
OPENAI_KEY = "sk-test-openai-0123456789"
ANTHROPIC_KEY = "sk-ant-test-0123456789"
SEARCHES = [f"{colour} {kind} {n}" for n in range(6) for colour, kind in
            [("red", "shirt"), ("blue", "hat"), ("plain", "socks")]]  # fmt: skip


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)


@pytest.fixture
def server() -> Iterator[BatchServer]:
    with batch_server() as running:
        yield running


def backend_for(provider: str, server: BatchServer) -> Any:
    if provider == "openai":
        return OpenAIBackend("fake-model", base_url=server.openai_url)
    return AnthropicBackend("claude-fake", base_url=server.url)


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def batch_job(
    server: BatchServer, tmp_path: Path, lines: list[str], provider: str = "openai", **kw: Any
) -> tuple[BatchSummary, list[dict[str, Any]]]:
    source = write(tmp_path / "in.txt", lines)
    out = kw.pop("out", tmp_path / "out.jsonl")
    options = kw.pop("options", JobOptions(batch_size=kw.pop("batch_size", 1)))
    summary = run_batch_job(
        TASK, source, out, backend_for(provider, server), options=options,
        batch=kw.pop("batch", FAST), layout="chat", shots=2, **kw,
    )  # fmt: skip
    return summary, records(out)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("size", [1, 4])
def test_every_input_once_with_the_records_a_normal_run_writes(
    server: BatchServer, tmp_path: Path, provider: str, size: int
) -> None:
    summary, got = batch_job(server, tmp_path, SEARCHES, provider, batch_size=size)
    assert [r["index"] for r in got] == list(range(len(SEARCHES)))
    assert len(server.batches) == 1
    assert server.requests_seen == -(-len(SEARCHES) // size)
    assert server.normal == []  # every reply came from the batch
    assert summary.replayed == server.requests_seen
    assert summary.list_price_calls == 0
    normal_out = tmp_path / "normal.jsonl"
    run_job(TASK, tmp_path / "in.txt", normal_out, backend_for(provider, server),
            options=JobOptions(batch_size=size), layout="chat", shots=2)  # fmt: skip
    assert got == records(normal_out)
    assert all(r["output"]["type"] == attributes(r["input"])["type"] for r in got)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_error_lines_refused_ones_fail_alone_the_rest_go_the_normal_path(
    server: BatchServer, tmp_path: Path, provider: str
) -> None:
    lines = ["red shirt", "blue hat ~refuse", "black dress ~expire", "white tee ~drop",
             "green cap ~server", "navy coat"]  # fmt: skip
    summary, got = batch_job(server, tmp_path, lines, provider)
    assert [r["index"] for r in got] == list(range(len(lines)))
    refused = got[1]
    assert refused["output"] is None
    assert refused["error"]["type"] == "BackendError"
    assert "HTTP 400" in refused["error"]["message"]
    for record in got[:1] + got[2:]:
        assert record["error"] is None
        assert record["output"]["type"] == attributes(record["input"])["type"]
    sent_again = [json.dumps(body) for body in server.normal]
    assert len(sent_again) == 3  # expired, missing and 5xx lines, at list price, once each
    for marker in ("~expire", "~drop", "~server"):
        assert sum(marker in body for body in sent_again) == 1
    assert summary.list_price_calls == 3
    assert summary.replayed == 2


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_key_a_server_echoes_reaches_no_record(
    server: BatchServer, tmp_path: Path, provider: str
) -> None:
    _, got = batch_job(server, tmp_path, ["red shirt", "navy coat ~echo"], provider)
    message = got[1]["error"]["message"]
    assert "you sent" in message
    assert "[redacted]" in message
    text = (tmp_path / "out.jsonl").read_text() + state_path(tmp_path / "out.jsonl").read_text()
    assert OPENAI_KEY not in text
    assert ANTHROPIC_KEY not in text


def test_large_inputs_are_split_into_batches_within_the_limits(
    server: BatchServer, tmp_path: Path
) -> None:
    summary, got = batch_job(server, tmp_path, SEARCHES, batch=BatchOptions(0.01, 0.05, 4))
    assert [r["index"] for r in got] == list(range(len(SEARCHES)))
    assert [len(b.requests) for b in server.batches.values()] == [4, 4, 4, 4, 2]
    assert summary.batches == 5
    assert summary.requests == len(SEARCHES)
    state = load_state(state_path(tmp_path / "out.jsonl"))
    assert state is not None
    assert [(b.first, b.last) for b in state.batches] == [(0, 3), (4, 7), (8, 11), (12, 15),
                                                          (16, 17)]  # fmt: skip
    assert all(b.written for b in state.batches)


def test_the_byte_limit_splits_too(server: BatchServer, tmp_path: Path) -> None:
    whole = batch_job(server, tmp_path, SEARCHES)[0].uploaded_bytes
    limit = whole * 7 // (2 * len(SEARCHES))  # room for three and a half requests
    summary, got = batch_job(server, tmp_path, SEARCHES, out=tmp_path / "split.jsonl",
                             batch=BatchOptions(0.01, 0.05, max_bytes=limit))  # fmt: skip
    assert [r["index"] for r in got] == list(range(len(SEARCHES)))
    sizes = [len(b.requests) for b in list(server.batches.values())[1:]]
    assert sizes == [3] * 6
    assert summary.uploaded_bytes == whole


def test_duplicates_and_bad_rows_cost_no_request(server: BatchServer, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"search": "red shirt"}\n{"search": "red shirt"}\n[1]\n{"search": "hat"}\n')
    out = tmp_path / "out.jsonl"
    run_batch_job(TASK, source, out, backend_for("openai", server), batch=FAST, layout="chat")
    got = records(out)
    assert [r["index"] for r in got] == [0, 1, 2, 3]
    assert server.requests_seen == 2
    assert got[1]["output"] == got[0]["output"]
    assert got[1]["attempts"] == 0
    assert got[2]["error"]["type"] == "InputError"


def test_a_run_killed_while_polling_resumes_on_the_same_batch(
    server: BatchServer, tmp_path: Path
) -> None:
    server.hold = True
    polled = []

    def interrupt(line: str) -> None:
        polled.append(line)
        if "in_progress" in line:
            raise KeyboardInterrupt  # as Ctrl-C, or a kill, while the batch runs

    with pytest.raises(KeyboardInterrupt):
        batch_job(server, tmp_path, SEARCHES, notify=interrupt)
    assert (tmp_path / "out.jsonl").read_text(encoding="utf-8") == ""  # locked, nothing written
    with pytest.raises(JobFileError, match="--resume"):  # never a second batch by accident
        batch_job(server, tmp_path, SEARCHES)
    server.hold = False
    summary, got = batch_job(server, tmp_path, SEARCHES, options=JobOptions(resume=True))
    assert [r["index"] for r in got] == list(range(len(SEARCHES)))
    assert server.calls["POST /v1/batches"] == 1
    assert server.calls["POST /v1/files"] == 1
    assert summary.batches == 1
    assert server.normal == []


class _KilledAfter(Reporter):
    def __init__(self, records: int) -> None:
        super().__init__()
        self.left = records

    def advance(self, done: int, failed: int, tokens: int) -> None:
        self.left -= done
        if self.left <= 0:
            raise KeyboardInterrupt


def test_a_batch_half_written_is_written_again_whole(server: BatchServer, tmp_path: Path) -> None:
    options = JobOptions(batch_size=2)
    batch = BatchOptions(0.01, 0.05, max_requests=3)
    with pytest.raises(KeyboardInterrupt):
        batch_job(server, tmp_path, SEARCHES, options=options, batch=batch,
                  reporter=_KilledAfter(8))  # fmt: skip
    written = records(tmp_path / "out.jsonl")
    assert 6 <= len(written) < len(SEARCHES)
    resumed = JobOptions(batch_size=2, resume=True)
    _, got = batch_job(server, tmp_path, SEARCHES, options=resumed, batch=batch)
    assert [r["index"] for r in got] == list(range(len(SEARCHES)))
    assert got[: len(written)] == written
    assert server.requests_seen == len(SEARCHES) // 2
    assert server.normal == []


def test_resuming_with_other_options_is_refused(server: BatchServer, tmp_path: Path) -> None:
    server.hold = True
    with pytest.raises(KeyboardInterrupt):
        batch_job(server, tmp_path, SEARCHES, notify=_interrupt_when("in_progress"))
    with pytest.raises(JobFileError, match="options the run started with"):
        batch_job(server, tmp_path, SEARCHES, options=JobOptions(batch_size=4, resume=True))


def test_an_output_another_run_is_writing_is_refused_before_any_batch(
    server: BatchServer, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    torn = '{"index": 0, "input": "red shirt 0"'  # a record the other run is writing
    with claim_output(out, TASK, resume=False) as (other, _):
        other.write(torn)
        other.flush()
        with pytest.raises(JobFileError, match="being written by another promptkit run"):
            batch_job(server, tmp_path, SEARCHES, options=JobOptions(resume=True), out=out)
    assert server.batches == {}
    assert not state_path(out).exists()
    assert out.read_text(encoding="utf-8") == torn  # not cut as a torn record of this run


def _interrupt_when(word: str) -> Any:
    def notify(line: str) -> None:
        if word in line:
            raise KeyboardInterrupt

    return notify


def test_cached_replies_are_not_sent_again(server: BatchServer, tmp_path: Path) -> None:
    cache = tmp_path / "cache.sqlite"
    batch_job(server, tmp_path, SEARCHES, cache_path=cache)
    summary, got = batch_job(server, tmp_path, SEARCHES, cache_path=cache,
                             out=tmp_path / "again.jsonl")  # fmt: skip
    assert len(server.batches) == 1
    assert summary.batches == 0
    assert summary.job.cached == len(SEARCHES)
    first = records(tmp_path / "out.jsonl")
    assert [{**r, "usage": None} for r in got] == [{**r, "usage": None} for r in first]
    assert all(r["usage"]["prompt_tokens"] == 0 for r in got)  # cached: no tokens spent


def test_a_batch_that_fails_whole_stops_the_job_and_says_why(
    server: BatchServer, tmp_path: Path
) -> None:
    server.fail_validation = True
    with pytest.raises(BackendError, match="failed as a whole: invalid_model: no such model"):
        batch_job(server, tmp_path, SEARCHES)
    assert server.normal == []


def test_the_cost_is_at_batch_prices(server: BatchServer, tmp_path: Path) -> None:
    price = Price(prompt=1.0, completion=4.0)
    lines = ["red shirt", "blue hat ~expire"]
    summary, got = batch_job(server, tmp_path, lines, price=price)
    batch_record, normal_record = (r["usage"] for r in got)
    full = [(u["prompt_tokens"] * 1.0 + u["completion_tokens"] * 4.0) / 1e6
            for u in (batch_record, normal_record)]  # fmt: skip
    assert summary.job.cost == pytest.approx(0.5 * full[0] + full[1])


def test_backends_without_a_batch_api_are_refused(tmp_path: Path) -> None:
    from promptkit.backends import ScriptedBackend

    source = write(tmp_path / "in.txt", ["red shirt"])
    with pytest.raises(ValueError, match="openai and anthropic"):
        run_batch_job(TASK, source, tmp_path / "out.jsonl", ScriptedBackend([]))
