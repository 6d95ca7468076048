"""One output model per supported shape, shared by the property and format tests."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import ipaddress
import pathlib
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from enum import Enum
from re import Pattern
from typing import Annotated, Any, Literal, NamedTuple, NewType, NotRequired

from pydantic import (
    UUID4,
    AliasChoices,
    AnyUrl,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    FutureDate,
    FutureDatetime,
    HttpUrl,
    IPvAnyAddress,
    NaiveDatetime,
    PastDate,
    PastDatetime,
    RootModel,
)
from pydantic.types import UuidVersion
from typing_extensions import TypedDict

from promptkit import field


class Scalars(BaseModel):
    text: str
    count: int
    ratio: float
    ok: bool
    note: str | None = None


class Constrained(BaseModel):
    rating: int = Field(ge=1, le=5)
    code: str = Field(pattern=r"^[A-Z]{3}$")
    name: str = Field(min_length=1, max_length=8)
    step: int = Field(multiple_of=5, ge=0, le=100)
    tags: list[Annotated[str, Field(max_length=4)]] = Field(default_factory=list, max_length=2)
    price: float = Field(gt=0, lt=1000)


class Dates(BaseModel):
    day: datetime.date
    at: datetime.datetime
    clock: datetime.time
    span: datetime.timedelta
    due: datetime.date | None = None


class Conditioned(BaseModel):
    born: PastDate
    due: FutureDate | None = None
    sent: PastDatetime
    expires: FutureDatetime | None = None
    stamped: AwareDatetime
    local: NaiveDatetime | None = None


class Numbers(BaseModel):
    id: uuid.UUID
    amount: decimal.Decimal = Field(max_digits=8, decimal_places=2)
    level: Literal[1, 2, 3]
    request: UUID4 | None = None
    trace: Annotated[uuid.UUID, UuidVersion(7)] | None = None


class Colour(Enum):
    RED = "red"
    DARK_BLUE = "dark blue"


class Enums(BaseModel):
    size: Literal["S", "M", "L"] = field("M", aliases={"S": ["small"], "L": ["large"]})
    colour: Colour
    answer: Literal[True, "maybe"]
    sizes: list[Literal["S", "M"]] = []


class Maps(BaseModel):
    counts: dict[str, int]
    keyed: dict[Literal["a", "b"], str] = {}
    nested: dict[str, list[float]] | None = None
    pages: dict[int, str] = {}


class Sequences(BaseModel):
    point: tuple[int, int]
    steps: Sequence[str] = ()
    pair: tuple[str, bool] | None = None
    names: tuple[str, ...]
    labels: set[str]
    numbers: frozenset[int] = frozenset()


class Circle(BaseModel):
    kind: Literal["circle"]
    radius: float


class Square(BaseModel):
    kind: Literal["square"]
    side: float


class Unions(BaseModel):
    either: int | str
    shape: Circle | Square = Field(discriminator="kind")
    maybe: Circle | Square | None = None
    mixed: list[int | bool] = []


class Comment(BaseModel):
    text: str
    replies: list[Comment] = []
    parent: Comment | None = None


class Aliased(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    status_code: int = Field(alias="statusCode")
    user_name: str = Field(validation_alias=AliasChoices("userName", "user"))
    total: int = Field(0, serialization_alias="Total")


class Locations(BaseModel):
    page: HttpUrl
    source: AnyUrl | None = None
    host: ipaddress.IPv4Address
    peer: ipaddress.IPv6Address | None = None
    gateway: IPvAnyAddress | None = None
    file: pathlib.Path
    mirrors: list[HttpUrl] = []
    contact: EmailStr | None = None


class Point(NamedTuple):
    x: int
    y: float


@dataclasses.dataclass
class Address:
    city: str
    zip: str = ""
    lines: list[str] = dataclasses.field(default_factory=list)


class Tag(TypedDict):
    name: str
    weight: NotRequired[int]


class Structures(BaseModel):
    where: Address
    at: Point
    tags: list[Tag]
    route: list[Point] | None = None


UserId = NewType("UserId", int)


class Scores(RootModel[dict[str, float]]):
    pass


class Post(BaseModel):
    text: str
    thread: Thread | None = None


class Thread(RootModel[list[Post]]):
    pass


Post.model_rebuild()  # its field refers to Thread, defined after it


class Wrapped(BaseModel):
    user: UserId
    scores: Scores
    thread: Thread | None = None
    queue: deque[str] = deque()
    lookup: Mapping[str, int] = {}
    rule: Pattern[str] | None = None
    blob: bytes = b""


class Anything(BaseModel):
    data: Any = None
    extra: dict[str, Any] = {}


SHAPES: list[type[BaseModel]] = [
    Scalars,
    Constrained,
    Dates,
    Numbers,
    Enums,
    Maps,
    Sequences,
    Unions,
    Comment,
    Aliased,
    Locations,
    Structures,
    Conditioned,
    Wrapped,
    Anything,
]
