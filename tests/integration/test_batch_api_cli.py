"""``promptkit run --batch-api`` and ``promptkit batches`` as a user runs them.

The CLI runs as a real subprocess with the SDKs' default clients pointed at
the loopback batch server (:mod:`batch_server`); a kill -9 while a batch is
polled, then ``--resume``, must re-attach to the same batch.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promptkit.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "jobs"))
from batch_server import BatchServer, attributes, batch_server

pytestmark = pytest.mark.integration

KEYS = {"OPENAI_API_KEY": "sk-test-cli-0123456789", "ANTHROPIC_API_KEY": "sk-ant-cli-0123456789"}
SEARCHES = [f"{c} {k} {n}" for n in range(10) for c, k in [("red", "shirt"), ("navy", "coat")]]


@pytest.fixture
def server() -> Iterator[BatchServer]:
    with batch_server() as running:
        yield running


def command(provider: str, server: BatchServer, source: Path, out: Path, *extra: str) -> list[str]:
    url = server.openai_url if provider == "openai" else server.url
    return [
        sys.executable, "-m", "promptkit", "run", "apparel-search",
        "--input-file", str(source), "--output", str(out), "--no-cache",
        "--backend", provider, "--base-url", url, "--model", "fake",
        "--layout", "chat", "--shots", "2", "--batch-size", "4",
        "--batch-api", "--batch-poll", "0.05", *extra,
    ]  # fmt: skip


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_kill_while_polling_then_resume_reattaches_to_the_same_batch(
    server: BatchServer, tmp_path: Path, provider: str
) -> None:
    source = tmp_path / "in.txt"
    source.write_text("\n".join(SEARCHES) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    env = {**os.environ, **KEYS}
    server.hold = True
    process = subprocess.Popen(command(provider, server, source, out), env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (server.batches and next(iter(server.batches.values())).polls >= 3):
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            assert time.monotonic() < deadline, "the job never polled its batch"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
        if process.stderr:
            process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    assert not out.exists() or out.read_text() == ""
    server.hold = False
    again = subprocess.run(command(provider, server, source, out, "--resume"), env=env,
                           capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert again.returncode == 0, again.stderr
    got = records(out)
    assert [r["index"] for r in got] == list(range(len(SEARCHES)))
    assert all(r["output"]["type"] == attributes(r["input"])["type"] for r in got)
    assert len(server.batches) == 1  # one batch created in all
    assert server.requests_seen == len(SEARCHES) // 4
    assert server.normal == []
    assert "batch API: 5 requests in 1 batches" in again.stderr


def test_batches_lists_shows_and_cancels(
    server: BatchServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    source = tmp_path / "in.txt"
    source.write_text("\n".join(SEARCHES) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    server.hold = True
    process = subprocess.Popen(command("openai", server, source, out), env=dict(os.environ),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (out.with_name("out.jsonl.batches.json").exists() and server.batches):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert main(["batches", "list", str(out), "--json"]) == 0
        listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert listed == [{"id": "batch_0", "inputs": "0-19", "requests": 5,
                           "status": "in_progress", "written": False}]  # fmt: skip
        assert main(["batches", "show", str(out), "batch_0"]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert (shown["total"], shown["first"], shown["last"]) == (5, 0, 19)
        assert main(["batches", "cancel", str(out)]) == 0
        assert json.loads(capsys.readouterr().out)["status"] in ("cancelling", "cancelled")
        assert server.batches["batch_0"].cancelled
        assert main(["batches", "show", str(out), "batch_9"]) == 2
        assert "not of this job" in capsys.readouterr().err
    finally:
        process.kill()
        process.wait(10)
