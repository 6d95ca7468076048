"""The adapter to llama-cpp-python: every use of the ``llama_cpp`` package is in this module.

The local backend drives llama.cpp below llama-cpp-python's ``Llama`` class:
its own context with a unified KV cache and several sequences, its own
batches and its own sampler chain. That needs llama-cpp-python's private
``_internals`` classes (``LlamaModel``, ``LlamaContext``, ``LlamaBatch``,
``LlamaSampler``), its ``_logger`` and a context's ``_exit_stack``, which a
release may change without notice. They are reached here and nowhere
else, behind three small classes (:class:`Model`, :class:`NativeContext`,
:class:`SamplerChain`), and only the releases in :data:`SUPPORTED` are
accepted: importing this module with another installed raises a
:class:`~promptkit.errors.BackendError` naming the range.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib.metadata
import io
import re
from collections.abc import Sequence
from typing import Any

from promptkit.errors import BackendError

INSTALL_HINT = "pip install 'promptkit[local]'"

# The llama-cpp-python releases the local backend is tested with (the `local` and `server`
# extras in pyproject.toml name the same range). 0.3.36 has the memory API, kv_unified and
# flash_attn_type this module uses; a 0.4 may change the private classes it reaches.
LOWEST = (0, 3, 36)
BELOW = (0, 4, 0)
SUPPORTED = ">=0.3.36,<0.4"

Row = tuple[int, int, tuple[int, ...], bool]
"""A token to evaluate: the token, its position, its sequences, whether its logits are kept."""


def check_version(version: str) -> None:
    """Raise a :class:`BackendError` unless ``version`` of llama-cpp-python is supported."""
    found = re.match(r"(\d+)\.(\d+)\.(\d+)", version)
    numbers = tuple(int(part) for part in found.groups()) if found else None
    if numbers is None or not LOWEST <= numbers < BELOW:
        raise BackendError(
            f"the local backend supports llama-cpp-python {SUPPORTED}, and {version} is "
            f"installed: pip install 'llama-cpp-python{SUPPORTED}' (or {INSTALL_HINT})",
            retryable=False,
        )


def _check_installed() -> None:
    try:
        version = importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        return  # not installed: the first use says which extra installs it
    check_version(version)


_check_installed()


def _api() -> Any:
    try:
        import llama_cpp
    except ImportError as error:
        raise BackendError(
            f"the local backend needs llama-cpp-python: {INSTALL_HINT}", retryable=False
        ) from error
    return llama_cpp


class Model:
    """A loaded GGUF model: its tokenizer, vocabulary and metadata."""

    def __init__(self, path: str) -> None:
        api = _api()
        self._api = api
        self.native = api._internals.LlamaModel(
            path_model=path, params=api.llama_model_default_params(), verbose=False
        )
        self.vocab = self.native.vocab  # the llama_vocab pointer (llguidance reads it)
        self.n_vocab: int = self.native.n_vocab()

    def tokenize(self, text: bytes, add_bos: bool, special: bool) -> list[int]:
        """Tokenize UTF-8 text; ``special`` lets text spell control tokens."""
        return list(self.native.tokenize(text, add_bos=add_bos, special=special))

    def detokenize(self, tokens: Sequence[int]) -> bytes:
        """Turn tokens back into UTF-8 bytes."""
        return bytes(self.native.detokenize(list(tokens)))

    def is_end(self, token: int) -> bool:
        """Whether a token ends generation (end of turn, end of text)."""
        return bool(self._api.llama_vocab_is_eog(self.vocab, token))

    @functools.cached_property
    def metadata(self) -> dict[str, str]:
        """The model file's metadata (its keys and values as text)."""
        return dict(self.native.metadata())

    @functools.cached_property
    def chat_formatter(self) -> Any:
        """The model's own chat template, as llama-cpp-python applies it."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self.metadata.get("tokenizer.chat_template")
        if not template:
            raise BackendError(
                "the model file has no chat template: use chat=False (the completion layout)",
                retryable=False,
            )
        native = self.native
        return Jinja2ChatFormatter(
            template=template,
            eos_token=native.token_get_text(native.token_eos()),
            bos_token=native.token_get_text(native.token_bos()),
        )

    def close(self) -> None:
        """Free the model, and its contexts first."""
        self.native.close()


class NativeContext:
    """A llama.cpp context with a unified KV cache of ``sequences`` sequences, and its batch."""

    def __init__(self, model: Model, n_ctx: int, n_threads: int, sequences: int) -> None:
        api = _api()
        params = api.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_ctx  # a step is one decode call, so each row's logits stay readable
        params.n_seq_max = sequences
        params.kv_unified = True
        # Off, as Llama() has it. On (llama.cpp's default where supported), the evaluation's
        # greedy replies changed: 19 items scored worse, 10 better.
        params.flash_attn_type = api.LLAMA_FLASH_ATTN_TYPE_DISABLED
        params.n_threads = params.n_threads_batch = n_threads
        self._api = api
        self._native = api._internals.LlamaContext(model=model.native, params=params, verbose=False)
        self._batch = api._internals.LlamaBatch(
            n_tokens=n_ctx, embd=0, n_seq_max=sequences, verbose=False
        )
        self._native._exit_stack.callback(self._batch.close)  # freed with the context
        self._n_vocab = model.n_vocab

    def remove(self, sequence: int, start: int, end: int = -1) -> None:
        """Drop a sequence's cells from ``start`` to ``end`` (``-1``: the first, the last)."""
        self._api.llama_memory_seq_rm(self._native.memory, sequence, start, end)

    def copy(self, source: int, target: int) -> None:
        """Make ``target`` a copy of ``source`` (the unified cache shares the cells)."""
        self._api.llama_memory_seq_cp(self._native.memory, source, target, -1, -1)

    def clear(self) -> None:
        """Empty the KV cache."""
        self._api.llama_memory_clear(self._native.memory, True)

    def decode(self, rows: Sequence[Row]) -> int:
        """Evaluate the rows in one llama.cpp batch; return llama.cpp's status (0 is success)."""
        batch = self._batch.batch
        batch.n_tokens = len(rows)
        for index, (token, position, sequences, logits) in enumerate(rows):
            batch.token[index] = token
            batch.pos[index] = position
            batch.n_seq_id[index] = len(sequences)
            for slot, sequence in enumerate(sequences):
                batch.seq_id[index][slot] = sequence
            batch.logits[index] = logits
        return int(self._api.llama_decode(self._native.ctx, batch))

    def logits(self, row: int) -> Any:
        """The logits of a row of the last :meth:`decode`, as a writable numpy array."""
        import numpy  # llama-cpp-python's own dependency

        pointer = self._api.llama_get_logits_ith(self._native.ctx, row)
        return numpy.ctypeslib.as_array(pointer, shape=(self._n_vocab,))


class SamplerChain:
    """llama.cpp's sampler chain: greedy, or top-k, top-p, min-p, temperature and a seeded draw."""

    def __init__(
        self, *, temperature: float, top_k: int, top_p: float, min_p: float, seed: int
    ) -> None:
        api = _api()
        self._api = api
        self._chain = api._internals.LlamaSampler()
        if temperature <= 0:
            self._chain.add_greedy()
        else:
            self._chain.add_top_k(top_k)
            self._chain.add_top_p(top_p, 1)
            self._chain.add_min_p(min_p, 1)
            self._chain.add_temp(temperature)
            self._chain.add_dist(seed)

    def sample(self, context: NativeContext, row: int) -> int:
        """Draw a token from the logits of ``row`` of the context's last batch."""
        return int(self._api.llama_sampler_sample(self._chain.sampler, context._native.ctx, row))


def default_seed() -> int:
    """llama.cpp's default seed (what the first seeded draw of a process starts from)."""
    return int(_api().LLAMA_DEFAULT_SEED)


def load(path: str, n_ctx: int, n_threads: int, sequences: int) -> tuple[Model, NativeContext]:
    """Load a model and make its context, quietly; both are freed when the interpreter exits."""
    api = _api()
    # llama-cpp-python prints llama.cpp's log through Python's sys.stderr; at its quietest
    # it still prints error-level notes about cache layout.
    api._logger.set_verbose(False)
    with contextlib.redirect_stderr(io.StringIO()):
        _backend_init()
        model = Model(path)
        context = NativeContext(model, n_ctx, n_threads, sequences)
    # Free them while the interpreter is whole: left to __del__ at shutdown, they find
    # llama.cpp's bindings already torn down.
    atexit.register(model.close)  # closes the context first
    return model, context


@functools.cache
def _backend_init() -> None:
    _api().llama_backend_init()
