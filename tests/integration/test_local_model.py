"""The embedded local backend on the bundled Gemma 3 270M: grammar, KV cache, the run layer."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from promptkit import compile_batch, compile_prompt, load_task
from promptkit.backends import GenerationParams
from promptkit.backends.local import LocalBackend, _grammar, _load
from promptkit.run import run_many

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
        compile_prompt(TASK, search, layout="completion", shots=6)
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
    assert results[0].value.colour == "red"
    assert all(result.usage.prompt_tokens > 0 for result in results)
    assert all(result.to_record()["attempts"] >= 1 for result in results)


def test_checking_the_grammar_last_draws_what_grammar_first_draws(
    model_path: Path, local_backend: LocalBackend
) -> None:
    import llama_cpp

    ours = _load(str(model_path), local_backend.n_ctx, local_backend.n_threads).llama
    with contextlib.redirect_stderr(io.StringIO()):
        stock = llama_cpp.Llama(model_path=str(model_path), n_ctx=2048, n_threads=2, verbose=False)
    few_shot = compile_prompt(TASK, "mens v neck sweater", layout="completion", shots=4)
    grammar = _grammar(json.dumps(few_shot.json_schema, sort_keys=True))
    # The second text asks for prose: its first tokens break the grammar, so the
    # whole-vocabulary fallback has to step in for the reply to be JSON at all.
    for text in (few_shot.text or "", "Write a long poem about summer dresses.\n\n"):
        tokens = ours.tokenize(text.encode("utf-8"), add_bos=True, special=False)
        ours.reset()  # the same prompt evaluated from scratch gives the very same logits
        replies = [
            llama.create_completion(tokens, grammar=grammar, temperature=0.0, max_tokens=40)
            for llama in (ours, stock)
        ]
        ours_text, stock_text = (reply["choices"][0]["text"] for reply in replies)
        assert ours_text == stock_text
        assert ours_text.lstrip().startswith("{")
    stock.close()


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
    assert [item["id"] for item in items] == [1, 2, 3, 4, 5]
    for search, item in zip(searches, items, strict=True):
        assert item.get("type") is None or item["type"].lower() in search
