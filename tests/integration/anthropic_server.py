"""A small Anthropic Messages API on loopback, for testing the anthropic backend's default client.

It checks what the real API checks before answering (the key, as
``x-api-key`` or, as anthropic 2.x sends it, ``Authorization: Bearer``; the
``anthropic-version`` header; required fields; roles that alternate from a
user turn; a forced tool that exists; stop sequences that are not white
space; no ``temperature``, ``top_p`` or ``top_k`` on version 2026-10-21,
which removed them) and refuses with the real error body shape
(``{"type": "error", "error": {"type": ..., "message": ...}}``) and status.
Otherwise it answers ``reply`` as a text block (json mode, continuing an
assistant prefill) or as the input of the forced tool (tool mode). Faults
are scripted: the statuses in ``faults`` are answered first, one per request.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from loopback import Answer, Seen

KEY = "sk-ant-loopback-key"

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Answer:
    """An error in the API's shape."""
    body = {"type": "error", "error": {"type": ERROR_TYPES[status], "message": message}}
    return Answer(status, body, {"request-id": "req_loopback", **(headers or {})})


@dataclass
class MessagesAPI:
    """Answers ``/v1/messages`` requests; ``faults`` (statuses) first, then ``reply``."""

    reply: str = '{"colour": "red", "type": "t shirts"}'
    faults: list[int] = field(default_factory=list)
    retry_after: dict[str, str] = field(default_factory=dict)  # headers sent with a 429

    def __call__(self, seen: Seen) -> Answer:
        if seen.path != "/v1/messages":
            return error(404, "Not Found")
        bearer = seen.headers.get("authorization", "").removeprefix("Bearer ")
        if KEY not in (seen.headers.get("x-api-key"), bearer):
            return error(401, "invalid x-api-key")
        version = seen.headers.get("anthropic-version")
        if not version:
            return error(400, "anthropic-version: header is required")
        problem = _problem(seen.body, version)
        if problem:
            return error(400, problem)
        if self.faults:
            status = self.faults.pop(0)
            extra = self.retry_after if status == 429 else {}
            return error(status, "Overloaded" if status == 529 else "scripted fault", extra)
        return Answer(200, self.message(seen.body), {"request-id": "req_loopback"})

    def message(self, body: dict[str, Any]) -> dict[str, Any]:
        """The API's reply to a valid request body."""
        if "tool_choice" in body:
            name = body["tool_choice"]["name"]
            block = {
                "type": "tool_use",
                "id": "toolu_1",
                "name": name,
                "input": json.loads(self.reply),
            }
            content, stop = [block], "tool_use"
        else:
            text = self.reply
            last = body["messages"][-1]
            if last["role"] == "assistant" and text.startswith(last["content"]):
                text = text[len(last["content"]) :]  # the reply continues the prefill
            content, stop = [{"type": "text", "text": text}], "end_turn"
        words = sum(len(str(m["content"]).split()) for m in body["messages"])
        return {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": words, "output_tokens": len(self.reply.split())},
        }


def _problem(body: Any, version: str) -> str | None:
    """What the real API would refuse in a request body, in its words, or None."""
    if not isinstance(body, dict):
        return "There was an issue with your request body: it is not a JSON object"
    for name, kind in (("model", str), ("max_tokens", int), ("messages", list)):
        if not isinstance(body.get(name), kind) or not body[name]:
            return f"{name}: Field required"
    messages = body["messages"]
    if not messages or messages[0].get("role") != "user":
        return 'messages: first message must use the "user" role'
    for before, after in itertools.pairwise(messages):
        if before.get("role") == after.get("role"):
            return 'messages: roles must alternate between "user" and "assistant"'
    sampling = sorted({"temperature", "top_p", "top_k"} & set(body))
    if sampling and version >= "2026-10-21":
        return f"{sampling[0]}: Extra inputs are not permitted"
    if not 0 <= body.get("temperature", 0) <= 1:
        return "temperature: Input should be less than or equal to 1"
    if "temperature" in body and "top_p" in body:
        return "`temperature` and `top_p` cannot both be specified for this model"
    for stop in body.get("stop_sequences", []):
        if not stop.strip():
            return "stop_sequences: each stop sequence must contain non-whitespace"
    names = {tool.get("name") for tool in body.get("tools", [])}
    choice = body.get("tool_choice")
    if choice is not None and (choice.get("type") != "tool" or choice.get("name") not in names):
        return "tool_choice: the named tool is not among tools"
    return None
