"""A small OpenAI-compatible chat server on loopback, for CLI tests that need a backend.

It answers from the last search it is sent: ``{"colour": "red", "type": "shirt"}``
when the search names red, ``{}`` otherwise; it records each request's path,
headers and body. ``hang`` makes it hold every request until the test ends.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class FakeOpenAI(ThreadingHTTPServer):
    daemon_threads = True
    requests: list[dict[str, Any]]
    received: threading.Event
    release: threading.Event
    hang: bool = False

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
        asked = body["messages"][-1]["content"].rsplit("Search:", 1)[-1]
        text = '{"colour": "red", "type": "shirt"}' if "red" in asked else "{}"
        message = {"role": "assistant", "content": text}
        reply = {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110},
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def fake_openai(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    server = FakeOpenAI(("127.0.0.1", 0), _Handler)
    server.requests = []
    server.received = threading.Event()
    server.release = threading.Event()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdef")
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def _no_outside_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Keep the tester's own PROMPTKIT_* variables and config files out of every CLI test."""
    for name in ("PROMPTKIT_BACKEND", "PROMPTKIT_MODEL", "PROMPTKIT_BASE_URL", "PROMPTKIT_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg")))
