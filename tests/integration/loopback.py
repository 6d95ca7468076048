"""A recording HTTP server on 127.0.0.1 for the backend integration tests.

Each request is recorded (path, headers, JSON body) and answered by a
function of it, so that a test can play a provider's API (or a fault) and
then count what was sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Seen:
    """One request the server received."""

    path: str
    headers: dict[str, str]
    body: Any  # the JSON body, or None when it was not JSON


@dataclass
class Answer:
    """What the server sends back: a status, a JSON body (or raw bytes) and headers."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()


Responder = Callable[[Seen], Answer]


class Loopback(ThreadingHTTPServer):
    """Answers every POST with ``respond(seen)`` and records it in :attr:`seen`."""

    daemon_threads = True

    def __init__(self, respond: Responder) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.respond = respond
        self.seen: list[Seen] = []
        self._lock = threading.Lock()

    @property
    def root(self) -> str:
        """The server's URL, without a path."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def record(self, seen: Seen) -> int:
        with self._lock:
            self.seen.append(seen)
            return len(self.seen)


class _Handler(BaseHTTPRequestHandler):
    server: Loopback

    def log_message(self, *args: Any) -> None:  # quiet test output
        pass

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length", 0)))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        seen = Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        self.server.record(seen)
        answer = self.server.respond(seen)
        data = answer.encoded()
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.headers.pop("content-type", "application/json"))
        self.send_header("Content-Length", str(len(data)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def serving(respond: Responder) -> Iterator[Loopback]:
    """Run a :class:`Loopback` in a thread for the duration of the block."""
    server = Loopback(respond)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def chat_completion(text: str | None, finish: str = "stop") -> dict[str, Any]:
    """An OpenAI chat completion whose message content is ``text``."""
    choice = {"finish_reason": finish, "message": {"role": "assistant", "content": text}}
    return _completion("chat.completion", choice)


def text_completion(text: str, finish: str = "stop") -> dict[str, Any]:
    """An OpenAI (legacy) text completion."""
    return _completion("text_completion", {"finish_reason": finish, "text": text})


def _completion(kind: str, choice: dict[str, Any]) -> dict[str, Any]:
    usage = {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
    choices = [{"index": 0, **choice}]
    return {"id": "x-1", "object": kind, "created": 0, "model": "served", "choices": choices,
            "usage": usage}  # fmt: skip
