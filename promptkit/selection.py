"""Example selection: which of a task's examples a prompt shows, for which input.

Four selectors, all deterministic for a seed and all pure:

- ``first``: the pool's first examples, in the order the task lists them;
- ``random``: a seeded sample of the pool (the same sample for every input);
- ``similar``: the examples whose inputs are lexically closest to the input,
  ranked by BM25 over words and character trigrams (so misspellings still
  match), the closest placed last, next to the input;
- ``diverse``: maximal marginal relevance over the most similar examples,
  trading closeness to the input against closeness to examples already chosen.

A token budget, when given, keeps as many of the chosen examples as fit,
counted with a tokenizer callable (a backend's, where it has one) or as
characters / 4. An input never appears among its own examples: an example
whose input equals an input being compiled is skipped, which is what makes
leave-one-out evaluation on a task's own examples honest.

The index behind ``similar`` and ``diverse`` is built once per task (tasks
hash by identity) and cached.
"""

from __future__ import annotations

import functools
import heapq
import json
import math
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain, zip_longest
from typing import Any

from pydantic import BaseModel

from promptkit._types import SELECTORS, SelectorName, check_choice
from promptkit.task import Example, Task

TokenCounter = Callable[[str], int]

_WORD = re.compile(r"[^\W_]+")
_K1 = 1.2
_B = 0.75
_MMR_LAMBDA = 0.6
_CANDIDATES = 4  # diverse: how many similar candidates per example asked for
_COMMON = 0.05  # a term in more than this share of the pool only rescores found examples


def select_examples(
    task: Task,
    items: Sequence[BaseModel],
    *,
    shots: int | None,
    selector: SelectorName = "first",
    seed: int = 0,
    token_budget: int | None = None,
    count_tokens: TokenCounter | None = None,
    pinned: int = 0,
) -> tuple[Example, ...]:
    """Choose the examples to show for some inputs, in the order to show them.

    Args:
        task: the task whose examples are the pool.
        items: the validated inputs being compiled (one, or a batch).
        shots: how many examples at most; ``None`` means all (or all that fit the budget).
        selector: ``first``, ``random``, ``similar`` or ``diverse``.
        seed: the seed of the ``random`` selector.
        token_budget: the most tokens the examples may take together; ``None`` for no limit.
        count_tokens: counts the tokens of a text; defaults to characters / 4.
        pinned: how many of the task's first examples open the selection, in
            their order, before the selector's choice of the rest.

    Returns:
        The examples, none of whose inputs equals one of ``items``.
    """
    check_choice("selector", selector, SELECTORS)
    pool = task.candidates
    limit = len(pool) if shots is None else min(shots, len(pool))
    if limit <= 0:
        return ()
    head = [e for e in task.examples[:pinned] if not _is_among(e.input, items)][:limit]
    skip = min(pinned, len(task.examples))  # the pinned examples are not selected again
    # Ask for a few more than needed: any of them may be an input under evaluation.
    wanted = limit + len(items) + skip
    if selector == "first":
        ranked: Sequence[int] = range(min(wanted, len(pool)))
    elif selector == "random":
        ranked = _sample(len(pool), wanted, seed)
    else:
        index = example_index(task)
        if selector == "similar":
            ranked = _nearest_in_turn([index.nearest(_text(item), wanted) for item in items])
        else:
            ranked = index.diverse(" ".join(_text(item) for item in items), wanted)
    chosen = [pool[i] for i in ranked if i >= skip and not _is_among(pool[i].input, items)]
    chosen = head + chosen[: limit - len(head)]
    if token_budget is not None:
        chosen = _within_budget(chosen, token_budget, count_tokens or estimate_tokens)
    if selector in ("similar", "diverse"):
        # The closest example sits next to the input; the pinned ones stay first.
        kept = min(len(head), len(chosen))
        chosen[kept:] = reversed(chosen[kept:])
    return tuple(chosen)


def _nearest_in_turn(rankings: list[list[int]]) -> list[int]:
    """Merge each input's ranking: every input's nearest example, then every second nearest...

    A batch's examples are then close to each of its inputs, not only to the
    words most of them share.
    """
    merged = dict.fromkeys(chain.from_iterable(zip_longest(*rankings)))
    return [index for index in merged if index is not None]


def estimate_tokens(text: str) -> int:
    """Estimate a text's tokens as characters / 4, rounded up: the fallback tokenizer."""
    return -(-len(text) // 4)


def example_text(example: Example) -> str:
    """Return the text an example adds to a prompt, roughly: its input and output as JSON."""
    assert isinstance(example.output, BaseModel)
    return (
        _json(example.input.model_dump(mode="json"))
        + "\n"
        + _json(example.output.model_dump(mode="json"))
    )


@functools.lru_cache(maxsize=64)
def example_index(task: Task) -> ExampleIndex:
    """Return the lexical index of a task's examples, built on first use and cached per task."""
    return ExampleIndex.build([_text(example.input) for example in task.candidates])


@dataclass(frozen=True, slots=True)
class ExampleIndex:
    """A BM25 index over words and character trigrams of each example's input text.

    ``postings`` maps a term to the examples holding it, each with its
    precomputed BM25 weight (idf times saturated term frequency), so a query
    costs one addition per (query term, matching example); ``ceilings`` holds
    each term's highest weight, which lets :meth:`top` skip the long lists of
    common terms once they can no longer change the result (MaxScore).
    """

    size: int
    postings: dict[str, dict[int, float]]
    ceilings: dict[str, float]
    vectors: tuple[dict[str, float], ...]

    @classmethod
    def build(cls, texts: Sequence[str]) -> ExampleIndex:
        """Index texts; example ``i`` is ``texts[i]``."""
        bags = [Counter(terms(text)) for text in texts]
        lengths = [sum(bag.values()) for bag in bags]
        average = (sum(lengths) / len(lengths)) if lengths else 1.0
        frequency: Counter[str] = Counter()
        for bag in bags:
            frequency.update(bag.keys())
        total = len(bags)
        idf = {
            term: math.log(1 + (total - count + 0.5) / (count + 0.5))
            for term, count in frequency.items()
        }
        postings: dict[str, dict[int, float]] = {}
        vectors = []
        for number, (bag, length) in enumerate(zip(bags, lengths, strict=True)):
            norm = _K1 * (1 - _B + _B * length / (average or 1.0))
            vector = {}
            for term, count in bag.items():
                weight = idf[term] * count * (_K1 + 1) / (count + norm)
                postings.setdefault(term, {})[number] = weight
                vector[term] = weight
            length_2 = math.sqrt(sum(w * w for w in vector.values())) or 1.0
            vectors.append({term: w / length_2 for term, w in vector.items()})
        ceilings = {term: max(entries.values()) for term, entries in postings.items()}
        return cls(total, postings, ceilings, tuple(vectors))

    def top(self, query: str, count: int) -> list[tuple[int, float]]:
        """Return up to ``count`` (example, BM25 score) pairs, best first, ties to the earlier.

        Query terms are taken from the highest possible contribution down.
        Common terms (in more than ``_COMMON`` of the pool) have long lists
        and low weights: once ``count`` examples have been found they only add
        to the scores of examples already found, instead of bringing in every
        example that shares, say, the trigram "shi". The same cut is made,
        exactly (MaxScore), as soon as the ``count``-th best score beats all
        that the remaining terms could add to an unseen example.
        """
        if count <= 0:
            return []
        postings, ceilings = self.postings, self.ceilings
        common = max(count, int(self.size * _COMMON))
        plan = sorted(
            (
                (ceilings[term] * times, term, times)
                for term, times in Counter(terms(query)).items()
                if term in postings
            ),
            key=lambda step: (-step[0], step[1]),
        )
        remaining = [0.0] * (len(plan) + 1)
        for step in range(len(plan) - 1, -1, -1):
            remaining[step] = remaining[step + 1] + plan[step][0]
        totals: dict[int, float] = {}
        get = totals.get
        pruned = False  # once true it stays true: the bar only rises, the remainder only falls
        for step, (_, term, times) in enumerate(plan):
            entries = postings[term]
            if not pruned and len(totals) >= count:
                pruned = len(entries) > common or (
                    heapq.nlargest(count, totals.values())[-1] > remaining[step]
                )
            if pruned and len(entries) > len(totals):
                for number in totals:
                    weight = entries.get(number)
                    if weight is not None:
                        totals[number] += weight * times
                continue
            for number, weight in entries.items():
                if not pruned or number in totals:
                    totals[number] = get(number, 0.0) + weight * times
        return heapq.nsmallest(count, totals.items(), key=lambda pair: (-pair[1], pair[0]))

    def scores(self, query: str) -> dict[int, float]:
        """Return the BM25 score of every example sharing a term with the query."""
        return dict(self.top(query, self.size))

    def nearest(self, query: str, count: int) -> list[int]:
        """Return up to ``count`` examples, most similar first; ties go to the earlier example.

        Examples sharing nothing with the query follow in pool order, so a
        query always gets ``count`` examples when the pool has them.
        """
        ranked = [number for number, _ in self.top(query, count)]
        if len(ranked) < count:
            found = set(ranked)
            ranked += [n for n in range(self.size) if n not in found][: count - len(ranked)]
        return ranked

    def diverse(self, query: str, count: int, balance: float = _MMR_LAMBDA) -> list[int]:
        """Return up to ``count`` examples by maximal marginal relevance, first chosen first.

        Candidates are the most similar examples; each step takes the one
        maximising ``balance * relevance - (1 - balance) * redundancy``, where
        relevance is the BM25 score scaled to [0, 1] and redundancy the
        highest cosine similarity to an example already taken.
        """
        candidates = self.nearest(query, max(count * _CANDIDATES, count))
        totals = dict(self.top(query, len(candidates)))
        best = max(totals.values(), default=0.0) or 1.0
        relevance = {n: totals.get(n, 0.0) / best for n in candidates}
        chosen: list[int] = []
        redundancy = dict.fromkeys(candidates, 0.0)
        while candidates and len(chosen) < count:
            pick = max(
                candidates,
                key=lambda n: (balance * relevance[n] - (1 - balance) * redundancy[n], -n),
            )
            chosen.append(pick)
            candidates = [n for n in candidates if n != pick]
            for n in candidates:
                redundancy[n] = max(redundancy[n], self.cosine(pick, n))
        return chosen

    def cosine(self, first: int, second: int) -> float:
        """Return the cosine similarity of two examples' weighted term vectors."""
        one, two = self.vectors[first], self.vectors[second]
        if len(two) < len(one):
            one, two = two, one
        return sum(weight * two.get(term, 0.0) for term, weight in one.items())


def terms(text: str) -> list[str]:
    """Split a text into index terms: lowercase words and the character trigrams of each word."""
    found: list[str] = []
    for word in _WORD.findall(text.lower()):
        found.append(word)
        padded = f" {word} "
        found += [padded[i : i + 3] for i in range(len(padded) - 2)]
    return found


def _sample(size: int, count: int, seed: int) -> list[int]:
    # A string seed is hashed the same way on every platform and Python run.
    return random.Random(f"promptkit:{seed}").sample(range(size), min(count, size))


def _within_budget(chosen: list[Example], budget: int, count_tokens: TokenCounter) -> list[Example]:
    kept: list[Example] = []
    spent = 0
    for example in chosen:
        spent += count_tokens(example_text(example))
        if spent > budget:
            break
        kept.append(example)
    return kept


def _is_among(value: BaseModel, items: Sequence[BaseModel]) -> bool:
    return any(value == item for item in items)


def _text(item: BaseModel) -> str:
    """Return an input's text for matching: its string-like values, joined."""
    return " ".join(_flatten(item.model_dump(mode="json")))


def _flatten(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [text for inner in value.values() for text in _flatten(inner)]
    if isinstance(value, list):
        return [text for inner in value for text in _flatten(inner)]
    return [] if value is None else [str(value)]


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
