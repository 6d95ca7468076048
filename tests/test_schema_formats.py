"""The reply formats of every supported shape: strict provider rules, JSON Schema, grammars.

The strict rules checked here are OpenAI's structured-outputs rules for
``strict: true`` (platform.openai.com/docs/guides/structured-outputs,
"Supported schemas"): the root is an object, not ``anyOf``; every object
lists every property as required and sets ``additionalProperties: false``;
only ``type``, ``properties``, ``required``, ``additionalProperties``,
``items``, ``enum``, ``anyOf``, ``description``, ``$defs`` and ``$ref`` are
used (string, number and array keywords such as ``pattern``, ``format``,
``minimum``, ``minItems`` or ``uniqueItems``, and ``prefixItems``, are left
to the description and to validation after the reply); at most 10 levels of
nesting, 5000 properties and 1000 enum values.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import llguidance
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from llama_cpp.llama_grammar import json_schema_to_gbnf
from shapes import SHAPES, Constrained, Maps, Sequences

import promptkit
from promptkit.backends.openai import is_strict_compatible
from promptkit.formats import batch_schema, json_schema, response_format, strict_schema
from promptkit.schema import shape_of
from promptkit.testing import valid_outputs

IDS = [model.__name__ for model in SHAPES]
_STRICT_KEYWORDS = frozenset(
    {"type", "properties", "required", "additionalProperties", "items", "enum", "anyOf"}
    | {"description", "$defs", "$ref"}
)
_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})


def strict_problems(root: dict[str, Any]) -> list[str]:
    """Every way a schema breaks OpenAI's strict structured-output rules (see the module)."""
    problems = []
    if root.get("type") != "object" or "anyOf" in root:
        problems.append("the root is not an object")
    definitions = root.get("$defs", {})
    counts = {"properties": 0}

    def walk(node: Any, where: str, depth: int) -> None:
        if not isinstance(node, dict):
            problems.append(f"{where}: not a schema")
            return
        for keyword in set(node) - _STRICT_KEYWORDS:
            problems.append(f"{where}: keyword {keyword!r} is not supported")
        if depth > 10:
            problems.append(f"{where}: nested deeper than 10 levels")
        if "$ref" in node:
            ref = node["$ref"]
            if len(node) > 1:
                problems.append(f"{where}: $ref has keywords beside it")
            if ref != "#" and ref.removeprefix("#/$defs/") not in definitions:
                problems.append(f"{where}: $ref {ref!r} names no definition")
            return
        kinds = node.get("type", [])
        for kind in kinds if isinstance(kinds, list) else [kinds]:
            if kind not in _TYPES:
                problems.append(f"{where}: type {kind!r} is not supported")
        if "enum" in node and len(node["enum"]) > 1000:
            problems.append(f"{where}: more than 1000 enum values")
        if "type" not in node and "enum" not in node and "anyOf" not in node:
            problems.append(f"{where}: no type")
        if "properties" in node:
            counts["properties"] += len(node["properties"])
            if node.get("additionalProperties") is not False:
                problems.append(f"{where}: additionalProperties is not false")
            if node.get("required") != list(node["properties"]):
                problems.append(f"{where}: not every property is required")
            for name, child in node["properties"].items():
                walk(child, f"{where}.{name}", depth + 1)
        elif "object" in (kinds if isinstance(kinds, list) else [kinds]):
            problems.append(f"{where}: an object without properties")
        if "items" in node:
            walk(node["items"], f"{where}[]", depth + 1)
        for index, option in enumerate(node.get("anyOf", ())):
            walk(option, f"{where}|{index}", depth)

    walk({k: v for k, v in root.items() if k != "$defs"}, "<root>", 1)
    for name, definition in definitions.items():
        walk(definition, f"$defs.{name}", 1)
    if counts["properties"] > 5000:
        problems.append("more than 5000 properties")
    return problems


def test_the_rules_oracle_finds_what_strict_mode_refuses():
    loose = {
        "type": "object",
        "properties": {"a": {"type": "string", "pattern": "x"}, "b": {"type": "integer"}},
        "required": ["a"],
    }
    problems = strict_problems(loose)
    assert "<root>: additionalProperties is not false" in problems
    assert "<root>: not every property is required" in problems
    assert "<root>.a: keyword 'pattern' is not supported" in problems


@pytest.mark.parametrize("model", SHAPES, ids=IDS)
@pytest.mark.parametrize("batch", [False, True], ids=["single", "batch"])
def test_the_strict_response_format_follows_the_strict_rules(model, batch):
    if batch and "id" in model.model_fields:
        pytest.skip("a batch tags each item with an id: an output field named id clashes")
    payload = response_format(shape_of(model), "shape-test", batch=batch)
    assert payload["json_schema"]["strict"] is True
    schema = payload["json_schema"]["schema"]
    assert strict_problems(schema) == []
    assert is_strict_compatible(schema)


def test_the_strict_format_describes_what_it_cannot_express():
    schema = strict_schema(shape_of(Constrained))["properties"]
    assert schema["rating"] == {"type": "integer", "description": "from 1 to 5."}
    assert "matching the pattern ^[A-Z]{3}$" in schema["code"]["description"]
    pairs = strict_schema(shape_of(Maps))["properties"]["counts"]
    assert pairs["items"]["required"] == ["key", "value"]
    assert "list of" in pairs["description"]
    point = strict_schema(shape_of(Sequences))["properties"]["point"]
    assert point["items"] == {"type": "integer"}
    assert "Exactly 2 items" in point["description"]


def test_a_reply_in_the_strict_form_parses_back():
    reply = json.dumps(
        {
            "counts": [{"key": "a", "value": 1}, {"key": "b", "value": 2}],
            "keyed": None,
            "nested": None,
        }
    )
    parsed = promptkit.parse_with_report(reply, Maps)
    assert parsed.value == Maps(counts={"a": 1, "b": 2})
    assert {a.message for a in parsed.report.of_kind("coerce")} >= {
        "read a list of key/value pairs as a map",
        "read null as the field's default",
    }


def test_the_plain_schema_keeps_every_constraint():
    properties = json_schema(shape_of(Constrained))["properties"]
    assert (properties["rating"]["minimum"], properties["rating"]["maximum"]) == (1, 5)
    assert properties["code"]["pattern"] == "^[A-Z]{3}$"
    assert (properties["name"]["minLength"], properties["name"]["maxLength"]) == (1, 8)
    assert properties["step"]["multipleOf"] == 5
    assert properties["tags"]["maxItems"] == 2
    assert properties["tags"]["items"]["maxLength"] == 4
    assert properties["price"]["exclusiveMinimum"] == 0


_CHECK = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("model", SHAPES, ids=IDS)
@_CHECK
@given(data=st.data())
def test_valid_outputs_satisfy_the_plain_schema(model, data):
    value = data.draw(valid_outputs(model))
    schema = json_schema(shape_of(model))
    jsonschema.Draft202012Validator(schema).validate(value.model_dump(mode="json", by_alias=True))


# -- grammar backends: llguidance (the local backend) and llama.cpp's GBNF ---------------------


class _ByteTokenizer:
    """One token per byte: a grammar's matcher then reads any text exactly."""

    eos_token_id = 256
    bos_token_id = None
    tokens = [bytes([value]) for value in range(256)] + [b"<eos>"]

    def __call__(self, data: bytes) -> list[int]:
        return list(data)


_TOKENIZER = llguidance.LLTokenizer(llguidance.TokenizerWrapper(_ByteTokenizer()), slices=[])


def _grammar(schema: dict[str, Any]) -> str:
    return llguidance.LLMatcher.grammar_from_json_schema(
        json.dumps(schema), overrides={"whitespace_flexible": False}
    )


def accepts(schema: dict[str, Any], text: str) -> bool:
    """Say whether the local backend's grammar for ``schema`` lets a model write ``text``."""
    matcher = llguidance.LLMatcher(_TOKENIZER, _grammar(schema), log_level=0)
    consumed = matcher.consume_tokens(list(text.encode()))
    return consumed and not matcher.is_error() and matcher.is_accepting()


@pytest.mark.parametrize("model", SHAPES, ids=IDS)
def test_every_shape_gives_a_grammar_to_both_grammar_engines(model):
    for schema in (json_schema(shape_of(model)), batch_schema(shape_of(model))):
        assert llguidance.LLMatcher.validate_grammar(_grammar(schema)) == ""
        assert "root" in json_schema_to_gbnf(json.dumps(schema))


@pytest.mark.parametrize("model", SHAPES, ids=IDS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_grammar_lets_a_model_write_every_valid_output(model, data):
    value = data.draw(valid_outputs(model))
    # llguidance refuses two things JSON allows: a raw DEL (so it is written escaped) and an
    # exponent in a number with bounds (its range grammar is plain decimals: 0.00001 is taken,
    # 1e-05 is not), which json.dumps writes for a float under 1e-4. A model decoding under
    # the grammar writes the plain decimal; the test draws prices json.dumps writes that way.
    assume(not isinstance(value, Constrained) or value.price >= 1e-4)
    written = value.model_dump(mode="json", by_alias=True)
    if isinstance(value, Maps):  # a map with closed keys is an object: its keys in their order
        written["keyed"] = {
            key: written["keyed"][key] for key in ("a", "b") if key in written["keyed"]
        }
    text = json.dumps(written, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("\x7f", "\\u007f")
    assert accepts(json_schema(shape_of(model)), text)


_VALID = {"rating": 3, "code": "ABC", "name": "ann", "step": 15, "tags": ["ab"], "price": 9.5}


@pytest.mark.parametrize(
    ("change", "kept"),
    [
        ({}, True),
        ({"rating": 7}, False),
        ({"code": "ABCD"}, False),
        ({"name": "a much too long name"}, False),
        ({"step": 17}, False),
        ({"tags": ["a", "b", "c"]}, False),
        ({"tags": ["abcdef"]}, False),
        ({"price": 0}, False),
    ],
)
def test_the_grammar_enforces_constraints_while_decoding(change, kept):
    text = json.dumps({**_VALID, **change}, separators=(",", ":"))
    assert accepts(json_schema(shape_of(Constrained)), text) is kept
