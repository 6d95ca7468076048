"""The public types: mypy --strict infers them as documented and rejects misspelled options.

Like pydantic-ai's typing tests: files that are type-checked, never run.
``public_api.py`` must be clean; in ``misspelled_options.py`` every line
must raise exactly the error its ignore comment names (an unused ignore is
itself an error under --strict).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.mark.parametrize("name", ["public_api.py", "misspelled_options.py"])
def test_mypy_agrees(name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--warn-unused-ignores", str(HERE / name)],
        capture_output=True,
        text=True,
        check=False,
        cwd=HERE.parent.parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr
