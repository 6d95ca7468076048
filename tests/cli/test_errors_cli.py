"""Every path, file and set-up problem is one line on stderr and exit 2, never a traceback.

The backend in these runs points at a closed port: each problem is found before
anything would be sent.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

NOWHERE = "http://127.0.0.1:9/v1"


def promptkit(*args: str, prelude: str = "") -> subprocess.CompletedProcess[str]:
    code = f"import sys\n{prelude}\nfrom promptkit.cli import main\nraise SystemExit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "OPENAI_API_KEY": "sk-errors-0123456789"},
    )  # fmt: skip


def run_job(source: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return promptkit(
        "run", "apparel-search", "--input-file", str(source), "--output", str(out),
        "--backend", "openai", "--base-url", NOWHERE, "--model", "m", *extra,
    )  # fmt: skip


def assert_one_line(result: subprocess.CompletedProcess[str], *words: str, code: int = 2) -> None:
    assert result.returncode == code, result.stderr
    assert result.stderr.startswith("promptkit: error: "), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "in.txt"
    path.write_text("red shirt\n", encoding="utf-8")
    return path


def test_a_latin1_input_file_is_a_usage_error_in_render(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_bytes("red shirt\nblé noir\n".encode("latin-1"))
    result = promptkit("render", "apparel-search", "--input-file", str(path))
    assert_one_line(result, "input 2: line 2 is not UTF-8 (byte 12", "save the file as UTF-8")


def test_an_output_under_a_file_or_that_is_a_folder(source: Path, tmp_path: Path) -> None:
    under = run_job(source, source / "out.jsonl", "--no-cache")
    assert_one_line(under, f"{str(source)!r} is a file, not a folder")
    (tmp_path / "folder.jsonl").mkdir()
    folder = run_job(source, tmp_path / "folder.jsonl", "--no-cache")
    assert_one_line(folder, "cannot be written: it is a folder")


def test_a_cache_that_is_a_folder_corrupt_or_under_a_file(source: Path, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"not a database, " * 100)
    for cache, words in (
        (tmp_path, "it is a folder"),
        (corrupt, "file is not a database"),
        (source / "cache.sqlite", "is a file, not a folder"),
    ):
        result = run_job(source, tmp_path / "out.jsonl", "--cache", str(cache))
        assert_one_line(result, f"response cache {str(cache)!r} cannot be opened", words)
        assert "--no-cache" in result.stderr
    assert corrupt.read_bytes() == b"not a database, " * 100  # left as it was


def test_a_missing_extra_is_one_line_with_the_install_hint(source: Path, tmp_path: Path) -> None:
    without_openai = "sys.modules['openai'] = None"
    single = promptkit(
        "run", "apparel-search", "-i", "red shirt", "--backend", "openai", "--base-url", NOWHERE,
        prelude=without_openai,
    )  # fmt: skip
    assert_one_line(single, "pip install 'promptkit[openai]'")
    job = promptkit(
        "run", "apparel-search", "--input-file", str(source), "--output", str(tmp_path / "o.jsonl"),
        "--backend", "openai", "--base-url", NOWHERE, "--no-cache", prelude=without_openai,
    )  # fmt: skip
    assert_one_line(job, "pip install 'promptkit[openai]'")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("def broken(:\n", "syntax error"),
        ("import no_such_module_here\n", "failed to import: ModuleNotFoundError"),
        (
            "from promptkit import Task\na = Task('same', 'x', 'search', dict)\n",
            "output model must be a pydantic model class",
        ),
        (
            "from pydantic import BaseModel\nfrom promptkit import Task\n"
            "class Out(BaseModel):\n    x: str = ''\n"
            "a = Task('same', 'x', 'search', Out)\nb = Task('same', 'y', 'search', Out)\n",
            "two tasks are named 'same'",
        ),
    ],
)
def test_a_task_file_that_cannot_be_loaded_is_one_line(
    tmp_path: Path, source: Path, body: str, words: str
) -> None:
    path = tmp_path / "my_tasks.py"
    path.write_text(body, encoding="utf-8")
    for result in (
        promptkit("run", f"{path}:a", "-i", "x", "--backend", "openai", "--base-url", NOWHERE),
        promptkit("render", str(path), "-i", "x"),
    ):
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("promptkit: error: ")
        assert words in result.stderr
        assert "Traceback" not in result.stderr


def test_check_lists_every_unsupported_field(tmp_path: Path) -> None:
    path = tmp_path / "fields.py"
    path.write_text(
        "import datetime\nfrom pydantic import BaseModel\nfrom promptkit import Task\n"
        "class Out(BaseModel):\n    a: complex\n    b: str\n    c: set[complex]\n"
        "    d: dict[float, str]\n"
        "t = Task(name='fields', instructions='x', input_model='q', output_model=Out)\n",
        encoding="utf-8",
    )
    result = promptkit("check", f"{path}:t")
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == "fields: 3 problem(s)"
    for name in ("'a'", "'c[]'", "'d'"):
        assert f"output field {name} has unsupported type" in result.stderr
