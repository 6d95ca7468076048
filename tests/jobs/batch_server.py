"""A loopback server speaking OpenAI's and Anthropic's batch APIs (and their normal calls).

It implements the documented endpoints the SDKs call: OpenAI ``POST /v1/files``
(multipart), ``GET /v1/files/{id}/content``, ``POST /v1/batches``,
``GET /v1/batches/{id}``, ``POST /v1/batches/{id}/cancel`` and
``POST /v1/chat/completions``; Anthropic ``POST /v1/messages/batches``,
``GET /v1/messages/batches/{id}``, ``GET .../results`` (JSONL at the batch's
``results_url``), ``POST .../cancel`` and ``POST /v1/messages``.

Replies come from the prompt: each search's colour is its first word when
that is a colour, its type its last word. Markers in a search decide what
its batch line becomes: ``~refuse`` a 400 error line, ``~echo`` a 400 whose
message echoes the request's key, ``~server`` a 500 error line, ``~expire``
an expired line, ``~drop`` no line at all. A batch walks through its
statuses one poll at a time (OpenAI: validating, in_progress, finalizing,
then completed or expired; Anthropic: in_progress, then ended) unless
``hold`` is set, which keeps it in progress. Counters say what was called.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COLOURS = {"red", "blue", "black", "white", "green", "navy"}
_ITEM = re.compile(r'^(\d+)\. (".*")$')
_SINGLE = re.compile(r'^[A-Z][\w ]*: (".*")$')
CREATED = "2026-01-01T00:00:00Z"
FAILURE = {"code": "invalid_model", "message": "no such model"}
_ID_PREFIXES = ("batch_", "msgbatch_", "file-")


def attributes(search: str) -> dict[str, Any]:
    words = [w for w in search.split() if not w.startswith("~")]
    found: dict[str, Any] = {}
    if words and words[0] in COLOURS:
        found["colour"] = words[0]
    if words:
        found["type"] = words[-1]
    return found


def searches_of(text: str) -> list[str]:
    """The searches a user turn holds: numbered batch items, or one labelled input."""
    lines = text.splitlines()
    items = [json.loads(m[2]) for m in map(_ITEM.match, lines) if m]
    return items or [json.loads(m[1]) for m in map(_SINGLE.match, lines) if m][-1:]


def answer(text: str) -> str:
    """The reply to a prompt whose last user turn is ``text``."""
    lines = text.splitlines()
    items = [(int(m[1]), json.loads(m[2])) for m in map(_ITEM.match, lines) if m]
    if items:
        return json.dumps([{"id": n, **attributes(s)} for n, s in items])
    return json.dumps(attributes(searches_of(text)[0]))


@dataclass
class Batch:
    id: str
    provider: str
    requests: list[dict[str, Any]]
    input_file_id: str | None = None
    endpoint: str = "/v1/chat/completions"
    polls: int = 0
    cancelled: bool = False
    output_file_id: str | None = None
    error_file_id: str | None = None


@dataclass
class BatchServer:
    url: str = ""
    hold: bool = False
    fail_validation: bool = False
    delay: float = 0.0  # seconds each normal call takes (requests are answered concurrently)
    calls: Counter[str] = field(default_factory=Counter)
    uploaded: int = 0
    requests_seen: int = 0
    headers: list[dict[str, str]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    batches: dict[str, Batch] = field(default_factory=dict)
    normal: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def openai_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def http_requests(self) -> int:
        return sum(self.calls.values())


# -- OpenAI -----------------------------------------------------------------------


def _chat_completion(body: dict[str, Any]) -> dict[str, Any]:
    users = [m["content"] for m in body["messages"] if m["role"] == "user"]
    text = answer(users[-1])
    return {
        "id": "chatcmpl-x",
        "object": "chat.completion",
        "created": 0,
        "model": body["model"],
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 100, "completion_tokens": len(text) // 4, "total_tokens": 0},
    }


def _openai_batch(batch: Batch, state: BatchServer) -> dict[str, Any]:
    steps = ["validating", "in_progress", "finalizing"]
    if state.fail_validation:
        status = "failed"
    elif batch.cancelled:
        status = "cancelled" if batch.polls > 1 else "cancelling"
    elif state.hold or batch.polls < len(steps):
        status = "in_progress" if state.hold else steps[batch.polls]
    else:
        status = "completed"
    if status in ("completed", "cancelled") and batch.output_file_id is None:
        _openai_results(batch, state)
        if any("~expire" in " ".join(_texts(r)) for r in batch.requests) and not batch.cancelled:
            status = "expired"
    done = status in ("completed", "expired", "cancelled")
    failed = sum(1 for r in batch.requests if _marker(r) not in (None, "~drop")) if done else 0
    return {
        "id": batch.id,
        "object": "batch",
        "endpoint": batch.endpoint,
        "input_file_id": batch.input_file_id,
        "completion_window": "24h",
        "status": status,
        "created_at": 1,
        "output_file_id": batch.output_file_id if done else None,
        "error_file_id": batch.error_file_id if done else None,
        "errors": {"object": "list", "data": [FAILURE]} if status == "failed" else None,
        "request_counts": {
            "total": len(batch.requests),
            "completed": len(batch.requests) - failed if done else 0,
            "failed": failed,
        },
        "metadata": {},
    }


def _texts(request: dict[str, Any]) -> list[str]:
    body = request.get("body") or request.get("params") or {}
    return [m["content"] for m in body.get("messages", []) if m["role"] == "user"]


def _marker(request: dict[str, Any]) -> str | None:
    text = " ".join(_texts(request))
    for marker in ("~refuse", "~echo", "~server", "~expire", "~drop"):
        if marker in text:
            return marker
    return None


def _openai_results(batch: Batch, state: BatchServer) -> None:
    out, errors = [], []
    for number, request in enumerate(batch.requests):
        marker = _marker(request)
        line: dict[str, Any] = {"id": f"batch_req_{number}", "custom_id": request["custom_id"]}
        key = state.headers[-1].get("authorization", "")
        if batch.cancelled:
            errors.append({**line, "response": None, "error": {"code": "batch_cancelled",
                           "message": "cancelled"}})  # fmt: skip
        elif marker == "~drop":
            continue
        elif marker == "~expire":
            errors.append({**line, "response": None, "error": {"code": "batch_expired",
                           "message": "not run within the window"}})  # fmt: skip
        elif marker in ("~refuse", "~echo", "~server"):
            status = 500 if marker == "~server" else 400
            message = f"bad request (you sent {key})" if marker == "~echo" else "context too long"
            body = {"error": {"message": message, "type": "invalid_request_error"}}
            errors.append({**line, "response": {"status_code": status, "body": body},
                           "error": None})  # fmt: skip
        else:
            reply = {"status_code": 200, "body": _chat_completion(request["body"])}
            out.append({**line, "response": reply, "error": None})
    batch.output_file_id = _store(state, out, "output")
    batch.error_file_id = _store(state, errors, "errors") if errors else None


def _store(state: BatchServer, lines: list[dict[str, Any]], kind: str) -> str:
    name = f"file-{kind}-{len(state.files)}"
    state.files[name] = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    return name


def _multipart_file(content_type: str, data: bytes) -> bytes:
    boundary = content_type.split("boundary=", 1)[1].strip('"').encode()
    for part in data.split(b"--" + boundary):
        head, _, body = part.partition(b"\r\n\r\n")
        if b'name="file"' in head:
            return body.removesuffix(b"\r\n")
    raise ValueError("no file part")


# -- Anthropic --------------------------------------------------------------------


def _message(body: dict[str, Any]) -> dict[str, Any]:
    turns = [m["content"] for m in body["messages"] if m["role"] == "user"]
    text = answer(turns[-1])
    return {
        "id": "msg_x",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 100, "output_tokens": len(text) // 4},
    }


def _anthropic_batch(batch: Batch, state: BatchServer) -> dict[str, Any]:
    ended = batch.cancelled or (not state.hold and batch.polls >= 2)
    status = "ended" if ended else ("canceling" if batch.cancelled else "in_progress")
    counts = Counter(_anthropic_result(r, batch, state)["type"] for r in batch.requests)
    return {
        "id": batch.id,
        "type": "message_batch",
        "processing_status": status,
        "created_at": CREATED,
        "expires_at": CREATED,
        "ended_at": CREATED if ended else None,
        "results_url": f"{state.url}/v1/messages/batches/{batch.id}/results" if ended else None,
        "request_counts": {
            "processing": 0 if ended else len(batch.requests),
            "succeeded": counts["succeeded"] if ended else 0,
            "errored": counts["errored"] if ended else 0,
            "canceled": counts["canceled"] if ended else 0,
            "expired": counts["expired"] if ended else 0,
        },
    }


def _anthropic_result(request: dict[str, Any], batch: Batch, state: BatchServer) -> dict[str, Any]:
    marker = _marker(request)
    if batch.cancelled:
        return {"type": "canceled"}
    if marker in ("~expire", "~drop"):
        return {"type": "expired"}
    if marker in ("~refuse", "~echo", "~server"):
        kind = "api_error" if marker == "~server" else "invalid_request_error"
        key = state.headers[-1].get("authorization", "")
        message = f"bad request (you sent {key})" if marker == "~echo" else "prompt is too long"
        return {"type": "errored", "error": {"type": "error",
                "error": {"type": kind, "message": message}}}  # fmt: skip
    return {"type": "succeeded", "message": _message(request["params"])}


# -- the server -------------------------------------------------------------------


def _route(state: BatchServer, method: str, path: str, handler: Any) -> tuple[int, Any]:
    """Answer one request: (status, JSON value or bytes)."""
    parts = path.split("?")[0].strip("/").split("/")
    length = int(handler.headers.get("content-length") or 0)
    data = handler.rfile.read(length) if length else b""
    shown = ["{id}" if part.startswith(_ID_PREFIXES) else part for part in parts]
    key = f"{method} /{'/'.join(shown)}"
    with state.lock:
        state.calls[key] += 1
        state.headers.append({k.lower(): v for k, v in handler.headers.items()})
        if parts == ["v1", "files"]:
            content = _multipart_file(handler.headers["content-type"], data)
            state.uploaded += len(content)
            name = f"file-input-{len(state.files)}"
            state.files[name] = content
            return 200, {"id": name, "object": "file", "bytes": len(content), "created_at": 1,
                         "filename": "batch.jsonl", "purpose": "batch",
                         "status": "processed"}  # fmt: skip
        if parts[:2] == ["v1", "files"] and parts[-1] == "content":
            return 200, state.files[parts[2]]
        if parts == ["v1", "batches"]:
            body = json.loads(data)
            lines = [json.loads(x) for x in state.files[body["input_file_id"]].splitlines()]
            state.requests_seen += len(lines)
            batch = Batch(f"batch_{len(state.batches)}", "openai", lines, body["input_file_id"],
                          body["endpoint"])  # fmt: skip
            state.batches[batch.id] = batch
            return 200, _openai_batch(batch, state)
        if parts[:2] == ["v1", "batches"]:
            batch = state.batches[parts[2]]
            batch.cancelled |= parts[-1] == "cancel"
            batch.polls += 1
            return 200, _openai_batch(batch, state)
        if parts == ["v1", "chat", "completions"]:
            body = json.loads(data)
            state.normal.append(body)
            return 200, _chat_completion(body)
        if parts == ["v1", "messages", "batches"]:
            body = json.loads(data)
            state.requests_seen += len(body["requests"])
            state.uploaded += len(data)
            batch = Batch(f"msgbatch_{len(state.batches)}", "anthropic", body["requests"])
            state.batches[batch.id] = batch
            return 200, _anthropic_batch(batch, state)
        if parts[:3] == ["v1", "messages", "batches"]:
            batch = state.batches[parts[3]]
            if parts[-1] == "results":
                lines = [{"custom_id": r["custom_id"], "result": _anthropic_result(r, batch, state)}
                         for r in batch.requests]  # fmt: skip
                return 200, b"".join(json.dumps(line).encode() + b"\n" for line in lines)
            batch.cancelled |= parts[-1] == "cancel"
            batch.polls += 1
            return 200, _anthropic_batch(batch, state)
        if parts == ["v1", "messages"]:
            body = json.loads(data)
            state.normal.append(body)
            return 200, _message(body)
    return 404, {"error": {"message": f"no route {method} {path}"}}


@contextmanager
def batch_server() -> Iterator[BatchServer]:
    """Start the server on 127.0.0.1 in a thread; stop it at the end."""
    state = BatchServer()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, method: str) -> None:
            if state.delay and self.path.endswith(("/chat/completions", "/messages")):
                time.sleep(state.delay)
            status, payload = _route(state, method, self.path, self)
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            kind = "application/octet-stream" if isinstance(payload, bytes) else "application/json"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
