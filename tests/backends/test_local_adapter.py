"""The llama-cpp-python adapter: only the releases the local backend is tested with are accepted."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest

from promptkit.backends.local import _llama
from promptkit.errors import BackendError

PYPROJECT = Path(__file__).parents[2] / "pyproject.toml"


@pytest.mark.parametrize("version", ["0.3.36", "0.3.37", "0.3.99", "0.3.36.post1", "0.3.40rc1"])
def test_a_release_in_the_tested_range_is_accepted(version: str) -> None:
    _llama.check_version(version)


@pytest.mark.parametrize("version", ["0.3.35", "0.2.90", "0.4.0", "1.0.0", "0.4.0.dev1", "main"])
def test_a_release_outside_it_is_refused_naming_the_supported_range(version: str) -> None:
    with pytest.raises(BackendError) as raised:
        _llama.check_version(version)
    message = str(raised.value)
    assert ">=0.3.36,<0.4" in message
    assert f"{version} is installed" in message
    assert "pip install" in message
    assert not raised.value.retryable


def test_the_installed_release_is_in_the_range() -> None:
    _llama.check_version(importlib.metadata.version("llama-cpp-python"))


def test_the_extras_name_the_range_the_adapter_accepts() -> None:
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    for extra in ("local", "server"):
        (requirement,) = [r for r in extras[extra] if r.startswith("llama-cpp-python")]
        assert re.sub(r"\[.*?\]", "", requirement) == f"llama-cpp-python{_llama.SUPPORTED}"
