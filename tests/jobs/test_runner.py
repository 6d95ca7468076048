"""Batch runs: scheduling, order, duplicates, resume, the cached and limited backend."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from pydantic import BaseModel

from promptkit import Task, compile_prompt
from promptkit.backends.base import Completion, GenerationParams
from promptkit.backends.scripted import ScriptedBackend
from promptkit.errors import BackendError, JobFileError
from promptkit.jobs.cache import ResponseCache
from promptkit.jobs.limits import RateLimiter
from promptkit.jobs.packing import JobBackend, Outcome, job_backend
from promptkit.jobs.progress import Price
from promptkit.jobs.runner import JobOptions, run_file
from promptkit.jobs.workers import abandoned


class Out(BaseModel):
    colour: str | None = None


TASK = Task("echo-colour", "Say the colour.", "search", Out)


class EchoSolver:
    """A solve function that records its batches; inputs starting with 'bad' fail."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.batches: list[list[str]] = []
        self.fail_on = fail_on
        self._lock = threading.Lock()

    def __call__(self, values: Sequence[BaseModel]) -> list[Outcome]:
        searches = [str(value.model_dump()["search"]) for value in values]
        with self._lock:
            self.batches.append(searches)
        if self.fail_on in searches:
            raise BackendError("provider down", status=503, retryable=True)
        return [
            Outcome(None, {"type": "OutputError", "message": "no", "raw": "?"}, 2, usage(5, 1))
            if search.startswith("bad")
            else Outcome({"colour": search.upper()}, None, 1, usage(10, 2))
            for search in searches
        ]


def usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cached_tokens": 0,
        "calls": 1,
    }


def records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write_inputs(tmp_path: Path, lines: Sequence[str]) -> Path:
    path = tmp_path / "in.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_every_input_once_in_order_with_failures_and_duplicates(tmp_path: Path) -> None:
    lines = [f"s{i}" for i in range(30)]
    lines[5] = lines[6] = "dup"
    lines[9] = "bad one"
    lines.insert(12, "")
    source = write_inputs(tmp_path, lines)
    solver = EchoSolver()
    out = tmp_path / "out.jsonl"
    summary = run_file(TASK, source, out, solver, options=JobOptions(batch_size=4, concurrency=3))
    got = records(out)
    assert [r["index"] for r in got] == list(range(30))
    assert got[6] == {
        **got[5],
        "index": 6,
        "attempts": 0,
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "cached_tokens": 0, "calls": 0},
    }
    assert got[9]["output"] is None
    assert got[9]["error"] == {"type": "OutputError", "message": "no", "raw": "?"}
    sent = [search for batch in solver.batches for search in batch]
    assert sorted(sent) == sorted(set(lines) - {""})  # the duplicate was sent once
    assert all(1 <= len(batch) <= 4 for batch in solver.batches)
    assert (summary.items, summary.succeeded, summary.failed) == (30, 29, 1)
    assert summary.prompt_tokens == 28 * 10 + 5


def test_an_unreadable_input_is_a_failed_record_and_costs_no_call(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"search": "red"}\n{broken\n{"search": "blue"}\n', encoding="utf-8")
    solver = EchoSolver()
    out = tmp_path / "out.jsonl"
    summary = run_file(TASK, source, out, solver, options=JobOptions(batch_size=8))
    got = records(out)
    assert [r["index"] for r in got] == [0, 1, 2]
    assert got[1]["error"] is not None
    assert got[1]["error"]["type"] == "InputError"  # type: ignore[index]
    assert got[1]["input"] == "{broken"
    assert solver.batches == [["red", "blue"]]
    assert summary.failed == 1


def test_csv_output_has_one_row_per_input(tmp_path: Path) -> None:
    source = write_inputs(tmp_path, ["red", "bad", "blue"])
    out = tmp_path / "out.csv"
    run_file(TASK, source, out, EchoSolver(), options=JobOptions(batch_size=2))
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("index,search,colour,error_type")
    assert lines[1] == "0,red,RED,,,,1,10,2"
    assert lines[2] == "1,bad,,OutputError,no,?,2,5,1"


def test_a_backend_failure_stops_the_run_and_resume_finishes_it(tmp_path: Path) -> None:
    source = write_inputs(tmp_path, [f"s{i}" for i in range(20)])
    out = tmp_path / "out.jsonl"
    with pytest.raises(BackendError, match="provider down"):
        run_file(TASK, source, out, EchoSolver(fail_on="s9"), options=JobOptions(batch_size=3))
    before = [r["index"] for r in records(out)]
    assert before == list(range(len(before)))
    assert len(before) <= 9
    solver = EchoSolver()
    summary = run_file(TASK, source, out, solver, options=JobOptions(batch_size=3, resume=True))
    assert [r["index"] for r in records(out)] == list(range(20))
    assert sorted(s for b in solver.batches for s in b) == sorted(
        f"s{i}" for i in range(len(before), 20)
    )
    assert (summary.items, summary.resumed) == (20, len(before))


def test_resume_redoes_a_torn_line_and_counts_earlier_failures(tmp_path: Path) -> None:
    source = write_inputs(tmp_path, ["bad", "a", "b", "c"])
    out = tmp_path / "out.jsonl"
    run_file(TASK, source, out, EchoSolver())
    whole = out.read_text(encoding="utf-8").splitlines(keepends=True)
    out.write_text("".join(whole[:2]) + whole[2][:15], encoding="utf-8")
    solver = EchoSolver()
    summary = run_file(TASK, source, out, solver, options=JobOptions(resume=True))
    assert solver.batches == [["b"], ["c"]]
    assert out.read_text(encoding="utf-8").splitlines(keepends=True) == whole
    assert (summary.items, summary.failed, summary.resumed) == (4, 1, 2)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_resume_refuses_an_output_written_from_other_inputs(tmp_path: Path, suffix: str) -> None:
    lines = ["red", "bad", '{"search": 5}', "dup", "dup", "s5", "s6"]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(f'{{"search": "{line}"}}\n' for line in lines[:2])
                      + lines[2] + "\n"
                      + "".join(f'{{"search": "{line}"}}\n' for line in lines[3:]),
                      encoding="utf-8")  # fmt: skip
    out = tmp_path / f"out{suffix}"
    with pytest.raises(BackendError):
        run_file(TASK, source, out, EchoSolver(fail_on="s5"), options=JobOptions(batch_size=1))
    written = out.read_bytes()
    changed = source.read_text(encoding="utf-8").replace('"dup"', '"blue"', 1)
    other = tmp_path / "other.jsonl"
    other.write_text(changed, encoding="utf-8")
    with pytest.raises(JobFileError, match="other inputs than this input file"):
        run_file(TASK, other, out, EchoSolver(), options=JobOptions(resume=True))
    shorter = tmp_path / "shorter.jsonl"
    shorter.write_text("".join(source.read_text(encoding="utf-8").splitlines(True)[:2]))
    with pytest.raises(JobFileError, match="only 2 of their lines"):
        run_file(TASK, shorter, out, EchoSolver(), options=JobOptions(resume=True))
    assert out.read_bytes() == written  # refused before anything was written
    # The input the run started from (an unreadable row and a duplicate among it) resumes.
    summary = run_file(TASK, source, out, EchoSolver(), options=JobOptions(resume=True))
    assert (summary.items, summary.resumed) == (7, 5)


def test_an_existing_output_needs_resume(tmp_path: Path) -> None:
    source = write_inputs(tmp_path, ["a"])
    out = tmp_path / "out.jsonl"
    run_file(TASK, source, out, EchoSolver())
    with pytest.raises(ValueError, match="pass --resume"):
        run_file(TASK, source, out, EchoSolver())


def test_cached_backend_answers_a_repeated_request_without_a_call(tmp_path: Path) -> None:
    prompt = compile_prompt(TASK, "red")
    params = GenerationParams()
    scripted = ScriptedBackend([Completion('{"colour": "red"}', "stop", 7, 3)])
    with job_backend(scripted, cache_path=tmp_path / "c.sqlite") as backend:
        first = backend.complete(prompt, params)
    with job_backend(scripted, cache_path=tmp_path / "c.sqlite") as backend:
        second = backend.complete(prompt, params)
        assert (backend.calls, backend.cache_hits) == (0, 1)
    assert second == dataclasses.replace(first, prompt_tokens=0, completion_tokens=0)  # free
    assert len(scripted.calls) == 1
    with pytest.raises(BackendError, match="no reply left"):
        JobBackend(scripted).complete(prompt, params)  # no cache: a real call


def test_cache_keys_on_parameters(tmp_path: Path) -> None:
    prompt = compile_prompt(TASK, "red")
    scripted = ScriptedBackend(["{}", "{}"])
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        backend = JobBackend(scripted, cache)
        backend.complete(prompt, GenerationParams(temperature=0))
        backend.complete(prompt, GenerationParams(temperature=0.7))
        backend.complete(prompt, GenerationParams(temperature=0))
    assert len(scripted.calls) == 2


def test_retry_after_beyond_the_backends_own_retries_pauses_and_retries() -> None:
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(rpm=60, clock=lambda: now[0], sleep=sleep)
    scripted = ScriptedBackend(
        [BackendError("429", status=429, retryable=True, retry_after=30), "{}"]
    )
    backend = JobBackend(scripted, limiter=limiter)
    completion = backend.complete(compile_prompt(TASK, "x"), GenerationParams())
    assert completion.text == "{}"
    assert sleeps == [30]
    assert backend.calls == 2


def test_summary_cost_uses_the_tokens_really_spent(tmp_path: Path) -> None:
    source = write_inputs(tmp_path, ["a", "b"])
    scripted = ScriptedBackend([Completion("{}", "stop", 1000, 500)] * 2)
    with job_backend(scripted, cache_path=None) as backend:

        def solve(values: Sequence[BaseModel]) -> list[Outcome]:
            outcomes = []
            for value in values:
                done = backend.complete(compile_prompt(TASK, value), GenerationParams())
                outcomes.append(
                    Outcome({}, None, 1, usage(done.prompt_tokens, done.completion_tokens))
                )
            return outcomes

        summary = run_file(
            TASK, source, tmp_path / "o.jsonl", solve, backend=backend, price=Price(2.0, 10.0)
        )
    assert summary.calls == 2
    assert summary.cost == pytest.approx((2000 * 2.0 + 1000 * 10.0) / 1e6)


def test_cache_keys_on_the_backends_own_description(tmp_path: Path) -> None:
    from promptkit.backends.openai import OpenAIBackend

    one = JobBackend(OpenAIBackend("m", base_url="http://127.0.0.1:1/v1"))
    other = JobBackend(OpenAIBackend("m", base_url="http://127.0.0.1:2/v1"))
    assert one.identity != other.identity
    assert "127.0.0.1:1" in one.identity
    assert JobBackend(ScriptedBackend()).identity == "scripted:scripted"


class StallingSolver:
    """Batches holding 'hang' block until released; 'fatal' fails; 'interrupt' sends Ctrl-C."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.release = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, values: Sequence[BaseModel]) -> list[Outcome]:
        searches = [str(value.model_dump()["search"]) for value in values]
        with self._lock:
            self.started += searches
        if "interrupt" in searches:
            os.kill(os.getpid(), signal.SIGINT)
        if "hang" in searches or "interrupt" in searches:
            self.release.wait(60)  # released by the test, after the run has returned
        if "fatal" in searches:
            raise BackendError("openai returned HTTP 401: bad key", status=401)
        return [Outcome({"colour": s.upper()}, None, 1, usage(10, 2)) for s in searches]


def test_a_fatal_error_stops_the_run_without_waiting_for_calls_in_flight(tmp_path: Path) -> None:
    lines = ["a", "hang", "fatal", *(f"s{i}" for i in range(20))]
    source = write_inputs(tmp_path, lines)
    out = tmp_path / "out.jsonl"
    solver = StallingSolver()
    try:
        with pytest.raises(BackendError, match="bad key"):
            run_file(TASK, source, out, solver, options=JobOptions(concurrency=2))
        assert not solver.release.is_set()  # returned while "hang" was still in flight
        assert abandoned()  # its thread is left to end with the process
        assert sorted(solver.started) == ["a", "fatal", "hang"]  # nothing queued was started
    finally:
        solver.release.set()
    assert [r["input"] for r in records(out)] == ["a"]
    summary = run_file(TASK, source, out, EchoSolver(), options=JobOptions(resume=True))
    assert [r["index"] for r in records(out)] == list(range(len(lines)))
    assert (summary.items, summary.resumed) == (len(lines), 1)


def test_ctrl_c_stops_the_run_at_once_keeping_what_finished(tmp_path: Path) -> None:
    lines = ["a", "b", "interrupt", *(f"s{i}" for i in range(10))]
    source = write_inputs(tmp_path, lines)
    out = tmp_path / "out.jsonl"
    solver = StallingSolver()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_file(TASK, source, out, solver, options=JobOptions(batch_size=2))
        assert not solver.release.is_set()
        assert solver.started == ["a", "b", "interrupt", "s0"]  # the batch in flight, no more
    finally:
        solver.release.set()
    assert [r["input"] for r in records(out)] == ["a", "b"]
    run_file(TASK, source, out, EchoSolver(), options=JobOptions(batch_size=2, resume=True))
    assert [r["index"] for r in records(out)] == list(range(len(lines)))


def test_secrets_in_errors_never_reach_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTKIT_GATEWAY_TOKEN", "tok-2f9a8c7d")
    echoed = "HTTP 401: {'authorization': 'Bearer abc.def-123', 'x-token': 'tok-2f9a8c7d'}"

    def solve(values: Sequence[BaseModel]) -> list[Outcome]:
        error = {"type": "BackendError", "message": echoed, "raw": "sk-proj-abcdef123456"}
        return [Outcome(None, error, 1, usage(0, 0)) for _ in values]

    out = tmp_path / "out.jsonl"
    run_file(TASK, write_inputs(tmp_path, ["a"]), out, solve)
    text = out.read_text(encoding="utf-8")
    for secret in ("abc.def-123", "tok-2f9a8c7d", "sk-proj-abcdef123456"):
        assert secret not in text
    (record,) = records(out)
    assert record["error"]["message"] == (  # type: ignore[index]
        "HTTP 401: {'authorization': 'Bearer [redacted]', 'x-token': '[redacted]'}"
    )


def test_the_backend_wrapper_redacts_its_errors_and_keeps_their_fields() -> None:
    failing = BackendError(
        "HTTP 503: echo x-api-key: key-given-to-client", status=503, retryable=True
    )
    backend = JobBackend(ScriptedBackend([failing]), stop=threading.Event())
    with pytest.raises(BackendError) as raised:
        backend.complete(compile_prompt(TASK, "x"), GenerationParams())
    assert str(raised.value) == "HTTP 503: echo x-api-key: [redacted]"
    assert (raised.value.status, raised.value.retryable) == (503, True)


def test_a_rerun_from_the_cache_spends_no_tokens_and_counts_its_items_as_cached(
    tmp_path: Path,
) -> None:
    from promptkit.jobs.runner import run_job

    source = write_inputs(tmp_path, ["red", "blue", "green"])
    replies = [Completion(json.dumps({"colour": c}), "stop", 40, 5) for c in ("red", "blue")]
    replies.append(Completion(json.dumps({"colour": "green"}), "stop", 40, 5))
    backend = ScriptedBackend(replies)
    cache = tmp_path / "c.sqlite"
    first = run_job(TASK, source, tmp_path / "a.jsonl", backend, cache_path=cache)
    again = run_job(TASK, source, tmp_path / "b.jsonl", backend, cache_path=cache)
    assert (first.calls, first.cached, first.prompt_tokens) == (3, 0, 120)
    assert (again.calls, again.cached, again.prompt_tokens, again.completion_tokens) == (
        0,
        3,
        0,
        0,
    )
