"""Decoding for the local backend: replies side by side in one context, the grammar checked last.

A :class:`Context` keeps the last prompt in its KV cache and lets several
reply streams continue it, each in a sequence of its own; :func:`decode`
drives them step by step, taking the tokens a grammar forces without
sampling them; :class:`Sampler` draws a token as if unconstrained and masks
the logits only when the grammar refuses it. llama.cpp itself is reached
through the adapter (:mod:`promptkit.backends.local._llama`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from promptkit.backends.local._llama import Model, NativeContext, Row, SamplerChain, default_seed
from promptkit.errors import BackendError
from promptkit.prompt import GenerationParams


class Context:
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

    def __init__(self, model: Model, native: NativeContext, streams: int) -> None:
        self.model = model
        self.native = native
        self.streams = streams
        self._held: list[int] = []
        self.seed = default_seed()  # the last seed a sampler used

    def start(self, tokens: list[int], sequences: range) -> tuple[int, list[Row]]:
        """Set up ``sequences`` (``range(n)``) to continue the prompt ``tokens``.

        Sequence 0 keeps the prompt; the others start as copies of it.
        Returns how many of the prompt's tokens the KV cache already holds,
        and the rows that evaluate the rest in every one of ``sequences`` at
        once; the last prompt token's logits are kept (it is evaluated again
        when the whole prompt is held). The caller decodes the rows, with its
        streams' first tokens, and calls :meth:`end` when they are done.
        """
        reused = min(reused_prefix(self._held, tokens), len(tokens) - 1)
        self.native.remove(0, reused)
        for sequence in sequences[1:]:
            self.native.copy(0, sequence)
        self._held = list(tokens)
        every = tuple(sequences)
        last = len(tokens) - 1
        return reused, [
            (token, position, every, position == last)
            for position, token in enumerate(tokens[reused:], start=reused)
        ]

    def end(self, sequences: range) -> None:
        """Cut sequence 0 back to the prompt and free the other sequences' own cells."""
        self.native.remove(0, len(self._held))
        for sequence in sequences[1:]:
            self.native.remove(sequence, -1)

    def forget(self) -> None:
        """Empty the KV cache."""
        self.native.clear()
        self._held = []

    def decode(self, rows: list[Row]) -> None:
        """Evaluate the rows in one llama.cpp batch."""
        status = self.native.decode(rows)
        if status != 0:
            self.forget()  # what the cache holds is no longer known
            raise BackendError(
                f"llama.cpp could not evaluate the tokens (status {status})", retryable=False
            )

    def logits(self, row: int) -> Any:
        """The logits of a row of the last :meth:`decode`, as a writable numpy array."""
        return self.native.logits(row)


def reused_prefix(held: list[int], tokens: list[int]) -> int:
    """Count the leading tokens of ``tokens`` that ``held`` (what the KV cache holds) shares."""
    shared = 0
    for old, new in zip(held, tokens, strict=False):
        if old != new:
            break
        shared += 1
    return shared


@dataclass(slots=True)
class Stream:
    """One reply being decoded: its grammar, its tokens, and how it ended."""

    matcher: Any | None  # an llguidance.LLMatcher, or None for no grammar
    pending: list[int]  # tokens to evaluate before the next draw
    position: int  # where the first pending token goes
    produced: list[int] = field(default_factory=list)
    forced: int = 0
    finish: str = ""  # "stop" or "length" once it ended


def decode(
    context: Context,
    tokens: list[int],
    sampler: Sampler,
    matchers: list[Any | None],
    *,
    opener: list[int],
    max_tokens: int,
    stops: list[str],
    fast_forward: bool = True,
) -> tuple[list[Stream], int]:
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
    model = context.model
    streams = [Stream(matcher, list(opener), len(tokens)) for matcher in matchers]
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
            drawing: list[tuple[Stream, int]] = []
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
                if model.is_end(token):
                    stream.finish = "stop"
                    continue
                if stream.matcher is not None:
                    stream.matcher.consume_token(token)
                stream.produced.append(token)
                stream.pending = [token]
                if stops and stopped(model, stream.produced, stops):
                    stream.finish = "stop"
            group = [(sequence, stream) for sequence, stream in group if not stream.finish]
        context.end(sequences)
    return streams, cached


def stopped(model: Model, produced: list[int], stops: list[str]) -> bool:
    """Whether the last tokens produced spell one of the stop strings."""
    tail = model.detokenize(produced[-8:]).decode("utf-8", errors="replace")
    return any(stop in tail for stop in stops)


def cut_at_stop(text: str, stops: list[str]) -> str:
    """Cut a reply at the first stop string in it."""
    found = [text.find(stop) for stop in stops if stop in text]
    return text[: min(found)] if found else text


def joined_items(opener: str, texts: list[str], finishes: list[str]) -> tuple[str, str]:
    """Join items decoded side by side into the array the batch grammar would give.

    An item cut off by its share of the token limit is left out, so that the
    items that did finish are kept; the finish reason is then ``length``.
    """
    finished = [text for text, finish in zip(texts, finishes, strict=True) if finish == "stop"]
    whole = len(finished) == len(texts)
    return opener + ",".join(finished) + "]", "stop" if whole else "length"


def joined_rows(texts: list[str], finishes: list[str]) -> tuple[str, str]:
    """Join table rows decoded side by side, as the row grammar would give them.

    A row cut off by its share of the token limit is left out, as in :func:`joined_items`.
    """
    finished = [text for text, finish in zip(texts, finishes, strict=True) if finish == "stop"]
    whole = len(finished) == len(texts)
    return "".join(finished), "stop" if whole else "length"


class Sampler:
    """llama.cpp's sampler chain, with the grammar's mask applied only when needed.

    The chain is top-k, top-p, min-p, temperature and a seeded draw, or
    greedy at temperature 0. A token drawn from the unconstrained logits is
    kept when the grammar accepts it; otherwise the logits the grammar
    refuses are set to minus infinity and the chain draws again. Kept or
    drawn again, the draw follows the masked distribution, and at
    temperature 0 it is the most likely allowed token; but computing the
    mask over Gemma's 262,144 tokens is needed only on the few steps where
    the model strays.
    """

    def __init__(self, params: GenerationParams, context: Context) -> None:
        temperature = params.temperature if params.temperature is not None else 0.8
        seed = 0
        if temperature > 0:
            # As llama-cpp-python's create_completion: an unset seed is drawn from the last
            # seed used, so a process's sequence of calls is repeatable.
            seed = params.seed if params.seed is not None else _next_seed(context.seed)
            context.seed = seed
        self._chain = SamplerChain(
            temperature=temperature,
            top_k=params.top_k if params.top_k is not None else 40,
            top_p=params.top_p if params.top_p is not None else 0.95,
            min_p=0.05,
            seed=seed,
        )

    def sample(self, context: Context, row: int, matcher: Any | None) -> int:
        """Draw the next token from the logits of ``row`` of the last evaluated batch."""
        token = self._chain.sample(context.native, row)
        if matcher is None or matcher.validate_tokens([token]) == 1:
            return token
        import numpy  # llama-cpp-python's own dependency

        logits = context.logits(row)
        bits = numpy.frombuffer(matcher.compute_bitmask(), dtype=numpy.uint8)
        allowed = numpy.unpackbits(bits, bitorder="little")[: logits.size].astype(bool)
        logits[~allowed] = -numpy.inf
        return self._chain.sample(context.native, row)


def _next_seed(last: int) -> int:
    return random.Random(last).randint(0, 2**32)
