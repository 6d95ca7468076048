"""The source blog's workflow on the embedded model: its examples give its searches' attributes.

The blog showed a handful of labelled searches to a model and asked for the
attributes of others. Its six examples and six test searches (the ones this
project has carried since its first version) go through the task as shipped:
its instructions, vocabularies, checks, and the narrowing its labelled pool
teaches, with exactly those six examples shown (the blog's searches are not
in the pool). Decoding is greedy and every call starts from an empty KV
cache, so the replies are fixed by the prompt alone and the test is exact.
"""

from __future__ import annotations

import dataclasses

import pytest

from promptkit import Example, load_task, run
from promptkit.backends.local import LocalBackend

pytestmark = pytest.mark.integration

# The blog's text is not part of this repository: these are the first six examples and six
# searches of the project's first version, where they were taken from it.
BLOG_EXAMPLES = {
    "Long Sleeve polo shirts for men": {"sleeve": "long sleeve", "type": "polo shirts"},
    "copper fit elbow sleeve": {"type": "elbow sleeve"},
    "black crew neck sweatshirt": {"colour": "black", "type": "sweatshirt", "neck": "crew neck"},
    "3/4 sleeve tees girls 16": {"sleeve": "3/4 sleeve", "type": "tees"},
    "orange is the new black costume": {"type": "costume"},
    "white sleevless maxi dress": {"colour": "white", "sleeve": "sleeveless", "type": "maxi dress"},
}
BLOG_SEARCHES = {
    "red t shirts long sleeve 10yrs boy": {
        "colour": "red",
        "sleeve": "long sleeve",
        "type": "t shirts",
    },
    "womans summer tops with v necks and short sleeves": {
        "sleeve": "short sleeve",
        "type": "tops",
        "neck": "v neck",
    },
    "eyephone red skins": {"colour": "red", "type": "skins"},
    "gifts for dad": {},
    "puff sleeve dress": {"sleeve": "puff sleeve", "type": "dress"},
    "mens turtleneck sweater navy": {"colour": "navy", "type": "sweater", "neck": "turtleneck"},
}


@pytest.fixture(scope="module")
def fresh_backend(local_backend: LocalBackend) -> LocalBackend:
    """The loaded model, with no KV cache kept between calls: a reply depends on its prompt only."""
    return LocalBackend(n_ctx=local_backend.n_ctx, n_threads=2, cache_prompt=False)


@pytest.mark.parametrize("search", list(BLOG_SEARCHES))
def test_the_blogs_six_examples_give_its_searches_attributes(
    fresh_backend: LocalBackend, search: str
) -> None:
    examples = [Example(text, output) for text, output in BLOG_EXAMPLES.items()]
    task = dataclasses.replace(load_task("apparel-search"), examples=examples)
    result = run(task, search, backend=fresh_backend, shots=6, selector="first")
    assert result.ok, result.error
    expected = {"colour": None, "sleeve": None, "type": None, "neck": None} | BLOG_SEARCHES[search]
    assert result.output.model_dump() == expected


def test_the_blogs_searches_are_not_among_the_pools_labelled_searches() -> None:
    pool = load_task("apparel-search").pool
    assert pool is not None
    searches = {" ".join(str(row["search"]).lower().split()) for _, row in pool.rows()}
    assert searches.isdisjoint(BLOG_SEARCHES)
