"""The embedded local backend on the bundled Gemma 3 270M: grammar, KV cache, the run layer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from promptkit import compile_batch, compile_prompt, grounded, load_task
from promptkit.backends import GenerationParams
from promptkit.backends.local import LocalBackend, default_model_path
from promptkit.backends.local.backend import load
from promptkit.backends.local.decoding import Sampler, decode
from promptkit.errors import BackendError
from promptkit.execution import run_many

pytestmark = pytest.mark.integration

TASK = load_task("apparel-search")
PARAMS = GenerationParams(max_tokens=48, seed=0)


def test_the_bundled_base_model_gets_the_completion_layout(local_backend: LocalBackend) -> None:
    assert local_backend.layout == "completion"
    assert local_backend.name == "local:gemma-3-270m-q4_k_m"


def test_replies_follow_the_schema_and_the_shared_prefix_stays_cached(
    local_backend: LocalBackend,
) -> None:
    prompts = [
        compile_prompt(TASK, search, layout="completion", shots=6, selector="first")
        for search in ("red t shirts long sleeve 10yrs boy", "mens v neck sweater")
    ]
    first, second = (local_backend.complete(prompt, PARAMS) for prompt in prompts)
    for reply in (first, second):
        value = json.loads(reply.text)  # the grammar admits only JSON of the schema
        assert set(value) <= set(TASK.output_model.model_fields)
        assert reply.prompt_tokens > 100
    # Instructions and examples come first: only the search differs between the two.
    assert second.cached_tokens > 0.8 * second.prompt_tokens


def test_with_caching_defeated_nothing_is_reused(local_backend: LocalBackend) -> None:
    cold = LocalBackend(n_ctx=2048, n_threads=2, cache_prompt=False)
    prompt = compile_prompt(TASK, "black crew neck sweatshirt", layout="completion", shots=2)
    local_backend.complete(prompt, PARAMS)
    assert cold.complete(prompt, PARAMS).cached_tokens == 0


def test_the_few_shot_task_runs_end_to_end(local_backend: LocalBackend) -> None:
    searches = ["red t shirts long sleeve 10yrs boy", "white sleeveless maxi dress"]
    results = run_many(TASK, searches, backend=local_backend, params=PARAMS)
    assert all(result.ok for result in results), [result.error for result in results]
    assert all(isinstance(result.value, TASK.output_model) for result in results)
    # Which attributes a 270M model finds varies with llama.cpp's arithmetic (how the KV cache
    # was laid out by earlier calls); that every one it keeps is words of its search does not.
    every_field = grounded(*TASK.output_model.model_fields)
    assert all(every_field(result.value, result.input) == [] for result in results)
    assert all(result.usage.prompt_tokens > 0 for result in results)
    assert all(result.to_record()["attempts"] >= 1 for result in results)


class _MaskEveryStep:
    """The reference: the grammar's mask applied to the logits before every draw (greedy)."""

    def sample(self, context: Any, row: int, matcher: Any) -> int:
        import numpy

        logits = context.logits(row).copy()
        bits = numpy.frombuffer(matcher.compute_bitmask(), dtype=numpy.uint8)
        allowed = numpy.unpackbits(bits, bitorder="little")[: logits.size].astype(bool)
        logits[~allowed] = -numpy.inf
        return int(numpy.argmax(logits))


@dataclass(frozen=True)
class _Decoded:
    text: str
    completion_tokens: int
    forced_tokens: int


def _generate(backend: LocalBackend, text: str, schema: dict[str, Any], **options: Any) -> _Decoded:
    """Decode one reply to ``schema`` from an empty KV cache (so the logits are the same)."""
    loaded = load(str(default_model_path()), backend.n_ctx, backend.n_threads)
    loaded.context.forget()
    tokens = loaded.model.tokenize(text.encode("utf-8"), add_bos=True, special=False)
    sampler = options.pop("sampler", None) or Sampler(
        GenerationParams(temperature=0.0), loaded.context
    )
    matcher = loaded.grammar.matcher(json.dumps(schema))
    streams, _ = decode(
        loaded.context, tokens, sampler, [matcher], opener=[], max_tokens=80, stops=[], **options
    )
    produced = streams[0].produced
    return _Decoded(loaded.model.detokenize(produced).decode(), len(produced), streams[0].forced)


class _Compared:
    """At every step, from the very same logits: the model's favourite, whether the grammar
    accepts it, what our sampler draws and what masking first draws.

    Two separate decodes would differ by llama.cpp's arithmetic alone (how the KV cache was
    filled before) and by tokenisation: the grammar's mask leaves out some tokens that
    ``validate_tokens`` accepts (another split of the same text), so after such a step the
    two decodes go on from different tokens. One decode that asks both at each step compares
    the samplers themselves.
    """

    def __init__(self, ours: Sampler) -> None:
        self.ours = ours
        self.reference = _MaskEveryStep()
        self.steps: list[tuple[int, bool, int, int]] = []

    def sample(self, context: Any, row: int, matcher: Any) -> int:
        import numpy

        favourite = int(numpy.argmax(context.logits(row)))
        accepted = matcher.validate_tokens([favourite]) == 1
        masked = self.reference.sample(context, row, matcher)  # on a copy of the logits
        drawn = self.ours.sample(context, row, matcher)
        self.steps.append((favourite, accepted, drawn, masked))
        return drawn


def test_the_sampled_token_is_kept_when_the_grammar_accepts_it_else_masking_draws(
    local_backend: LocalBackend,
) -> None:
    few_shot = compile_prompt(TASK, "mens v neck sweater", layout="completion", shots=4)
    loaded = load(str(default_model_path()), local_backend.n_ctx, local_backend.n_threads)
    # The second text asks for prose: its first tokens break the grammar, so the mask has
    # to step in for the reply to be JSON at all.
    for text in (few_shot.text or "", "Write a long poem about summer dresses.\n\n"):
        compared = _Compared(Sampler(GenerationParams(temperature=0.0), loaded.context))
        reply = _generate(
            local_backend, text, few_shot.json_schema, fast_forward=False, sampler=compared
        )
        wrong = [
            step
            for step in compared.steps
            if step[2] != (step[0] if step[1] else step[3])  # favourite, or the masked best
        ]
        assert compared.steps
        assert wrong == [], wrong
        assert reply.text.startswith("{")  # the prose reply may be cut off by max_tokens
    assert any(not accepted for _, accepted, _, _ in compared.steps)  # the mask did step in


def test_tokens_the_grammar_forces_are_fast_forwarded_not_sampled(
    local_backend: LocalBackend,
) -> None:
    searches = ["red dress", "mens v neck sweater", "kids socks"]
    prompt = compile_batch(TASK, searches, layout="completion", shots=4)
    reply = _generate(local_backend, prompt.text or "", prompt.json_schema)
    assert [item["id"] for item in json.loads(reply.text)] == list(prompt.item_ids)
    # At least every item's opening and pinned id, '{"id":N', is forced.
    assert reply.forced_tokens >= len(searches)
    assert reply.forced_tokens < reply.completion_tokens
    sampled = _generate(local_backend, prompt.text or "", prompt.json_schema, fast_forward=False)
    assert sampled.forced_tokens == 0
    assert [item["id"] for item in json.loads(sampled.text)] == list(prompt.item_ids)


def test_keys_come_in_the_order_of_the_output_model(local_backend: LocalBackend) -> None:
    order = list(TASK.output_model.model_fields)
    searches = ["red long sleeve v neck t shirt", "black crew neck sweatshirt", "white tank top"]
    for search in searches:
        prompt = compile_prompt(TASK, search, layout="completion", shots=8)
        keys = list(json.loads(local_backend.complete(prompt, PARAMS).text))
        assert keys == sorted(keys, key=order.index), (search, keys)


def test_a_constrained_type_is_words_of_its_own_search_and_invented_colours_are_nulled(
    local_backend: LocalBackend,
) -> None:
    # Zero-shot, the 270M model invents attributes. The grammar leaves it only the search's
    # own phrases (or null) for the type; the grounded check nulls an invented colour.
    searches = ["gifts for dad", "navy crewneck sweater", "kids socks size 10"]
    for search in searches:
        prompt = compile_prompt(TASK, search, layout="completion", shots=0)
        value = json.loads(local_backend.complete(prompt, PARAMS).text)
        assert value.get("type") is None or value["type"].lower() in search, (search, value)
    results = run_many(TASK, searches, backend=local_backend, params=PARAMS, shots=0)
    for search, result in zip(searches, results, strict=True):
        assert result.value.colour is None or result.value.colour.lower() in search


def test_a_batch_reply_holds_every_item_once_in_order(local_backend: LocalBackend) -> None:
    searches = ["red dress", "mens v neck sweater", "kids socks", "black jeans", "white top"]
    prompt = compile_batch(TASK, searches, layout="completion", shots=8)
    reply = local_backend.complete(prompt, GenerationParams(max_tokens=200, seed=0))
    items = json.loads(reply.text)
    assert [item["id"] for item in items] == [9, 10, 11, 12, 13]  # after the 8 examples
    for search, item in zip(searches, items, strict=True):
        assert item.get("type") is None or item["type"].lower() in search


def test_items_decoded_side_by_side_are_each_items_own_reply_from_the_prompt(
    local_backend: LocalBackend,
) -> None:
    searches = ["red dress", "mens v neck sweater", "kids socks", "black jeans", "white top"]
    prompt = compile_batch(TASK, searches, layout="completion", shots=8)
    side_by_side = local_backend.complete(prompt, GenerationParams(max_tokens=200, temperature=0))
    assert side_by_side.finish_reason == "stop"
    assert side_by_side.text.startswith(" [")
    items = json.loads(side_by_side.text)
    assert [item["id"] for item in items] == list(prompt.item_ids)
    # Each item is one its own grammar admits (narrowed to its own search). Not compared
    # token for token with one stream per item: llama.cpp's batched decode is not bit-identical
    # to a single sequence's, and a greedy near-tie can go the other way (seen: "red dress"
    # side by side, "dress" alone).
    for item, schema in zip(items, prompt.json_schema["prefixItems"], strict=True):
        jsonschema.validate(item, schema)


def test_items_cut_off_by_their_share_of_the_token_limit_are_left_out(
    local_backend: LocalBackend,
) -> None:
    searches = ["red dress", "mens v neck sweater", "kids socks"]
    prompt = compile_batch(TASK, searches, layout="completion", shots=8)
    whole = local_backend.complete(prompt, GenerationParams(max_tokens=200, temperature=0))
    assert [item["id"] for item in json.loads(whole.text)] == [9, 10, 11]
    assert whole.finish_reason == "stop"
    # Four tokens each cannot even hold '{"id":N,': every item is cut off and left out.
    short = GenerationParams(max_tokens=12, temperature=0)
    cut = local_backend.complete(prompt, short)
    assert (cut.text, cut.finish_reason) == (" []", "length")
    # The run layer sends the cut-off items again with more tokens: no item is lost.
    results = run_many(TASK, searches, backend=local_backend, params=short, batch_size=3, shots=8)
    assert all(result.ok for result in results), [result.error for result in results]
    assert [result.index for result in results] == [0, 1, 2]


def test_a_table_reply_is_one_row_per_item_read_back_typed(
    local_backend: LocalBackend,
) -> None:
    searches = ["red dress", "mens v neck sweater", "kids socks"]
    prompt = compile_batch(TASK, searches, layout="completion", shots=8, reply_format="table")
    reply = local_backend.complete(prompt, GenerationParams(max_tokens=120, temperature=0))
    lines = reply.text.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["9", "10", "11"]
    assert all(line.count("\t") == 4 for line in lines)  # every cell, empty ones too
    assert reply.text.endswith("\n")
    assert reply.finish_reason == "stop"
    results = run_many(TASK, searches, backend=local_backend, batch_size=3, shots=8,
                       reply_format="table")  # fmt: skip
    assert all(result.ok for result in results), [result.error for result in results]
    for search, result in zip(searches, results, strict=True):
        assert result.value.type is None or result.value.type.lower() in search


def test_a_prompt_longer_than_the_context_window_is_a_clear_error(
    local_backend: LocalBackend,
) -> None:
    prompt = compile_prompt(TASK, "red dress " * 1500, layout="completion", shots=1)
    with pytest.raises(BackendError, match="more than the context window allows") as raised:
        local_backend.complete(prompt, PARAMS)
    assert not raised.value.retryable
    # The backend is left usable.
    after = local_backend.complete(compile_prompt(TASK, "red dress", layout="completion"), PARAMS)
    assert after.finish_reason == "stop"
    assert set(json.loads(after.text)) <= set(TASK.output_model.model_fields)


def test_a_chat_prompt_for_a_model_without_a_chat_template_is_a_clear_error(
    model_path: Path, local_backend: LocalBackend
) -> None:
    declared = LocalBackend(model_path, chat=True, n_ctx=local_backend.n_ctx, n_threads=2)
    prompt = compile_prompt(TASK, "red dress", layout="chat", shots=1)
    with pytest.raises(BackendError, match="no chat template") as raised:
        declared.complete(prompt, PARAMS)
    assert not raised.value.retryable
