"""The local backend: a prompt in, a reply decoded in-process by llama.cpp out."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptkit._types import Layout
from promptkit.backends.base import Completion, GenerationParams
from promptkit.backends.local import _llama
from promptkit.backends.local.decoding import (
    Context,
    Sampler,
    cut_at_stop,
    decode,
    joined_items,
    joined_rows,
)
from promptkit.backends.local.grammar import Grammars
from promptkit.backends.local.model_file import DEFAULT_MODEL, default_model_path
from promptkit.errors import BackendError
from promptkit.prompt import Prompt
from promptkit.rows import row_grammar

# A batch prompt's items are decoded side by side, at most this many at once.
MAX_STREAMS = 32
# What each item of a batch reply is decoded after, and the joined reply starts with.
OPENER = " ["


@dataclass(frozen=True, slots=True)
class Loaded:
    """A loaded model, the context it decodes in, its reply grammars, and the lock.

    llama.cpp is not thread-safe; nor are a context's KV cache and sampler
    state: calls are serialised by the lock.
    """

    model: _llama.Model
    context: Context
    grammar: Grammars
    lock: threading.Lock


@dataclass(frozen=True, slots=True)
class _Reply:
    """What one generation produced, before it becomes a :class:`Completion`."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int


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
            self._chat = bool(self._loaded().model.metadata.get("tokenizer.chat_template"))
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

    def _generate(self, loaded: Loaded, prompt: Prompt, params: GenerationParams) -> _Reply:
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
            formatted = model.chat_formatter(
                messages=[{"role": m.role, "content": m.content} for m in prompt.messages]
            )
            tokens = model.tokenize(
                formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True
            )
            stops = [*params.stops_for(prompt), *_as_list(formatted.stop)]
        table = prompt.grammar is not None
        items = prompt.json_schema.get("prefixItems") if self.grammar and self.parallel else None
        if items and table:
            # Each row from the prompt, as if it were the first.
            keys = [key for key in items[0]["properties"] if key != "id"]
            opener = []
            grammars = [
                row_grammar([item], [item["properties"]["id"]["const"]], keys) for item in items
            ]
            matchers = [loaded.grammar.rows_matcher(grammar) for grammar in grammars]
        elif items:
            # Each item from the prompt and the array's opening, as if it were the first. The
            # space is the examples' ("Attributes: [..."); with it, fewer items run on.
            opener = model.tokenize(OPENER.encode("utf-8"), add_bos=False, special=False)
            matchers = [loaded.grammar.matcher(json.dumps(item)) for item in items]
        else:
            opener = []
            matchers = [_matcher(loaded.grammar, prompt) if self.grammar else None]
        # The streams share the prompt's cells; each writes the opener and its reply in its own.
        room = self.n_ctx - len(tokens) - len(matchers) * len(opener)
        if room <= 0:
            raise ValueError(
                f"the prompt has {len(tokens)} tokens, more than the context window allows"
            )
        streams, cached = decode(
            context,
            tokens,
            Sampler(params, context),
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
        if items and table:
            text, finish = joined_rows(texts, [stream.finish for stream in streams])
        elif items:
            text, finish = joined_items(OPENER, texts, [stream.finish for stream in streams])
        else:
            text, finish = texts[0], streams[0].finish
            if finish == "stop" and stops:
                text = cut_at_stop(text, stops)
        produced = len(opener) + sum(len(stream.produced) for stream in streams)
        return _Reply(text, finish, len(tokens), produced, cached)

    def _loaded(self) -> Loaded:
        path = self._path or default_model_path()
        return load(str(path), self.n_ctx, self.n_threads)


def _matcher(grammars: Grammars, prompt: Prompt) -> Any:
    """The matcher of a prompt's reply: its rows' grammar for a table, else its JSON Schema."""
    if prompt.grammar is not None:
        return grammars.rows_matcher(prompt.grammar)
    return grammars.matcher(json.dumps(prompt.json_schema))


@functools.cache
def load(path: str, n_ctx: int, n_threads: int) -> Loaded:
    """Load a model once per process for each file and settings."""
    model, native = _llama.load(path, n_ctx, n_threads, MAX_STREAMS)
    context = Context(model, native, MAX_STREAMS)
    return Loaded(model, context, Grammars(model), threading.Lock())


def _usable_cores() -> int:
    """Count the cores this process may run on (fewer than the machine's under a CPU mask)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _as_list(stop: str | list[str] | None) -> list[str]:
    if stop is None:
        return []
    return [stop] if isinstance(stop, str) else list(stop)
