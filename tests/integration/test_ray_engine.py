"""``promptkit run --engine ray``: the file job on a local Ray, as a user runs it.

The CLI runs as a real subprocess (it starts its own local Ray) against the
loopback server of :mod:`batch_server` answering the OpenAI chat API.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "jobs"))
from batch_server import BatchServer, batch_server

pytestmark = pytest.mark.integration

ENV = {**os.environ, "OPENAI_API_KEY": "sk-test-ray-0123456789"}


@pytest.fixture
def server() -> Iterator[BatchServer]:
    if os.environ.get("CI", "").lower() not in ("1", "true", "yes"):  # CI must have Ray
        pytest.importorskip("ray", reason="pip install 'promptkit[ray]'")
    with batch_server() as running:
        yield running


def command(server: BatchServer, source: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "promptkit", "run", "apparel-search",
        "--input-file", str(source), "--output", str(out), "--no-cache",
        "--backend", "openai", "--base-url", server.openai_url, "--model", "fake",
        "--layout", "chat", "--shots", "2", "--batch-size", "8", "--concurrency", "2",
        *extra,
    ]  # fmt: skip


def lines_of(count: int) -> list[str]:
    colours = ["red", "blue", "plain", "navy"]
    return [f"{colours[n % 4]} shirt {n}" for n in range(count)]


def test_two_thousand_lines_give_the_records_of_the_plain_run(
    server: BatchServer, tmp_path: Path
) -> None:
    source = tmp_path / "in.txt"
    source.write_text("\n".join(lines_of(2000)) + "\n", encoding="utf-8")
    plain, on_ray = tmp_path / "plain.jsonl", tmp_path / "ray.jsonl"
    for out, extra in ((plain, ()), (on_ray, ("--engine", "ray"))):
        done = subprocess.run(command(server, source, out, *extra), env=ENV, capture_output=True,
                              text=True, timeout=300, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
    assert on_ray.read_bytes() == plain.read_bytes()  # records carry no timing fields
    assert len(plain.read_text().splitlines()) == 2000


def test_kill_9_of_the_driver_then_resume_completes(server: BatchServer, tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("\n".join(lines_of(400)) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    server.delay = 0.05
    # A session of its own: what the killed driver's local Ray leaves behind (its
    # dashboard and runtime-env agents outlive it) is ended with the group at the end.
    process = subprocess.Popen(command(server, source, out, "--engine", "ray"), env=ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not out.exists() or len(out.read_text().splitlines()) < 40:
            assert process.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "the run wrote too little in time"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    written = len(out.read_text().splitlines())
    assert 40 <= written < 400
    server.delay = 0.0
    again = subprocess.run(command(server, source, out, "--engine", "ray", "--resume"), env=ENV,
                           capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert again.returncode == 0, again.stderr
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["index"] for r in got] == list(range(400))
    assert all(r["error"] is None for r in got)
