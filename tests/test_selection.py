"""Example selection: first, seeded random, similar, diverse, token budget, leave-one-out."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from promptkit import Example, Strategy, Task, compile_prompt
from promptkit.errors import TaskDefinitionError
from promptkit.selection import (
    ExampleIndex,
    estimate_tokens,
    example_index,
    example_text,
    select_examples,
    terms,
)


class Found(BaseModel):
    type: str | None = None


SEARCHES = [
    "red t shirts long sleeve",
    "black crew neck sweatshirt",
    "white sleeveless maxi dress",
    "navy turtleneck sweater",
    "kids socks size 10",
    "green bay packers jersey",
    "long sleeve polo shirts",
    "pink floyd t shirt",
    "puff sleeve dress",
    "halter neck top",
]


def make_task(searches: list[str] = SEARCHES, **strategy: object) -> Task:
    return Task(
        name="find-type",
        instructions="Find the product type.",
        input_model="search",
        output_model=Found,
        examples=[Example(search, {"type": search.split()[-1]}) for search in searches],
        strategy=Strategy(**strategy),  # type: ignore[arg-type]
    )


def searches(chosen: tuple[Example, ...]) -> list[str]:
    return [example.input.search for example in chosen]


TASK = make_task()


def pick(query: str, **options: object) -> list[str]:
    options.setdefault("shots", 3)
    item = TASK.make_input(query)
    return searches(select_examples(TASK, [item], **options))  # type: ignore[arg-type]


def test_first_takes_the_pool_in_order() -> None:
    assert pick("anything", selector="first") == SEARCHES[:3]


def test_shots_none_takes_the_whole_pool_and_zero_takes_none() -> None:
    assert pick("anything", shots=None) == SEARCHES
    assert pick("anything", shots=0) == []


def test_an_input_never_appears_among_its_own_examples() -> None:
    for selector in ("first", "random", "similar", "diverse"):
        chosen = pick(SEARCHES[1], selector=selector, shots=3)
        assert SEARCHES[1] not in chosen, selector
        assert len(chosen) == 3, selector
    # With every example asked for, the pool minus the input itself.
    assert pick(SEARCHES[0], shots=None) == SEARCHES[1:]


def test_a_batch_excludes_every_one_of_its_inputs() -> None:
    items = [TASK.make_input(SEARCHES[0]), TASK.make_input(SEARCHES[2])]
    chosen = searches(select_examples(TASK, items, shots=3))
    assert chosen == [SEARCHES[1], SEARCHES[3], SEARCHES[4]]


def test_random_is_deterministic_for_a_seed_and_varies_with_it() -> None:
    first = pick("x", selector="random", seed=1, shots=4)
    assert first == pick("x", selector="random", seed=1, shots=4)
    assert len(set(first)) == 4
    assert set(first) <= set(SEARCHES)
    samples = {tuple(pick("x", selector="random", seed=seed, shots=4)) for seed in range(8)}
    assert len(samples) > 1


def test_similar_puts_the_closest_example_next_to_the_input() -> None:
    chosen = pick("red tshirts long sleeves", selector="similar", shots=3)
    assert chosen[-1] == "red t shirts long sleeve"
    assert "long sleeve polo shirts" in chosen


def test_a_batch_gets_each_of_its_inputs_nearest_example() -> None:
    # Joined into one query, the long search's words would outweigh the short one's.
    items = [TASK.make_input("long sleeve polo shirts long sleeve t shirts"),
             TASK.make_input("turtlenek sweatr")]  # fmt: skip
    chosen = searches(select_examples(TASK, items, shots=2, selector="similar"))
    assert sorted(chosen) == ["long sleeve polo shirts", "navy turtleneck sweater"]
    joined = example_index(TASK).nearest("long sleeve polo shirts long sleeve t shirts "
                                         "turtlenek sweatr", 2)  # fmt: skip
    assert SEARCHES.index("navy turtleneck sweater") not in joined


def test_similar_matches_misspellings_through_character_trigrams() -> None:
    chosen = pick("turtlenek sweatr", selector="similar", shots=1)
    assert chosen == ["navy turtleneck sweater"]


def test_similar_fills_up_with_pool_order_when_nothing_matches() -> None:
    assert pick("qqq", selector="similar", shots=2) == list(reversed(SEARCHES[:2]))


def test_diverse_avoids_duplicates_that_similar_takes() -> None:
    shirt = "red long sleeve shirt"
    task = make_task([shirt, shirt, shirt, "red long sleeve dress", "blue socks"])
    item = task.make_input("red long sleeve shirt top")
    similar = searches(select_examples(task, [item], shots=2, selector="similar"))
    diverse = searches(select_examples(task, [item], shots=2, selector="diverse"))
    assert similar == [shirt, shirt]
    assert diverse == ["red long sleeve dress", shirt]


def test_token_budget_keeps_as_many_examples_as_fit() -> None:
    costs = [estimate_tokens(example_text(example)) for example in TASK.examples]
    budget = costs[0] + costs[1] + costs[2] - 1
    assert pick("anything", shots=None, token_budget=budget) == SEARCHES[:2]
    assert pick("anything", shots=None, token_budget=0) == []


def test_token_budget_uses_the_given_tokenizer() -> None:
    def one_per_example(text: str) -> int:
        return 1

    chosen = pick("anything", shots=None, token_budget=4, count_tokens=one_per_example)
    assert chosen == SEARCHES[:4]


def test_estimate_tokens_rounds_up() -> None:
    assert [estimate_tokens(text) for text in ("", "a", "abcd", "abcde")] == [0, 1, 1, 2]


def test_terms_are_words_and_padded_trigrams() -> None:
    assert terms("Red-T") == ["red", " re", "red", "ed ", "t", " t "]


def test_index_is_built_once_per_task() -> None:
    assert example_index(TASK) is example_index(TASK)
    assert example_index(make_task()) is not example_index(TASK)


def test_scores_rank_exact_match_first() -> None:
    index = ExampleIndex.build(["red dress", "blue dress", "red shirt"])
    assert index.nearest("red dress", 3)[0] == 0
    assert index.cosine(0, 0) == pytest.approx(1.0)
    assert 0 < index.cosine(0, 1) < 1


def test_unknown_selector_is_refused() -> None:
    with pytest.raises(ValueError, match="selector must be"):
        pick("x", selector="nearest")
    with pytest.raises(ValueError, match="selector must be"):
        Strategy(selector="nearest")  # type: ignore[arg-type]


def test_compile_uses_the_strategy_selector_and_per_call_overrides() -> None:
    task = make_task(shots=1, selector="similar")
    prompt = compile_prompt(task, "halter neck tops")
    assert '"halter neck top"' in prompt.messages[1].content
    first = compile_prompt(task, "halter neck tops", selector="first")
    assert '"red t shirts long sleeve"' in first.messages[1].content


def test_compile_leaves_the_input_out_of_its_own_examples() -> None:
    prompt = compile_prompt(TASK, SEARCHES[0], shots=2)
    shown = [message.content for message in prompt.messages[1:-1:2]]
    assert shown == [f'Search: "{SEARCHES[1]}"', f'Search: "{SEARCHES[2]}"']


@settings(max_examples=40, deadline=None)
@given(
    query=st.text(min_size=0, max_size=30),
    selector=st.sampled_from(["first", "random", "similar", "diverse"]),
    shots=st.integers(min_value=0, max_value=12),
    seed=st.integers(min_value=0, max_value=5),
)
def test_selection_is_deterministic_and_well_formed(
    query: str, selector: str, shots: int, seed: int
) -> None:
    item = TASK.make_input(query)
    once = select_examples(TASK, [item], shots=shots, selector=selector, seed=seed)  # type: ignore[arg-type]
    again = select_examples(TASK, [item], shots=shots, selector=selector, seed=seed)  # type: ignore[arg-type]
    assert once == again
    assert len(once) == min(shots, len(SEARCHES) - (query in SEARCHES))
    assert len(set(map(id, once))) == len(once)
    assert all(example.input != item for example in once)


def brute_force(index: ExampleIndex, query: str) -> dict[int, float]:
    found: dict[int, float] = {}
    for term, times in Counter(terms(query)).items():
        for number, weight in index.postings.get(term, {}).items():
            found[number] = found.get(number, 0.0) + weight * times
    return found


WORDS = ["red", "blue", "long", "sleeve", "shirt", "dress", "neck", "v", "tee", "mens", "kids"]


@settings(max_examples=25, deadline=None)
@given(
    pool=st.lists(
        st.lists(st.sampled_from(WORDS), min_size=1, max_size=5).map(" ".join),
        min_size=1,
        max_size=200,
    ),
    query=st.lists(st.sampled_from(WORDS), max_size=5).map(" ".join),
    count=st.integers(min_value=1, max_value=10),
)
def test_top_scores_are_exact_and_ranked(pool: list[str], query: str, count: int) -> None:
    index = ExampleIndex.build(pool)
    exact = brute_force(index, query)
    top = index.top(query, count)
    assert len(top) == min(count, len(exact))
    for number, score in top:
        assert score == pytest.approx(exact[number])
    assert [score for _, score in top] == sorted((score for _, score in top), reverse=True)


def test_top_matches_the_exact_ranking_on_a_small_pool() -> None:
    pool = [f"item{number} {WORDS[number % len(WORDS)]}" for number in range(40)]
    index = ExampleIndex.build(pool)
    exact = brute_force(index, "red sleeve item3")
    expected = sorted(exact, key=lambda number: (-exact[number], number))[:5]
    assert [number for number, _ in index.top("red sleeve item3", 5)] == expected


def test_pinned_examples_open_every_prompt_before_the_selected_ones() -> None:
    pinned = make_task(shots=4, selector="similar", pinned=2)
    for query in ("puff sleeve dress for girls", "navy sweater"):
        item = pinned.make_input(query)
        shown = searches(select_examples(pinned, [item], shots=4, selector="similar", pinned=2))
        assert shown[:2] == SEARCHES[:2]  # the shared prefix, in the task's order
        unpinned = pick(query, shots=6, selector="similar")
        rest = [search for search in unpinned if search not in SEARCHES[:2]][-2:]
        assert shown[2:] == rest  # the selector's choice, closest last
    # A pinned example that is the input itself is left out, as any example is.
    own = select_examples(pinned, [pinned.make_input(SEARCHES[0])], shots=4, pinned=2)
    assert SEARCHES[0] not in searches(own)
    assert len(own) == 4
    prompt = compile_prompt(pinned, "navy sweater")
    assert prompt.messages[1].content == f'Search: "{SEARCHES[0]}"'


def test_a_strategy_cannot_pin_more_examples_than_the_task_has() -> None:
    with pytest.raises(TaskDefinitionError, match="pins 11 examples, but the task has 10"):
        make_task(shots=4, pinned=11)
    with pytest.raises(ValueError, match="pinned must be 0 or more"):
        Strategy(pinned=-1)
