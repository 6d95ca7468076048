"""The fault matrix: `promptkit run` as a real subprocess against a misbehaving loopback server.

A threaded fake of the OpenAI chat API answers each search from its words
(colour: the first word when it is a colour; type: the last word), for one
search or a numbered batch, and re-asks too. A fault is injected into the
first requests (a transient one) or into all of them (a permanent one), or
only into requests holding a marked search (a poison input). Each case runs
40 searches with ``--batch-size 8 --concurrency 4`` (5 prompts when nothing
goes wrong) and checks every input exactly once in the output, how many
requests each search cost, the exit code, and that ``--resume`` completes.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from promptkit import compile_prompt, load_task
from promptkit.backends import GenerationParams, RetryPolicy
from promptkit.backends.openai import OpenAIBackend
from promptkit.errors import BackendError

pytestmark = pytest.mark.integration

KEY = "sk-faultmatrix-0123456789abcdef"
COLOURS = ("red", "blue", "black", "white", "green")
TYPES = ("tee", "dress", "hat", "jeans")
SEARCHES = [f"{COLOURS[i % 5]} item{i} {TYPES[i % 4]}" for i in range(40)]
PROMPTS = 5  # 40 searches in batches of 8
RETRIES = 2  # --max-retries: a permanent failure costs 3 requests per prompt
_ITEM = re.compile(r'^(\d+)\. (".*")$', re.MULTILINE)
_SINGLE = re.compile(r'^Search: (".*")$', re.MULTILINE)


def attributes(search: str) -> dict[str, Any]:
    words = search.split()
    found: dict[str, Any] = {"type": words[-1]}
    if words[0] in COLOURS:
        found["colour"] = words[0]
    return found


def expected_output(search: str) -> dict[str, Any]:
    return {"colour": None, "sleeve": None, "type": None, "neck": None, **attributes(search)}


def searches_of(body: dict[str, Any]) -> tuple[list[tuple[int, str]], str | None]:
    """The numbered searches of a request (from its last user turn holding any), or its one."""
    for message in reversed(body["messages"]):
        if message["role"] != "user":
            continue
        items = [(int(n), json.loads(s)) for n, s in _ITEM.findall(message["content"])]
        single = _SINGLE.search(message["content"])
        if items or single:
            return items, json.loads(single[1]) if single and not items else None
    return [], None


@dataclass
class Fault:
    """What to break: ``kind`` for the first ``first`` requests (all when None), or only for
    requests holding a search that contains ``only`` (``otherwise`` for the rest)."""

    kind: str | None = None
    first: int | None = None
    only: str | None = None
    otherwise: str | None = None


@dataclass
class State:
    fault: Fault = field(default_factory=Fault)
    requests: int = 0
    sent: Counter[str] = field(default_factory=Counter)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, searches: list[str]) -> str | None:
        """Count a request; return the fault it gets, if any."""
        with self.lock:
            self.requests += 1
            self.sent.update(searches)
            fault = self.fault
            if fault.kind is None:
                return None
            if fault.only is not None:
                held = any(fault.only in search for search in searches)
                return fault.kind if held else fault.otherwise
            if fault.first is None or self.requests <= fault.first:
                return fault.kind
            return None


class Handler(BaseHTTPRequestHandler):
    server: FaultServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        items, single = searches_of(body)
        searches = [s for _, s in items] or ([single] if single else [])
        fault = self.server.state.admit(searches)
        if fault in _BREAKS:
            _BREAKS[fault](self)
            return
        reply = _reply(items, single, fault)
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": reply},
            "finish_reason": "stop",
        }
        if fault == "cut":
            choice.update(finish_reason="length")
            choice["message"]["content"] = reply[: len(reply) // 2]
        if fault == "content-null":
            choice["message"]["content"] = None
        payload = {
            "id": "x",
            "object": "chat.completion",
            "model": body["model"],
            "choices": [] if fault == "empty-choices" else [choice],
            "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
        }
        data = json.dumps(payload).encode()
        if fault == "truncated-body":
            data = data[: len(data) // 2]
        self.send(200, data)

    def send(
        self, status: int, data: bytes, kind: str = "application/json", **headers: str
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(data)


def _reply(items: list[tuple[int, str]], single: str | None, fault: str | None) -> str:
    if not items:
        return json.dumps(attributes(single or ""))
    entries = [{"id": number, **attributes(search)} for number, search in items]
    if fault == "wrong-ids":
        entries = [{**entry, "id": entry["id"] + 100} for entry in entries]
    elif fault == "missing-ids":
        entries = [entry for entry in entries if entry["id"] not in (2, 5)]
    elif fault == "duplicate-ids":
        entries.insert(1, {**entries[0], "type": "other"})
    return json.dumps(entries)


def _error(status: int, message: str) -> Any:
    def send(handler: Handler) -> None:
        data = json.dumps({"error": {"message": message, "type": "fault"}}).encode()
        headers = {"Retry_After": "1"} if status == 429 else {}
        handler.send(status, data, **headers)

    return send


def _reset(handler: Handler) -> None:
    # Close with RST instead of FIN: the client sees a reset connection.
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.connection.close()
    handler.close_connection = True


def _close_mid_body(handler: Handler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", "400")
    handler.end_headers()
    handler.wfile.write(b'{"id": "x", "choices": [{"index": 0, "message": ')
    handler.wfile.flush()
    handler.connection.shutdown(socket.SHUT_RDWR)
    handler.close_connection = True


def _stall(handler: Handler) -> None:
    handler.server.state.release.wait(60)  # released at teardown: far past any timeout
    handler.close_connection = True


def _html(status: int) -> Any:
    def send(handler: Handler) -> None:
        page = b"<html><body><h1>Bad Gateway</h1><p>nginx</p></body></html>"
        handler.send(status, page, "text/html")

    return send


def _echo(status: int) -> Any:
    def send(handler: Handler) -> None:
        echoed = {"error": {"message": f"rejected; you sent {dict(handler.headers)}"}}
        handler.send(status, json.dumps(echoed).encode())

    return send


_BREAKS = {
    "429": _error(429, "rate limited"),
    "500": _error(500, "server trouble"),
    "503": _error(503, "overloaded"),
    "400": _error(400, "This model's maximum context length is 8 tokens"),
    "reset": _reset,
    "close-mid-body": _close_mid_body,
    "stall": _stall,
    "html-502": _html(502),
    "html-200": _html(200),
    "echo-401": _echo(401),
    "echo-400": _echo(400),
}


class FaultServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.state = State()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def heal(self) -> None:
        with self.state.lock:
            self.state.fault = Fault()


@pytest.fixture
def server() -> Iterator[FaultServer]:
    served = FaultServer()
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield served
    served.state.release.set()
    served.shutdown()
    served.server_close()
    thread.join(5)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "in.txt"
    path.write_text("\n".join(SEARCHES) + "\n", encoding="utf-8")
    return path


def command(server: FaultServer, source: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "promptkit", "run", "apparel-search",
        "--input-file", str(source), "--output", str(out),
        "--backend", "openai", "--base-url", server.url, "--model", "fake",
        "--layout", "chat", "--shots", "0", "--batch-size", "8", "--concurrency", "4",
        "--no-cache", "--max-retries", str(RETRIES), "--timeout", "10", *extra,
    ]  # fmt: skip


ENV = {**os.environ, "OPENAI_API_KEY": KEY}


def promptkit(
    server: FaultServer, source: Path, out: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(server, source, out, *extra),
        capture_output=True, text=True, timeout=120, check=False, env=ENV,
    )  # fmt: skip


def records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def assert_complete(out: Path, *, failed: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Every input exactly once, in order; outputs right except for the ``failed`` searches."""
    got = records(out)
    assert [r["index"] for r in got] == list(range(len(SEARCHES)))
    for record in got:
        search = SEARCHES[record["index"]]
        assert record["input"] == search
        if search in failed:
            assert record["output"] is None
        else:
            assert record["output"] == expected_output(search), record
    return got


def summary_calls(stderr: str) -> int:
    found = re.search(r"backend calls\s*[│|]\s*(\d+)", stderr)
    assert found, stderr
    return int(found[1])


def assert_resume_completes(server: FaultServer, source: Path, out: Path, code: int = 0) -> None:
    server.heal()
    resumed = promptkit(server, source, out, "--resume")
    assert resumed.returncode == code, resumed.stderr
    assert "Traceback" not in resumed.stderr


def classified_retryable(server: FaultServer, kind: str) -> bool:
    """Whether the backend takes this reply for a passing fault (the backend's call to make)."""
    server.state.fault = Fault(kind)
    backend = OpenAIBackend("fake", base_url=server.url, retry=RetryPolicy(max_retries=0))
    task = load_task("apparel-search")
    try:
        backend.complete(compile_prompt(task, "red tee", layout="chat"), GenerationParams())
    except BackendError as error:
        return error.retryable
    finally:
        server.state.fault = Fault()
        server.state.requests = 0
        server.state.sent.clear()
    pytest.fail(f"a {kind} reply was read as a completion")


# -- transient faults: the backend retries, the run completes ------------------------------

TRANSIENT = ["429", "500", "503", "reset", "close-mid-body", "stall", "html-502"]


@pytest.mark.parametrize("kind", TRANSIENT)
def test_a_passing_fault_costs_one_more_request_each_time(
    server: FaultServer, source: Path, tmp_path: Path, kind: str
) -> None:
    server.state.fault = Fault(kind, first=2)
    out = tmp_path / "out.jsonl"
    extra = ("--timeout", "1") if kind == "stall" else ()
    result = promptkit(server, source, out, *extra)
    assert result.returncode == 0, result.stderr
    assert_complete(out)
    assert server.state.requests == PROMPTS + 2
    assert max(server.state.sent.values()) <= 1 + 2  # no prompt more than its retries
    assert_resume_completes(server, source, out)
    assert server.state.requests == PROMPTS + 2  # the resume had nothing left to send


# -- replies the run layer repairs: one more request, no backend retry ----------------------


@pytest.mark.parametrize(
    ("kind", "more"),
    [("content-null", 1), ("wrong-ids", 1), ("missing-ids", 1), ("duplicate-ids", 1)],
)
def test_a_reply_that_misses_items_is_asked_again_for_them(
    server: FaultServer, source: Path, tmp_path: Path, kind: str, more: int
) -> None:
    server.state.fault = Fault(kind, first=1)
    out = tmp_path / "out.jsonl"
    result = promptkit(server, source, out)
    assert result.returncode == 0, result.stderr
    assert_complete(out)
    assert server.state.requests == PROMPTS + more
    assert summary_calls(result.stderr) == server.state.requests
    assert_resume_completes(server, source, out)


def test_a_reply_cut_off_at_the_token_limit_sends_its_lost_items_again(
    server: FaultServer, source: Path, tmp_path: Path
) -> None:
    server.state.fault = Fault("cut", first=1)
    out = tmp_path / "out.jsonl"
    result = promptkit(server, source, out)
    assert result.returncode == 0, result.stderr
    assert_complete(out)
    # The complete items are kept; the lost ones go again in two smaller batches.
    assert server.state.requests == PROMPTS + 2
    assert max(server.state.sent.values()) == 2
    assert_resume_completes(server, source, out)


# -- a 200 that is not a completion: retried, or the run stops and resumes -----------------


@pytest.mark.parametrize("kind", ["truncated-body", "empty-choices", "html-200"])
def test_a_broken_200_is_retried_or_stops_the_run_for_a_resume(
    server: FaultServer, source: Path, tmp_path: Path, kind: str
) -> None:
    retryable = classified_retryable(server, kind)
    server.state.fault = Fault(kind, first=2)
    out = tmp_path / "out.jsonl"
    result = promptkit(server, source, out)
    assert "Traceback" not in result.stderr
    if retryable:
        assert result.returncode == 0, result.stderr
        assert server.state.requests == PROMPTS + 2
    else:
        assert result.returncode == 1, result.stderr
        assert "run again with --resume to finish" in result.stderr
        assert server.state.requests <= 4 + 2  # stopped: nothing started after the failure
        assert len(records(out)) < len(SEARCHES)
    assert_resume_completes(server, source, out)
    assert_complete(out)
    assert max(server.state.sent.values()) <= 2


# -- permanent faults ------------------------------------------------------------------------


def test_a_permanent_500_costs_max_retries_plus_one_requests_and_stops_the_run(
    server: FaultServer, source: Path, tmp_path: Path
) -> None:
    server.state.fault = Fault("500")
    out = tmp_path / "out.jsonl"
    result = promptkit(server, source, out)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("promptkit: error: openai returned HTTP 500")
    assert "run again with --resume to finish" in result.stderr
    per_search = server.state.sent.values()
    assert max(per_search) == RETRIES + 1  # the prompt that stopped the run: no more
    assert server.state.requests <= 4 * (RETRIES + 1)  # the 4 in flight; no new prompt
    assert records(out) == []
    assert_resume_completes(server, source, out)
    assert_complete(out)


def test_a_permanent_400_on_one_input_fails_that_input_alone(
    server: FaultServer, source: Path, tmp_path: Path
) -> None:
    poison = SEARCHES[13]
    server.state.fault = Fault("400", only="item13 ")
    out = tmp_path / "out.jsonl"
    result = promptkit(server, source, out)
    assert result.returncode == 1, result.stderr
    assert "1 of 40 inputs failed" in result.stderr
    got = assert_complete(out, failed=(poison,))
    error = got[13]["error"]
    assert (error["type"], error["status"]) == ("BackendError", 400)
    assert "maximum context length" in error["message"]
    # Its batch of 8 is halved until it is alone: 8, 4, 2, 2, 1, 1, 4; the others once.
    assert server.state.requests == PROMPTS - 1 + 7
    assert server.state.sent[poison] == 4
    assert_resume_completes(server, source, out, code=1)  # the failure is a record: done
    assert server.state.requests == PROMPTS - 1 + 7


def test_a_key_echoed_in_a_401_is_never_printed(
    server: FaultServer, source: Path, tmp_path: Path
) -> None:
    server.state.fault = Fault("echo-401")
    out = tmp_path / "out.jsonl"
    result = promptkit(server, source, out)
    assert result.returncode == 1
    assert KEY not in result.stderr + result.stdout
    assert "Bearer [redacted]" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert max(server.state.sent.values()) == 1  # a 401 is not retried
    assert_resume_completes(server, source, out)
    assert_complete(out)


def test_a_key_echoed_in_a_400_never_reaches_the_records(
    server: FaultServer, source: Path, tmp_path: Path
) -> None:
    server.state.fault = Fault("echo-400", only="item7 ")
    out = tmp_path / "out.jsonl"
    result = promptkit(server, source, out)
    assert result.returncode == 1, result.stderr
    assert KEY not in out.read_text(encoding="utf-8") + result.stderr
    got = assert_complete(out, failed=(SEARCHES[7],))
    assert "Bearer [redacted]" in got[7]["error"]["message"]


# -- stopping ----------------------------------------------------------------------------------


def start(server: FaultServer, source: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command(server, source, out, "--timeout", "50", *extra),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
    )  # fmt: skip


def end(process: subprocess.Popen[str]) -> None:
    """Kill a run still going, and close its pipes."""
    if process.poll() is None:
        process.kill()
    process.communicate()


def wait_for_requests(server: FaultServer, count: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while server.state.requests < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never sent its requests"
        time.sleep(0.02)


def test_ctrl_c_while_the_server_hangs_stops_the_run_at_once(
    server: FaultServer, source: Path, tmp_path: Path
) -> None:
    server.state.fault = Fault("stall")
    out = tmp_path / "out.jsonl"
    process = start(server, source, out)
    try:
        wait_for_requests(server, 4, process)  # every worker is stuck on a request
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        end(process)
    assert not server.state.release.is_set()  # it ended while every request still hung
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr
    assert "run again with --resume to finish" in stderr
    assert "Traceback" not in stderr
    assert server.state.requests == 4  # nothing was started after Ctrl-C
    assert_resume_completes(server, source, out)
    assert_complete(out)


def test_a_fatal_error_stops_the_run_while_other_requests_hang(
    server: FaultServer, source: Path, tmp_path: Path
) -> None:
    server.state.fault = Fault("echo-401", only="item0 ", otherwise="stall")
    out = tmp_path / "out.jsonl"
    process = start(server, source, out)
    try:
        _, stderr = process.communicate(timeout=30)
    finally:
        end(process)
    assert not server.state.release.is_set()  # it ended while the other requests hung
    assert process.returncode == 1, stderr
    assert "HTTP 401" in stderr
    assert server.state.requests <= 4  # the first 4 prompts at most; the fifth never
    assert server.state.sent[SEARCHES[39]] == 0
    assert_resume_completes(server, source, out)
    assert_complete(out)


def test_a_second_run_on_the_same_output_is_refused(
    server: FaultServer, source: Path, tmp_path: Path
) -> None:
    server.state.fault = Fault("stall")
    out = tmp_path / "out.jsonl"
    first = start(server, source, out)
    try:
        wait_for_requests(server, 4, first)
        for extra in ((), ("--resume",)):
            second = promptkit(server, source, out, *extra)
            assert second.returncode == 2, second.stderr
            assert second.stderr == (
                f"promptkit: error: output file {str(out)!r} is being written by another "
                "promptkit run; wait for it to end, or write to another file\n"
            )
        assert server.state.requests == 4  # the refused runs sent nothing
    finally:
        end(first)
    assert_resume_completes(server, source, out)  # the lock died with the killed run
    assert_complete(out)


# -- bad input rows ----------------------------------------------------------------------------


def test_undecodable_and_unquoted_rows_fail_alone_and_the_run_goes_on(
    server: FaultServer, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    rows = [b"search", *(s.encode() for s in SEARCHES[:10])]
    rows.insert(4, "blé noir tee".encode("latin-1"))
    rows.append(b'"red open quote tee')
    rows += [s.encode() for s in SEARCHES[10:14]]
    source.write_bytes(b"\n".join(rows) + b"\n")
    out = tmp_path / "out.jsonl"
    result = promptkit(server, source, out)
    assert result.returncode == 1, result.stderr
    got = records(out)
    assert [r["index"] for r in got] == list(range(16))
    problems = {r["index"]: r["error"]["message"] for r in got if r["error"]}
    assert list(problems) == [3, 11]
    assert problems[3].startswith("line 5 is not UTF-8 (byte ")
    assert problems[11].startswith("CSV record at line 13 (byte ")
    assert "not valid CSV (unexpected end of data)" in problems[11]
    assert all(r["error"]["type"] == "InputError" for r in got if r["error"])
    good = [r for r in got if not r["error"]]
    assert [r["output"] for r in good] == [expected_output(r["input"]) for r in good]
    assert [r["input"] for r in good][-4:] == SEARCHES[10:14]  # none swallowed by the quote
    assert_resume_completes(server, source, out, code=1)
