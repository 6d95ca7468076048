"""The shape tree: every supported type read, shown in the compact notation, refused otherwise."""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import pathlib
import uuid
from typing import Any, Literal

import pytest
from pydantic import (
    AliasPath,
    AnyUrl,
    BaseModel,
    ConfigDict,
    Field,
    FileUrl,
    HttpUrl,
    Json,
    RootModel,
)
from shapes import Aliased, Comment, Unions

import promptkit
from promptkit import Example, Task, TaskDefinitionError
from promptkit.errors import UnsupportedType
from promptkit.formats import json_schema
from promptkit.notation import compact_schema, unrolled
from promptkit.schema import RECURSION_DEPTH, shape_of, shape_problems


def _field(annotation: Any, **extra: Any) -> str:
    """The compact notation of one field ``value`` of the given type."""
    model = type("One", (BaseModel,), {"__annotations__": {"value": annotation}, **extra})
    return compact_schema(shape_of(model))


@pytest.mark.parametrize(
    ("annotation", "notation"),
    [
        (int | str, '{"value": int | string}'),
        (dict[str, int], '{"value": {[key: string]: int}}'),
        (dict[Literal["a", "b"], float], '{"value": {[key: "a" | "b"]: float}}'),
        (dict[int, str], '{"value": {[key: int]: string}}'),
        (tuple[int, str], '{"value": [int, string]}'),
        (tuple[int, ...], '{"value": int[]}'),
        (set[str], '{\n  "value": string[], // no item twice.\n}'),
        (Literal[1, 2, 3], '{"value": 1 | 2 | 3}'),
        (list[Literal["x", "y"]] | None, '{"value": ("x" | "y")[] | null}'),
        (datetime.date, '{\n  "value": string, // a date, written YYYY-MM-DD.\n}'),
        (uuid.UUID, '{\n  "value": string, // a UUID.\n}'),
        (decimal.Decimal, '{\n  "value": float, // a decimal number.\n}'),
        (HttpUrl, '{\n  "value": string, // a URL.\n}'),
        (AnyUrl | None, '{\n  "value": string | null, // a URL.\n}'),
        (ipaddress.IPv4Address, '{\n  "value": string, // an IPv4 address.\n}'),
        (ipaddress.IPv6Address, '{\n  "value": string, // an IPv6 address.\n}'),
        (pathlib.Path, '{\n  "value": string, // a file path.\n}'),
        (Any, '{"value": any}'),
    ],
)
def test_each_type_has_its_compact_notation(annotation, notation):
    assert _field(annotation) == notation


def test_constraints_are_shown_in_the_notation_and_kept_in_the_schema():
    class Review(BaseModel):
        stars: int = Field(ge=1, le=5)
        title: str = Field(max_length=60, pattern=r"^\S")
        tags: list[str] = Field(default_factory=list, min_length=1, max_length=3)

    notation = compact_schema(shape_of(Review))
    assert '"stars": int, // from 1 to 5.' in notation
    assert '"title": string, // at most 60 characters, matching the pattern ^\\S.' in notation
    assert '"tags"?: string[], // 1 to 3 items.' in notation
    schema = json_schema(shape_of(Review))["properties"]
    assert schema["stars"]["minimum"] == 1
    assert schema["title"]["maxLength"] == 60
    assert schema["tags"]["minItems"] == 1


def test_a_discriminated_union_names_its_tag_and_shows_both_alternatives():
    shape = next(spec.shape for spec in shape_of(Unions).fields if spec.name == "shape")
    assert shape.kind == "union"
    assert shape.discriminator == "kind"
    assert '{"kind": "circle", "radius": float} | {"kind": "square", "side": float}' in (
        compact_schema(shape_of(Unions))
    )


def test_a_recursive_model_is_a_cycle_read_once_and_shown_to_a_fixed_depth():
    shape = shape_of(Comment)
    replies = shape.fields[1].shape
    assert replies.item is not None
    assert replies.item.fields is shape.fields  # the cycle: the same model's fields
    notation = compact_schema(shape)
    assert notation.count('"text"') == 2**RECURSION_DEPTH - 1
    assert json_schema(shape) == json_schema(unrolled(shape))


def test_a_recursive_task_compiles_and_parses_deeper_than_it_is_shown():
    task = Task(
        name="threads",
        instructions="Write the thread.",
        input_model="topic",
        output_model=Comment,
        examples=[Example("cats", {"text": "a", "replies": [{"text": "b"}]})],
    )
    prompt = promptkit.compile_prompt(task, "dogs")
    assert "replies" in prompt.messages[0].content
    deep: dict[str, Any] = {"text": "leaf"}
    for level in range(30):
        deep = {"text": str(level), "replies": [deep]}
    parsed = promptkit.parse(str(deep), task)  # Python's repr: single quotes
    depth = 0
    node = parsed
    while node.replies:
        node, depth = node.replies[0], depth + 1
    assert depth == 30


def test_urls_addresses_and_paths_are_strings_with_a_format_and_parse_to_their_types():
    class Site(BaseModel):
        page: HttpUrl
        host: ipaddress.IPv4Address
        root: pathlib.Path

    schema = json_schema(shape_of(Site))["properties"]
    assert schema["host"]["format"] == "ipv4"
    assert schema["page"]["pattern"] == "^[A-Za-z][A-Za-z0-9+.-]*://\\S+$"
    parsed = promptkit.parse('{"page": "https://a.org", "host": " 10.0.0.1", "root": "/srv"}', Site)
    assert parsed == Site(page="https://a.org/", host="10.0.0.1", root="/srv")  # type: ignore[arg-type]
    with pytest.raises(promptkit.OutputError, match="page"):
        promptkit.parse('{"page": "a.org", "host": "10.0.0.1", "root": "/srv"}', Site)


def test_a_url_type_for_other_schemes_is_refused_with_the_reason():
    class Local(BaseModel):
        where: FileUrl

    (problem,) = shape_problems(Local)
    assert "a URL type for file only: use AnyUrl, HttpUrl or str" in str(problem)


def test_a_field_that_refers_back_without_an_end_is_refused():
    class Loop(BaseModel):
        next: Loop

    with pytest.raises(UnsupportedType, match="refers back to its own model"):
        shape_of(Loop)


def test_a_root_model_is_a_field_and_never_the_whole_output():
    class Scores(RootModel[dict[str, float]]):
        pass

    class Report(BaseModel):
        scores: Scores

    assert _field(Scores) == '{"value": {[key: string]: float}}'
    assert promptkit.parse('{"scores": {"a": "1.5"}}', Report) == Report(scores=Scores({"a": 1.5}))
    with pytest.raises(TaskDefinitionError, match="make the RootModel a field of a model"):
        Task(name="t", instructions="x", input_model="q", output_model=Scores)


def test_a_type_that_holds_itself_through_no_model_is_refused():
    class Nest(RootModel[list["Nest"]]):
        pass

    (problem,) = shape_problems(type("One", (BaseModel,), {"__annotations__": {"n": Nest}}))
    assert "holds itself through no model" in str(problem)


def test_a_json_string_field_is_refused_with_the_reason():
    class Encoded(BaseModel):
        payload: Json[list[int]]

    (problem,) = shape_problems(Encoded)
    assert "a Json field holds JSON written as a string: use the type inside it" in str(problem)


def test_every_unsupported_field_is_listed_with_its_path_and_reason():
    class Inner(BaseModel):
        blob: complex

    class Outer(BaseModel):
        inner: Inner
        pairs: dict[float, str]
        where: str = Field(validation_alias=AliasPath("a", 0))

    problems = [str(problem) for problem in shape_problems(Outer)]
    assert problems[0].startswith("field 'inner.blob' has unsupported type complex; use str, int")
    assert "dict's keys must be str" in problems[1]
    assert "validation alias path cannot be described" in problems[2]
    with pytest.raises(TaskDefinitionError) as caught:
        Task(name="t", instructions="x", input_model="q", output_model=Outer)
    assert len(caught.value.problems) == 3


# -- aliases: one name everywhere, either spelling accepted ------------------------------------


class Status(BaseModel):
    status_code: int = Field(alias="statusCode")
    reason: str = ""
    retries: int = 3


def _status_task() -> Task:
    return Task(
        name="status",
        instructions="Read the status.",
        input_model="log",
        output_model=Status,
        examples=[
            Example("got 200", {"statusCode": 200}),
            Example("got 404 not found", {"status_code": 404, "reason": "not found"}),
        ],
    )


def test_an_alias_is_the_one_name_of_the_prompt_examples_and_schema():
    task = _status_task()
    prompt = promptkit.compile_prompt(task, "got 500", layout="chat", shots=2)
    text = "\n".join(message.content for message in prompt.messages)
    assert '"statusCode": int' in text
    assert '{"statusCode":200}' in text
    assert '{"statusCode":404,"reason":"not found"}' in text
    assert "status_code" not in text
    assert list(prompt.json_schema["properties"]) == ["statusCode", "reason", "retries"]
    strict = prompt.response_format["json_schema"]["schema"]
    assert strict["required"] == ["statusCode", "reason", "retries"]


@pytest.mark.parametrize(
    "reply",
    [
        '{"statusCode": 500}',
        '{"status_code": 500}',
        "{statusCode: 500,}",
        "Here: {'StatusCode': '500'}",
        '{"status_code": 500, "retries": null}',
    ],
)
def test_either_spelling_parses_and_defaults_come_back(reply):
    assert promptkit.parse(reply, _status_task()) == Status(statusCode=500)


def test_validation_and_serialization_aliases_and_populate_by_name():
    key = {spec.name: spec.key for spec in shape_of(Aliased).fields}
    assert key == {"status_code": "statusCode", "user_name": "user_name", "total": "Total"}
    value = promptkit.parse('{"statusCode": 1, "user": "ann", "Total": 2}', Aliased)
    assert (value.status_code, value.user_name, value.total) == (1, "ann", 2)
    assert promptkit.parse('{"status_code": 1, "userName": "bo"}', Aliased).user_name == "bo"


def test_an_alias_generator_names_every_field():
    class Camel(BaseModel):
        model_config = ConfigDict(alias_generator=lambda name: name.replace("_", "-"))
        first_name: str

    assert compact_schema(shape_of(Camel)) == '{"first-name": string}'
    assert promptkit.parse('{"first_name": "x"}', Camel).first_name == "x"
