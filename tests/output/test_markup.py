"""markup, xmlish and toon: a reply written as XML or TOON, read into the value to coerce."""

from __future__ import annotations

import json
from typing import Any, Literal

import corpus_cases
import pytest
from pydantic import BaseModel, Field

import promptkit
from promptkit.output.markup import read_markup
from promptkit.output.repair import MAX_DEPTH
from promptkit.schema import shape_of

CASES = [case for case in corpus_cases.load(("baml.jsonl",)) if case.cls in ("xml", "toon")]


def _parsed(reply: str, model: type[BaseModel]) -> dict[str, Any]:
    """Parse the value read from ``reply`` as ``extract_object`` will hand it on."""
    extracted = read_markup(reply, shape_of(model))
    assert extracted is not None
    return promptkit.parse(json.dumps(extracted.value), model).model_dump()


def _message(reply: str, model: type[BaseModel]) -> str:
    extracted = read_markup(reply, shape_of(model))
    assert extracted is not None
    assert not extracted.truncated
    (action,) = extracted.actions
    assert action.kind == "extract"
    assert action.path == ()
    return action.message


def test_the_corpus_has_xml_and_toon_rows() -> None:
    assert {case.cls for case in CASES} == {"xml", "toon"}
    assert len(CASES) >= 9


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_every_xml_and_toon_corpus_row_parses_to_what_it_expects(
    case: corpus_cases.Case,
) -> None:
    assert _parsed(case.reply, case.model) == case.expected


class Address(BaseModel):
    city: str
    zip: int


class Person(BaseModel):
    name: str
    age: int


class Team(BaseModel):
    title: str
    members: list[Person]
    scores: dict[str, float]
    lead: Person | None = None


class Words(BaseModel):
    value: list[str]


class Text(BaseModel):
    value: str


class Located(BaseModel):
    name: str
    address: Address


class Answer(BaseModel):
    result: Person | list[str]


class Maps(BaseModel):
    value: list[dict[str, int]]


class Nested(BaseModel):
    value: dict[str, dict[str, int]]


class Status(BaseModel):
    status: Literal["ACTIVE", "PAUSED"]
    note: str | None = None


# XML


def test_xml_reads_nested_objects_after_prose_and_a_declaration() -> None:
    reply = (
        'Sure, here it is:\n<?xml version="1.0" encoding="UTF-8"?>\n<!-- the answer -->\n'
        "<Located><name>Ada</name><address><city>London</city><zip>12345</zip></address>"
        "</Located>\nAnything else?"
    )
    assert _parsed(reply, Located) == {"name": "Ada", "address": {"city": "London", "zip": 12345}}
    assert _message(reply, Located) == "read the reply as XML"


def test_xml_leaves_stay_strings_for_the_coercion() -> None:
    extracted = read_markup(
        "<Address><city> Paris </city><zip>75001</zip></Address>", shape_of(Located)
    )
    assert extracted is None  # two fields, neither named by the root's children
    reply = "<Located><name> Ada </name><address><city>Paris</city><zip>75001</zip></address>"
    extracted = read_markup(reply + "</Located>", shape_of(Located))
    assert extracted is not None
    assert extracted.value == {"name": "Ada", "address": {"city": "Paris", "zip": "75001"}}


def test_xml_decodes_entities_and_keeps_cdata_as_written() -> None:
    reply = "<value>A &amp; B &lt;3 &#39;x&#x27; <![CDATA[<raw> & more]]></value>"
    assert _parsed(reply, Text) == {"value": "A & B <3 'x' <raw> & more"}


def test_xml_reads_the_text_of_markup_inside_a_string() -> None:
    assert _parsed("<value>Some <b>bold</b> words</value>", Text) == {"value": "Some bold words"}


@pytest.mark.parametrize(
    ("reply", "left_open"),
    [
        ("Here is the result:\n<Person>\n  <name>Ada</name>\n  <age>36", 2),
        ("<Person><name>Ada</name><age>36</age>", 1),
        ("<Person><name>Ada</name><age>36</Person>", 1),  # the close tag of age is missing
        ("<Person><name>Ada</name></oops><age>36</age></Person>", 0),  # a stray close tag
        ("<Person><name>Ada<age>36</age></Person>", 1),  # the close tag of name is missing
        ("<Person>\n  <name>Ada\n  <age>36", 3),
    ],
)
def test_xml_closes_elements_left_open(reply: str, left_open: int) -> None:
    assert _parsed(reply, Person) == {"name": "Ada", "age": 36}
    message = _message(reply, Person)
    if left_open:
        assert (
            message == f"read the reply as XML; closed {left_open} element(s) the reply left open"
        )
    else:
        assert message == "read the reply as XML"


def test_xml_recovers_a_list_cut_off_at_the_end() -> None:
    reply = "preamble <items><item>one</item><item>two"
    assert _parsed(reply, Words) == {"value": ["one", "two"]}
    assert "closed 2 element(s)" in _message(reply, Words)


def test_xml_reads_a_map_written_as_entries() -> None:
    reply = (
        "<Team><title>T</title><members></members><scores>"
        "<entry><key>speed</key><value>1.5</value></entry>"
        "<entry><key>rank</key><value>2</value></entry>"
        "</scores></Team>"
    )
    assert _parsed(reply, Team)["scores"] == {"speed": 1.5, "rank": 2.0}


def test_xml_reads_wrapper_tags_around_a_list_a_map_and_a_union_member() -> None:
    listed = (
        "<Team><title>T</title><members><People><Person><name>Ada</name><age>36</age></Person>"
        "<Person><name>Bo</name><age>7</age></Person></People></members>"
        "<scores><map><entry><key>speed</key><value>1.5</value></entry></map></scores></Team>"
    )
    parsed = _parsed(listed, Team)
    assert parsed["members"] == [{"name": "Ada", "age": 36}, {"name": "Bo", "age": 7}]
    assert parsed["scores"] == {"speed": 1.5}
    one = "<Answer><result><Person><name>Ada</name><age>36</age></Person></result></Answer>"
    assert _parsed(one, Answer) == {"result": {"name": "Ada", "age": 36}}


def test_xml_reads_no_wrapper_into_a_text_with_markup_or_a_tag_named_entry() -> None:
    noted = "<Words><value><note>Use <b>bold</b> here</note></value></Words>"
    assert _parsed(noted, Words) == {"value": ["Use bold here"]}
    marked = "<Words><value><li><b>Bold</b> <i>it</i></li></value></Words>"
    assert _parsed(marked, Words) == {"value": ["Bold it"]}
    assert _parsed("<M><value><item><a>1</a><b>2</b></item></value></M>", Maps) == {
        "value": [{"a": 1, "b": 2}]
    }
    nested = "<N><value><outer><entry><key>a</key><value>1</value></entry></outer></value></N>"
    assert _parsed(nested, Nested) == {"value": {"outer": {"a": 1}}}
    tagged = (
        "<Team><title>T</title><members/><scores><speed><entry>1</entry></speed></scores></Team>"
    )
    assert _parsed(tagged, Team)["scores"] == {"speed": 1.0}


def test_xml_reads_a_map_whose_tags_are_its_keys() -> None:
    reply = (
        "<Team><title>T</title><members/><scores><speed>1.5</speed><rank>2</rank></scores></Team>"
    )
    assert _parsed(reply, Team)["scores"] == {"speed": 1.5, "rank": 2.0}


def test_xml_empty_elements_are_empty_arrays_and_maps() -> None:
    reply = "<Team><title>T</title><members></members><scores/></Team>"
    assert _parsed(reply, Team) == {"title": "T", "members": [], "scores": {}, "lead": None}


def test_xml_array_items_are_the_children_whatever_their_tag() -> None:
    reply = (
        "<Team><title>T</title><members>"
        "<Person><name>Ada</name><age>36</age></Person>"
        "<member><name>Grace</name><age>37</age></member>"
        "</members><scores/></Team>"
    )
    assert _parsed(reply, Team)["members"] == [
        {"name": "Ada", "age": 36},
        {"name": "Grace", "age": 37},
    ]


def test_xml_reads_a_list_written_as_repeated_elements() -> None:
    reply = (
        "<Team><title>T</title>"
        "<members><name>Ada</name><age>36</age></members>"
        "<members><name>Grace</name><age>37</age></members>"
        "<scores/></Team>"
    )
    assert [m["name"] for m in _parsed(reply, Team)["members"]] == ["Ada", "Grace"]


def test_xml_reads_one_list_item_written_without_a_wrapper() -> None:
    reply = "<Team><title>T</title><members><name>Ada</name><age>36</age></members><scores/></Team>"
    assert _parsed(reply, Team)["members"] == [{"name": "Ada", "age": 36}]


def test_xml_reads_attributes_as_fields() -> None:
    reply = (
        '<Team title="A &amp; B"><members><person name="Ada" age=\'36\'/></members><scores/></Team>'
    )
    assert _parsed(reply, Team) == {
        "title": "A & B",
        "members": [{"name": "Ada", "age": 36}],
        "scores": {},
        "lead": None,
    }


def test_xml_unwraps_an_element_around_the_object() -> None:
    reply = "<response><result><Person><name>Ada</name><age>36</age></Person></result></response>"
    assert _parsed(reply, Person) == {"name": "Ada", "age": 36}


def test_xml_a_one_field_object_takes_the_root_as_its_value() -> None:
    assert _parsed('<?xml version="1.0"?><Status>ACTIVE</Status>', Text) == {"value": "ACTIVE"}
    assert _parsed("<items><item>one</item><item>two</item></items>", Words) == {
        "value": ["one", "two"]
    }


def test_xml_several_roots_of_one_tag_are_the_items_of_a_list() -> None:
    assert _parsed("<item>one</item>\n<item>two</item>", Words) == {"value": ["one", "two"]}


def test_xml_chooses_the_union_alternative_its_children_name() -> None:
    person = "<Answer><result><name>Ada</name><age>36</age></result></Answer>"
    words = "<Answer><result><item>a</item><item>b</item></result></Answer>"
    assert _parsed(person, Answer) == {"result": {"name": "Ada", "age": 36}}
    assert _parsed(words, Answer) == {"result": ["a", "b"]}


def test_xml_reads_null_words_and_optional_objects() -> None:
    reply = "<Team><title>T</title><members/><scores/><lead>null</lead></Team>"
    assert _parsed(reply, Team)["lead"] is None
    reply = (
        "<Team><title>T</title><members/><scores/><lead><name>Ada</name><age>1</age></lead></Team>"
    )
    assert _parsed(reply, Team)["lead"] == {"name": "Ada", "age": 1}


def test_xml_matches_tags_to_fields_by_any_spelling() -> None:
    class Aliased(BaseModel):
        full_name: str = Field(alias="fullName")
        ville: str = Field(alias="Ville")

    reply = "<Aliased><Full-Name>Ada</Full-Name><ville>Zürich</ville><extra>x</extra></Aliased>"
    assert _parsed(reply, Aliased) == {"full_name": "Ada", "ville": "Zürich"}
    reply = "<International><prenom>Ada</prenom></International>"
    assert _parsed(reply, _international()) == {"name": "Ada", "age": None}


def _international() -> type[BaseModel]:
    class International(BaseModel):
        name: str = Field(alias="prénom")
        age: int | None = None

    return International


def test_xml_ignores_namespace_prefixes() -> None:
    reply = '<ns:Person xmlns:ns="urn:x"><ns:name>Ada</ns:name><ns:age>36</ns:age></ns:Person>'
    assert _parsed(reply, Person) == {"name": "Ada", "age": 36}


@pytest.mark.parametrize(
    "reply",
    [
        "This is only prose.",
        "a < b and c > d, 3 <4",
        '{"name": "<b>Ada</b>", "age": 36}',
        'Result: {"name": "Ada"} <note>ok</note>',
        "<b>Note</b>: the person is Ada, 36.",  # elements, none naming a field of Person
        "<item>" * (MAX_DEPTH + 1) + "Ada" + "</item>" * (MAX_DEPTH + 1),
    ],
)
def test_xml_is_not_read_from_what_holds_no_fitting_element(reply: str) -> None:
    assert read_markup(reply, shape_of(Person)) is None


def test_xml_nesting_within_the_limit_is_read() -> None:
    reply = "<value>" + "<item>" * (MAX_DEPTH - 1) + "deep" + "</item>" * (MAX_DEPTH - 1)
    assert _parsed(reply + "</value>", Text) == {"value": "deep"}


def test_xml_recursive_model_reads_to_any_depth() -> None:
    class Node(BaseModel):
        value: int
        next: Node | None = None

    reply = (
        "<Node><value>1</value><next><value>2</value><next><value>3</value></next></next></Node>"
    )
    assert _parsed(reply, Node) == {
        "value": 1,
        "next": {"value": 2, "next": {"value": 3, "next": None}},
    }


# TOON


def test_toon_reads_keys_nesting_and_typed_scalars() -> None:
    class Typed(BaseModel):
        count: int
        ratio: float
        flag: bool
        missing: str | None
        quoted: str
        code: str
        meta: dict[str, Any]

    reply = (
        'count: 42\nratio: 3.5\nflag: true\nmissing: null\nquoted: "42, \\"yes\\""\ncode: 007\n'
        "meta:\n  deep:\n    x: -1e2\n  empty:\n"
    )
    extracted = read_markup(reply, shape_of(Typed))
    assert extracted is not None
    assert extracted.value == {
        "count": 42,
        "ratio": 3.5,
        "flag": True,
        "missing": None,
        "quoted": '42, "yes"',
        "code": "007",
        "meta": {"deep": {"x": -100.0}, "empty": {}},
    }
    assert _message(reply, Typed) == "read the reply as TOON"


def test_toon_skips_prose_before_and_after() -> None:
    reply = "Here is the result:\nname: Ada\nage: 36\n\nLet me know if you need more."
    assert _parsed(reply, Person) == {"name": "Ada", "age": 36}


def test_toon_reads_a_fenced_and_indented_block() -> None:
    reply = "```toon\n  name: Ada\n  age: 36\n```\nDone."
    assert _parsed(reply, Person) == {"name": "Ada", "age": 36}


def test_toon_reads_tabular_arrays_with_any_delimiter() -> None:
    comma = "title: T\nmembers[2]{name,age}:\n  Ada,36\n  Grace,37\nscores:\n  x: 1"
    pipe = 'title: T\nmembers[2|]{name|age}:\n  Ada|36\n  "Gr|ace"|37\nscores:\n  x: 1'
    tab = "title: T\nmembers[2\t]{name\tage}:\n  Ada\t36\n  Grace\t37\nscores:\n  x: 1"
    assert [m["name"] for m in _parsed(comma, Team)["members"]] == ["Ada", "Grace"]
    assert [m["name"] for m in _parsed(pipe, Team)["members"]] == ["Ada", "Gr|ace"]
    assert _parsed(tab, Team)["members"] == [
        {"name": "Ada", "age": 36},
        {"name": "Grace", "age": 37},
    ]


def test_toon_reads_list_items_of_objects_and_arrays() -> None:
    reply = (
        "title: T\nmembers[2]:\n  - name: Ada\n    age: 36\n  - name: Grace\n    age: 37\n"
        "scores:\n  x: 1.5"
    )
    assert _parsed(reply, Team) == {
        "title": "T",
        "members": [{"name": "Ada", "age": 36}, {"name": "Grace", "age": 37}],
        "scores": {"x": 1.5},
        "lead": None,
    }

    class Grid(BaseModel):
        rows: list[list[int]]
        words: list[str]

    reply = "rows[2]:\n  - [2]: 1,2\n  - [1]: 3\nwords[2]:\n  - one\n  - two"
    assert _parsed(reply, Grid) == {"rows": [[1, 2], [3]], "words": ["one", "two"]}


def test_toon_empty_arrays() -> None:
    reply = "title: T\nmembers[0]:\nscores:\n  x: 1"
    assert _parsed(reply, Team)["members"] == []


def test_toon_keeps_the_items_given_when_the_length_disagrees() -> None:
    reply = "value[3]: one,two"
    assert _parsed(reply, Words) == {"value": ["one", "two"]}
    assert _message(reply, Words) == (
        "read the reply as TOON; value declares 3 items but gives 2; kept the 2 given"
    )
    rows = "title: T\nmembers[1]{name,age}:\n  Ada,36\n  Grace,37\nscores:\n  x: 1"
    assert len(_parsed(rows, Team)["members"]) == 2
    assert "members declares 1 items but gives 2" in _message(rows, Team)


def test_toon_splits_only_outside_quotes() -> None:
    reply = 'value[4]: one,"two,three",four'
    assert _parsed(reply, Words) == {"value": ["one", "two,three", "four"]}
    assert "value declares 4 items but gives 3" in _message(reply, Words)


def test_toon_says_when_a_row_does_not_match_its_fields() -> None:
    reply = "title: T\nmembers[1]{name,age}:\n  Ada,36,extra\nscores:\n  x: 1"
    assert "a row has 3 values for 2 fields" in _message(reply, Team)


def test_toon_reads_quoted_and_unicode_keys() -> None:
    reply = '"prénom": Ada\nage: 36'
    assert _parsed(reply, _international()) == {"name": "Ada", "age": 36}


def test_toon_enum_and_optional_fields() -> None:
    assert _parsed("status: PAUSED\nnote: null", Status) == {"status": "PAUSED", "note": None}


@pytest.mark.parametrize(
    "reply",
    [
        "This is only prose.",
        "not a key: value",
        "Note: the answer is below.\nWarning: none.",  # keys, but no field of the shape
        '{\n  "name": "Ada"\n}',
        'Result:\n{\n  "name": "Ada",\n  "age": 36\n}',
        'name: Ada\n["age", 36]',
        "",
    ],
)
def test_toon_is_not_read_from_prose_or_json(reply: str) -> None:
    assert read_markup(reply, shape_of(Person)) is None


def test_toon_nesting_deeper_than_the_limit_is_not_read() -> None:
    reply = "name:\n" + "".join(
        f"{' ' * (2 * depth)}k{depth}:\n" for depth in range(1, MAX_DEPTH + 2)
    )
    assert read_markup(reply, shape_of(Person)) is None


def test_the_notation_that_starts_first_is_read() -> None:
    toon_first = "name: Ada <the first>\nage: 36"
    xml_first = "<Person><name>Ada</name><age>36</age></Person>\nname: Grace"
    assert _parsed(toon_first, Person) == {"name": "Ada <the first>", "age": 36}
    assert _parsed(xml_first, Person) == {"name": "Ada", "age": 36}


def test_toon_reads_a_root_array_as_a_one_field_list() -> None:
    class People(BaseModel):
        people: list[Person]

    assert _parsed("[3]: one,two,three", Words) == {"value": ["one", "two", "three"]}
    reply = "Here they are:\n[2]{name,age}:\n  Ada,36\n  Grace,37"
    assert _parsed(reply, People) == {
        "people": [{"name": "Ada", "age": 36}, {"name": "Grace", "age": 37}]
    }
    assert read_markup("[2]: Ada,36", shape_of(Person)) is None  # not a list: no field to hold it


def test_toon_unfolds_dotted_keys_but_not_quoted_ones() -> None:
    class Book(BaseModel):
        title: str
        author: Person

    folded = "title: T\nauthor.name: Ada\nauthor.age: 36"
    assert _parsed(folded, Book) == {"title": "T", "author": {"name": "Ada", "age": 36}}
    extracted = read_markup('title: T\n"author.name": Ada', shape_of(Book))
    assert extracted is not None
    assert extracted.value == {"title": "T", "author.name": "Ada"}
