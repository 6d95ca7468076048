"""How fast a file job stops: from Ctrl-C, or from a fatal error, to the process's exit.

A loopback fake of the OpenAI chat API holds every request (it never answers),
so each of the 4 workers of ``promptkit run ... --batch-size 8 --concurrency 4``
is stuck on a hanging server. Two cases, each ``--trials`` times in a fresh
process:

- ``sigint``: once the server holds 4 requests, SIGINT is sent; measured from
  the signal to the exit (expected: exit 130).
- ``fatal``: the batch holding the first search gets HTTP 401 at once while
  the other three hang; measured from that 401 to the exit (expected: exit 1).

Reported, never asserted: the median and the longest time, and their ratio to
the named target of 2 s (docs/jobs.md).

Run: ``python benchmarks/bench_stop.py [--trials N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

TARGET = 2.0
SEARCHES = [f"red item{i} tee" for i in range(40)]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, refuse: str | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.refuse = refuse  # a search whose request gets HTTP 401 at once
        self.requests = 0
        self.refused_at: float | None = None
        self.release = threading.Event()
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            self.server.requests += 1
        if self.server.refuse and self.server.refuse.encode() in body:
            data = json.dumps({"error": {"message": "bad key"}}).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            self.server.refused_at = time.monotonic()
            return
        self.server.release.wait(120)


def _trial(case: str, folder: Path) -> tuple[float, int]:
    server = _Server(refuse=SEARCHES[0] if case == "fatal" else None)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    source = folder / "in.txt"
    source.write_text("\n".join(SEARCHES) + "\n", encoding="utf-8")
    out = folder / f"{case}-{time.monotonic_ns()}.jsonl"
    command = [
        sys.executable, "-m", "promptkit", "run", "apparel-search",
        "--input-file", str(source), "--output", str(out),
        "--backend", "openai", "--base-url", f"http://127.0.0.1:{server.server_address[1]}/v1",
        "--model", "fake", "--layout", "chat", "--shots", "0", "--no-cache",
        "--batch-size", "8", "--concurrency", "4", "--timeout", "100",
    ]  # fmt: skip
    env = {**os.environ, "OPENAI_API_KEY": "sk-bench"}
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    try:
        if case == "sigint":
            while server.requests < 4:
                time.sleep(0.005)
            started = time.monotonic()
            process.send_signal(signal.SIGINT)
        process.wait(60)
        ended = time.monotonic()
        if case == "fatal":
            assert server.refused_at is not None
            started = server.refused_at
        return ended - started, process.returncode
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        server.release.set()
        server.shutdown()
        server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        print(f"{'case':<8} {'exit codes':<16} {'median s':>9} {'max s':>7} {'max / 2 s':>10}")
        for case in ("sigint", "fatal"):
            results = [_trial(case, Path(folder)) for _ in range(args.trials)]
            times = [seconds for seconds, _ in results]
            codes = sorted({code for _, code in results})
            print(
                f"{case:<8} {','.join(map(str, codes)):<16} {statistics.median(times):>9.3f} "
                f"{max(times):>7.3f} {max(times) / TARGET:>9.2f}x"
            )


if __name__ == "__main__":
    main()
