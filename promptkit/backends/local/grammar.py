"""Reply grammars for the local backend: a JSON Schema, or a table's Lark grammar, as a matcher.

llguidance (the grammar engine llama.cpp can also be built with) compiles a
schema once per model and hands out a fresh matcher per reply; the decoder
asks it which tokens are allowed, which are forced, and whether the reply
is complete.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

from promptkit.backends.local._llama import Model
from promptkit.errors import BackendError


class Grammars:
    """Reply grammars for one model: its llguidance tokenizer, and one grammar per schema."""

    def __init__(self, model: Model) -> None:
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
        return self._matcher(self._compiled(schema), "JSON Schema")

    def rows_matcher(self, lark: str) -> Any:
        """A fresh matcher for a table reply (:mod:`promptkit.rows`): its Lark grammar."""
        return self._matcher(self._llguidance.LLMatcher.grammar_from_lark(lark), "row grammar")

    def _matcher(self, grammar: str, what: str) -> Any:
        matcher = self._llguidance.LLMatcher(self._tokenizer, grammar, log_level=0)
        if matcher.is_error():
            raise BackendError(
                f"the reply's {what} gives no grammar: {matcher.get_error()}", retryable=False
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
