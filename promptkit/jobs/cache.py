"""Response cache: replies kept in a local SQLite file, keyed by everything that shaped them.

A key is the SHA-256 of the backend's name, the model, the call parameters
and the compiled prompt (messages or text, response format, stop
sequences), written as canonical JSON. Any change to one of them is another
key, so a cached reply is only ever returned for the very same request.
Re-running a job therefore makes no backend call for what it has seen.

The cache is safe to share between threads of one process; SQLite's WAL
mode lets several processes read it while one writes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from promptkit.errors import JobFileError
from promptkit.jobs.files import why_not
from promptkit.prompt import Prompt

SCHEMA_VERSION = 1


def cache_key(backend: str, model: str, params: Mapping[str, Any], prompt: Prompt) -> str:
    """Return the key of one request: a hex SHA-256 over canonical JSON of its parts."""
    payload = {
        "v": SCHEMA_VERSION,
        "backend": backend,
        "model": model,
        "params": dict(params),
        "prompt": prompt.to_dict(),
    }
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ResponseCache:
    """A SQLite table of replies by request key.

    Args:
        path: the database file, created with its parent folder when missing.

    Raises:
        JobFileError: the file cannot be a cache (a folder, not a database, under a file,
            not writable); also raised by :meth:`get` and :meth:`put` when it fails later.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        with self._failing("be opened"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS replies ("
                    " key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL)"
                )
            except sqlite3.Error:
                self._db.close()
                raise

    @contextlib.contextmanager
    def _failing(self, what: str) -> Iterator[None]:
        """Turn an OS or SQLite error into one :class:`JobFileError` naming the file."""
        try:
            yield
        except (OSError, sqlite3.Error) as error:
            raise JobFileError(
                f"response cache {str(self.path)!r} cannot {what}: "
                f"{why_not(self.path, error)}; give --cache a "
                "file path of its own (a new one is created), or pass --no-cache"
            ) from None

    def get(self, key: str) -> dict[str, Any] | None:
        """Return the reply stored under ``key``, or None."""
        with self._lock, self._failing("be read"):
            row = self._db.execute("SELECT value FROM replies WHERE key = ?", (key,)).fetchone()
            if row is None:
                self.misses += 1
                return None
            self.hits += 1
        value: dict[str, Any] = json.loads(row[0])
        return value

    def put(self, key: str, value: Mapping[str, Any]) -> None:
        """Store a reply (a JSON-ready mapping) under ``key``, replacing any older one."""
        text = json.dumps(dict(value), ensure_ascii=False)
        with self._lock, self._failing("be written"):
            self._db.execute(
                "INSERT OR REPLACE INTO replies (key, value, created) VALUES (?, ?, ?)",
                (key, text, time.time()),
            )

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM replies").fetchone()
        return int(count)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
