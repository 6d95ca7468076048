"""apparel-search: structure a noisy shopping search into colour, sleeve, type and neck.

The task of a retail search team that wants to see what customers ask for
and the shop lacks. Colour and type are written as the search writes them
(so that they can be checked against it); sleeve and neck are values of
closed vocabularies (``apparel_vocabularies.json``: "sleevless" and "no
sleeve" both count as ``sleeveless``), so that they can be counted. Every
attribute is null when the search does not name it.

A zero-shot model invents a colour for every search; labelled examples
teach it not to. Every prompt opens with three hand-picked examples, then
shows the five most similar of the others and of the labelled pool shipped
beside it (``apparel_search_pool.jsonl``, written for this project), and the grounded
checks null whatever it still invents. Type, sleeve and neck are narrowed
while decoding to what the search supports: a phrase of it, or a vocabulary
value it spells, so a model decoding with a grammar cannot put a sleeve
into the neck. docs/evaluation.md records how the configuration was chosen.
"""

from __future__ import annotations

import json
from importlib.resources import files

from pydantic import BaseModel

from promptkit import (
    Example,
    ExamplePool,
    GenerationParams,
    Strategy,
    Task,
    grounded,
    vocabulary,
)

_VOCABULARIES = json.loads(
    files(__package__).joinpath("apparel_vocabularies.json").read_text(encoding="utf-8")
)
Sleeve = vocabulary(_VOCABULARIES["sleeve"])
Neck = vocabulary(_VOCABULARIES["neck"])


class Attributes(BaseModel):
    """The attributes a search names."""

    colour: str | None = None
    sleeve: Sleeve | None = None  # type: ignore[valid-type]
    type: str | None = None
    neck: Neck | None = None  # type: ignore[valid-type]


def _example(search: str, **named: str) -> Example:
    """Label a search with the attributes it names; every other attribute is null."""
    return Example(search, {name: named.get(name) for name in Attributes.model_fields})


# The first three open every prompt (the strategy pins them), and the first eight are what
# `--selector first` shows: a mix like real traffic, where most searches name a type and few
# name a sleeve or neck (shown too many, a small model invents them).
EXAMPLES = [
    _example("girls 16 party dress", type="party dress"),
    _example("eyephone red skins", colour="red", type="skins"),
    _example("gifts for dad"),
    _example("black crew neck sweatshirt", colour="black", type="sweatshirt", neck="crew neck"),
    _example("kids socks size 10", type="socks"),
    _example("Long Sleeve polo shirts for men", sleeve="long sleeve", type="polo shirts"),
    _example("orange is the new black costume", type="costume"),
    _example("rose gold sequin dress", colour="rose gold", type="sequin dress"),
    _example("copper fit elbow sleeve", type="elbow sleeve"),
    _example("3/4 sleeve tees girls 16", sleeve="3/4 sleeve", type="tees"),
    _example("white sleevless maxi dress", colour="white", sleeve="sleevless", type="maxi dress"),
    _example(
        "womans summer tops with v necks and short sleeves",
        sleeve="short sleeves",
        type="tops",
        neck="v necks",
    ),
    _example("womens sleevless tops time and tru short sleeve", sleeve="sleevless", type="tops"),
    _example("puff sleeve dress", sleeve="puff sleeve", type="dress"),
    _example("womens puff sleeve", sleeve="puff sleeve"),
    _example("bodysuits long sleeve boy", sleeve="long sleeve", type="bodysuits"),
    _example("sleeveless tops for women", sleeve="sleeveless", type="tops"),
    _example("long sleeve cut out workout", sleeve="long sleeve"),
    _example("open front shrug long sleeve", sleeve="long sleeve", type="shrug"),
    _example(
        "red t shirts long sleeve 10yrs boy", colour="red", sleeve="long sleeve", type="t shirts"
    ),
    _example("mens turtleneck sweater navy", colour="navy", type="sweater", neck="turtleneck"),
    _example("v neck tshirts 3 pack", type="tshirts", neck="v neck"),
    _example("off the shoulder tops plus size", type="tops", neck="off the shoulder"),
    _example("pink floyd t shirt", type="t shirt"),
    _example(
        "cap sleeve blouse with scoop neck", sleeve="cap sleeve", type="blouse", neck="scoop neck"
    ),
    _example(
        "womens mock neck long sleeve bodysuit olive green",
        colour="olive green",
        sleeve="long sleeve",
        type="bodysuit",
        neck="mock neck",
    ),
    _example("green bay packers jersey", type="jersey"),
    _example("halter neck top 3t", type="top", neck="halter neck"),
]

apparel_search = Task(
    name="apparel-search",
    description="Structure a shopping search into colour, sleeve, type and neck.",
    instructions=(
        "We are trying to clean the ecommerce retail searches into a clear set of attributes, "
        "each written as the search names it: first any colour word, then the sleeve, "
        "the product type and the neck. "
        "Leave out any attribute the search does not name; never guess."
    ),
    input_model="search",
    output_model=Attributes,
    examples=EXAMPLES,
    pool=ExamplePool.packaged(__package__, "apparel_search_pool.jsonl"),
    # The first 3 examples open every prompt (a prefix the KV cache keeps), then the 5 most
    # similar labelled searches: nearly twice the searches per second of 8 similar, for 0.003 F1
    # on the validation set (docs/evaluation.md).
    strategy=Strategy(shots=8, layout="inline", selector="similar", pinned=3),
    # Extraction wants the most likely reading; greedy decoding also makes runs repeatable.
    generation=GenerationParams(temperature=0.0),
    # Every attribute must be words of the search, and each is narrowed while decoding to what
    # the search supports: a sleeve or neck it spells (then one of them must be written), a
    # colour made of colour words (ending in one: "light" or "baby" only qualify one), a type
    # that is none of those.
    checks=(
        grounded("sleeve", "neck", on_fail="null", constrain=True, fill=True),
        grounded("type", on_fail="null", constrain=True),
        grounded(
            "colour",
            on_fail="null",
            constrain=True,
            lexicon=_VOCABULARIES["colour words"],
            modifiers=_VOCABULARIES["colour modifiers"],
        ),
    ),
)
