"""Secret redaction: an API key never reaches a message, a record or a log line.

A server that echoes the request (its headers in a 401 body, a proxy's
debug page) hands the key back; so does an error that quotes a client's
settings. Text crosses a boundary (the CLI's stderr, a record's error, a
log) only through a :class:`Redactor`, which replaces

- every known secret value: the keys in the environment (``OPENAI_API_KEY``,
  ``ANTHROPIC_API_KEY``, and every ``PROMPTKIT_*`` variable whose name says
  KEY, TOKEN, SECRET or PASSWORD) and the keys given to a backend's clients;
- whatever reads as a credential wherever it appears: the value of an
  ``Authorization``, ``x-api-key`` or ``api-key`` header, written as a header
  line, as JSON or as a Python dict; a bearer token; an ``sk-...`` key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

REDACTED = "[redacted]"

_ENVIRONMENT_KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")
_PROMPTKIT_SECRET = re.compile(r"PROMPTKIT_\w*(KEY|TOKEN|SECRET|PASSWORD)\w*")
_SHORTEST = 6  # a shorter "secret" (a test's "x") would blank out ordinary words

_HEADER = re.compile(
    r"""(?ix)
    ( (?:proxy-)?authorization | x-api-key | api[-_]key | x-goog-api-key )
    ( ["']? \s* [:=] \s* ["']? )          # the separator, quoted or not
    ( (?:bearer|basic|token) \s+ )?       # an auth scheme, kept
    [^\s"',;&}\]]+                        # the value
    """
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{6,}")
_KEY_SHAPED = re.compile(r"\bsk-[A-Za-z0-9_-]{6,}")


@dataclass(frozen=True, slots=True)
class Redactor:
    """Replaces secrets in text; ``secrets`` are the known values, longest first."""

    secrets: tuple[str, ...] = ()

    @classmethod
    def of(cls, *sources: Iterable[str]) -> Redactor:
        """Return a redactor of the environment's secrets and those of ``sources``."""
        values = set(environment_secrets())
        for source in sources:
            values.update(source)
        known = (value for value in values if len(value) >= _SHORTEST)
        return cls(tuple(sorted(known, key=len, reverse=True)))

    def __call__(self, text: str) -> str:
        """Return ``text`` with every secret replaced by ``[redacted]``."""
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        text = _HEADER.sub(lambda m: f"{m[1]}{m[2]}{m[3] or ''}{REDACTED}", text)
        text = _BEARER.sub(lambda m: f"{m[1]}{REDACTED}", text)
        return _KEY_SHAPED.sub(REDACTED, text)

    def error(self, error: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """Return a record's ``error`` with its message and raw reply redacted."""
        if error is None:
            return None
        return {
            key: self(value) if key in ("message", "raw") and isinstance(value, str) else value
            for key, value in error.items()
        }


def environment_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """Return the values of the environment's secret variables."""
    environ = os.environ if environ is None else environ
    return [
        value
        for name, value in environ.items()
        if value and (name in _ENVIRONMENT_KEYS or _PROMPTKIT_SECRET.fullmatch(name))
    ]


def client_secrets(holder: object) -> list[str]:
    """Return the ``api_key`` of ``holder`` and of the clients it holds (SDK clients keep one)."""
    found = []
    for value in (holder, *getattr(holder, "__dict__", {}).values()):
        key = getattr(value, "api_key", None)
        if isinstance(key, str) and key:
            found.append(key)
    return found


def redact(text: str) -> str:
    """Return ``text`` with the environment's secrets and credential-shaped values redacted."""
    return Redactor.of()(text)
