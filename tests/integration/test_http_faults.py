"""Faults at the HTTP boundary: a real, misbehaving HTTP server on loopback.

The server answers each request with the next behaviour from its script:
429 with Retry-After, 500, 503, a reset connection, a reply slower than the
client's timeout, a reply cut off by the token limit, or a body that is not
JSON. The backend must retry what may pass (bounded, with backoff honouring
Retry-After), give up with a BackendError that says what happened, and
never hang. A file job on top retries nothing itself (one retry layer): it
only waits out, for every worker, a Retry-After the backend handed back as
longer than it waits, within the backend's own retry budget.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from promptkit import compile_prompt, load_task
from promptkit.backends import GenerationParams, RetryPolicy
from promptkit.backends.openai import OpenAIBackend
from promptkit.errors import BackendError
from promptkit.execution import run

pytestmark = pytest.mark.integration

TASK = load_task("apparel-search")
REPLY = '{"colour": "red", "type": "t shirts"}'


class FaultServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: list[str] = []
        self.bodies: list[dict[str, Any]] = []
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Handler(BaseHTTPRequestHandler):
    server: FaultServer

    def log_message(self, *args: Any) -> None:  # quiet test output
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        self.server.bodies.append(json.loads(self.rfile.read(length)))
        script = self.server.script
        behaviour = script.pop(0) if len(script) > 1 else script[0]
        if behaviour == "reset":
            # Close with RST instead of FIN: the client sees a reset connection.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return
        if behaviour == "slow":
            self.server.release.wait(10)  # released at teardown; far beyond the client's timeout
            return
        if behaviour == "429":
            self._send(429, {"error": {"message": "rate limited"}}, {"Retry-After": "0"})
        elif behaviour == "429-short":
            self._send(429, {"error": {"message": "rate limited"}}, {"Retry-After": "0.2"})
        elif behaviour == "429-long":
            self._send(429, {"error": {"message": "rate limited"}}, {"Retry-After": "120"})
        elif behaviour in ("500", "503"):
            self._send(int(behaviour), {"error": {"message": "server trouble"}})
        elif behaviour == "notjson":
            self._send_raw(200, b"<html><body>proxy login</body></html>", "text/html")
        elif behaviour == "length":
            self._send(200, _completion('{"colour": "red", "sle', "length"))
        else:
            self._send(200, _completion(REPLY, "stop"))

    def _send(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        self._send_raw(status, json.dumps(body).encode(), "application/json", headers)

    def _send_raw(
        self, status: int, data: bytes, kind: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _completion(text: str, finish: str) -> dict[str, Any]:
    return {
        "id": "x",
        "object": "chat.completion",
        "model": "fault",
        "choices": [
            {"index": 0, "finish_reason": finish, "message": {"role": "assistant", "content": text}}
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


@pytest.fixture
def server() -> Iterator[FaultServer]:
    served = FaultServer()
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield served
    served.release.set()
    served.shutdown()
    served.server_close()
    thread.join(5)


def backend(server: FaultServer, retries: int = 2, timeout: float = 5.0) -> OpenAIBackend:
    policy = RetryPolicy(max_retries=retries, base_delay=0.01, max_delay=5.0, timeout=timeout)
    return OpenAIBackend("fault", base_url=server.url, retry=policy)


def call(server: FaultServer, **options: Any) -> Any:
    return backend(server, **options).complete(compile_prompt(TASK, "red"), GenerationParams())


def test_429_with_retry_after_is_retried(server: FaultServer) -> None:
    server.script = ["429", "ok"]
    assert call(server).text == REPLY
    assert len(server.bodies) == 2


def test_a_retry_after_beyond_the_longest_wait_is_handed_back_not_slept(
    server: FaultServer,
) -> None:
    server.script = ["429-long"]
    with pytest.raises(BackendError) as raised:
        call(server)
    assert (raised.value.status, raised.value.retryable, raised.value.retry_after) == (
        429,
        True,
        120.0,
    )
    assert len(server.bodies) == 1


@pytest.mark.parametrize("status", ["500", "503"])
def test_server_errors_are_retried_a_bounded_number_of_times(
    server: FaultServer, status: str
) -> None:
    server.script = [status]
    with pytest.raises(BackendError) as raised:
        call(server, retries=2)
    assert (raised.value.status, raised.value.retryable) == (int(status), True)
    assert len(server.bodies) == 3


def test_a_reset_connection_is_retried_then_succeeds(server: FaultServer) -> None:
    server.script = ["reset", "ok"]
    assert call(server).text == REPLY
    assert len(server.bodies) == 2


def test_a_connection_that_keeps_resetting_ends_in_a_retryable_error(server: FaultServer) -> None:
    server.script = ["reset"]
    with pytest.raises(BackendError, match="connection") as raised:
        call(server, retries=1)
    assert (raised.value.status, raised.value.retryable) == (None, True)


def test_a_reply_slower_than_the_timeout_is_cut_short(server: FaultServer) -> None:
    server.script = ["slow"]
    with pytest.raises(BackendError, match=r"no reply within 0\.3s") as raised:
        call(server, retries=1, timeout=0.3)
    assert raised.value.retryable
    assert len(server.bodies) == 2


def test_a_body_that_is_not_json_is_not_retried(server: FaultServer) -> None:
    server.script = ["notjson"]
    with pytest.raises(BackendError, match="not JSON") as raised:
        call(server)
    assert (raised.value.status, raised.value.retryable) == (200, False)
    assert len(server.bodies) == 1


def test_a_reply_cut_off_by_the_token_limit_is_sent_again_with_more_tokens(
    server: FaultServer,
) -> None:
    server.script = ["length", "ok"]
    result = run(TASK, "red", backend=backend(server), params=GenerationParams(max_tokens=16))
    assert result.value.colour == "red"
    assert [body["max_tokens"] for body in server.bodies] == [16, 32]
    assert server.bodies[0]["messages"] == server.bodies[1]["messages"]


# -- one retry layer: the job layer never retries on top of the backend --------------------


def run_one_job(server: FaultServer, tmp_path: Any, searches: list[str], **policy: Any) -> Any:
    from pathlib import Path

    from promptkit.jobs.runner import JobOptions, run_job

    source = Path(tmp_path) / "in.txt"
    source.write_text("\n".join(searches) + "\n", encoding="utf-8")
    retry = RetryPolicy(**{"max_retries": 2, "base_delay": 0.01, "timeout": 5.0, **policy})
    chosen = OpenAIBackend("fault", base_url=server.url, retry=retry)
    return run_job(TASK, source, Path(tmp_path) / "out.jsonl", chosen, options=JobOptions())


def test_a_prompt_that_always_gets_500_costs_max_retries_plus_one_requests(
    server: FaultServer, tmp_path: Any
) -> None:
    server.script = ["500"]
    with pytest.raises(BackendError, match="HTTP 500"):
        run_one_job(server, tmp_path, ["red", "blue", "green"])
    assert len(server.bodies) == 3  # 2 retries, then the run stops: 12 before one retry layer
    assert all(body["messages"][-1]["content"].endswith('"red"') for body in server.bodies)


def test_a_retry_after_longer_than_the_backend_waits_is_waited_out_by_the_job(
    server: FaultServer, tmp_path: Any
) -> None:
    server.script = ["429-short", "429-short", "ok", "ok"]
    summary = run_one_job(server, tmp_path, ["red", "blue"], max_delay=0.05)
    assert (summary.items, summary.failed) == (2, 0)
    assert len(server.bodies) == 4  # the backend handed the 0.2 s wait back twice: no more
    assert summary.calls == 4


def test_a_long_retry_after_that_never_ends_costs_max_retries_plus_one_too(
    server: FaultServer, tmp_path: Any
) -> None:
    server.script = ["429-short"]
    with pytest.raises(BackendError, match="HTTP 429") as raised:
        run_one_job(server, tmp_path, ["red"], max_delay=0.05)
    assert (raised.value.retryable, raised.value.retry_after) == (True, 0.2)
    assert len(server.bodies) == 3
