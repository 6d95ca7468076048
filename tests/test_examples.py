"""The scripts in examples/ run (offline, on their scripted backend)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_clean_searches_runs_offline() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "clean_searches.py"), "--offline"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "eyephone red skins: {'colour': 'red', 'sleeve': None, 'type': 'skins'" in result.stdout
    assert "repair: removed a trailing comma" in result.stdout
