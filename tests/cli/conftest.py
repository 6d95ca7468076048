"""A small OpenAI-compatible chat server on loopback, for the CLI tests that need a backend.

:func:`serve_openai` starts one that answers each request with what its
``answer`` function makes of the request body, and records each request's
path, headers and body. ``hang`` makes it hold every request until the test
ends; ``delay`` makes it wait that many seconds before answering. The
``fake_openai`` fixture answers from the last search it is sent:
``{"colour": "red", "type": "shirt"}`` when the search names red, ``{}``
otherwise.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass(frozen=True)
class Reply:
    """What the server answers to one request."""

    text: str
    finish_reason: str = "stop"
    prompt_tokens: int = 100
    completion_tokens: int = 10


Answer = Callable[[dict[str, Any]], Reply]


class FakeOpenAI(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, answer: Answer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer = answer
        self.requests: list[dict[str, Any]] = []
        self.received = threading.Event()
        self.release = threading.Event()
        self.hang = False
        self.delay = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Handler(BaseHTTPRequestHandler):
    server: FakeOpenAI

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        self.server.requests.append({"path": self.path, "headers": dict(self.headers), **body})
        self.server.received.set()
        if self.server.hang:
            self.server.release.wait(60)
            return
        if self.server.delay:
            self.server.release.wait(self.server.delay)
        reply = self.server.answer(body)
        message = {"role": "assistant", "content": reply.text}
        completion = {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "finish_reason": reply.finish_reason, "message": message}],
            "usage": {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            },
        }
        data = json.dumps(completion).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextlib.contextmanager
def serve_openai(answer: Answer) -> Iterator[FakeOpenAI]:
    """Run a :class:`FakeOpenAI` on a free loopback port for the duration of the block."""
    server = FakeOpenAI(answer)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


def last_search(body: dict[str, Any]) -> str:
    """The text after the last ``Search:`` of a request's last turn: its input, not examples."""
    return str(body["messages"][-1]["content"]).rsplit("Search:", 1)[-1]


def red_shirt(body: dict[str, Any]) -> Reply:
    """A red shirt when the search names red, nothing otherwise."""
    return Reply('{"colour": "red", "type": "shirt"}' if "red" in last_search(body) else "{}")


@pytest.fixture
def fake_openai(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdef")
    with serve_openai(red_shirt) as server:
        yield server


@pytest.fixture(autouse=True)
def _no_outside_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Keep the tester's own PROMPTKIT_* variables and config files out of every CLI test."""
    for name in ("PROMPTKIT_BACKEND", "PROMPTKIT_MODEL", "PROMPTKIT_BASE_URL", "PROMPTKIT_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg")))
