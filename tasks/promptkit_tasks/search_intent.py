"""search-intent: classify what a shopper wants from a search, as one of a closed set.

A task of another shape than apparel-search: its output is an enum (with
declared aliases for the spellings models use) plus an optional product.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel

from promptkit import Example, Strategy, Task, field


class Intent(StrEnum):
    """What the shopper is after."""

    PRODUCT = "product"
    BRAND = "brand"
    GIFT = "gift"
    SUPPORT = "support"
    OTHER = "other"


class SearchIntent(BaseModel):
    """The intent behind a search."""

    intent: Intent = field(
        description="what the shopper wants",
        aliases={"support": ["customer service", "help"], "product": ["item"]},
    )
    product: str | None = field(None, null="if the search names no product")


EXAMPLES = [
    Example("red t shirts long sleeve 10yrs boy", {"intent": "product", "product": "t shirts"}),
    Example("time and tru", {"intent": "brand", "product": None}),
    Example("gifts for dad who has everything", {"intent": "gift", "product": None}),
    Example("where is my order", {"intent": "support", "product": None}),
    Example("levis 501 jeans", {"intent": "brand", "product": "jeans"}),
    Example("birthday present for girl 10 dress", {"intent": "gift", "product": "dress"}),
    Example("return a jacket", {"intent": "support", "product": "jacket"}),
    Example("asdfgh", {"intent": "other", "product": None}),
]

search_intent = Task(
    name="search-intent",
    description="Classify a shopping search as product, brand, gift, support or other.",
    instructions=(
        "Classify the intent of an ecommerce search: a product, a brand, a gift idea, "
        "a customer-support request, or other."
    ),
    input_model="search",
    output_model=SearchIntent,
    examples=EXAMPLES,
    strategy=Strategy(shots=4, layout="chat"),
)
