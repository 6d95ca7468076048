"""Vocabularies: canonical values with their spellings, from definition to prompt to reply."""

from __future__ import annotations

import json
from typing import Literal

import jsonschema
import pytest
from pydantic import BaseModel

from promptkit import (
    Example,
    Task,
    compile_prompt,
    field,
    grounded,
    parse,
    parse_with_report,
    vocabulary,
)
from promptkit.checks import supported_values
from promptkit.errors import OutputError, TaskDefinitionError
from promptkit.formats import compact_schema
from promptkit.schema import shape_of
from promptkit.vocabularies import canonical_fields

SLEEVES = {
    "long sleeve": ["long sleeved", "long sleeves", "longsleeve"],
    "sleeveless": ["sleevless", "no sleeve", "no sleeves"],
    "short sleeve": ["short sleeves"],
}
Sleeve = vocabulary(SLEEVES)
Neck = vocabulary({"v neck": ["v-neck", "vneck"], "crew neck": ["crewneck"]})


class Garment(BaseModel):
    sleeve: Sleeve | None = None  # type: ignore[valid-type]
    neck: Neck | None = None  # type: ignore[valid-type]
    type: str | None = None


def make(examples=(), checks=()) -> Task:
    return Task(
        name="garments",
        instructions="Name the sleeve, the neck and the type.",
        input_model="search",
        output_model=Garment,
        examples=examples,
        checks=checks,
    )


def test_a_vocabulary_is_an_enum_of_its_canonical_values_with_their_spellings():
    shape = shape_of(Garment).fields[0].shape
    assert shape.kind == "enum"
    assert shape.nullable
    assert shape.values == ("long sleeve", "sleeveless", "short sleeve")
    assert shape.aliases["sleeveless"] == ("sleevless", "no sleeve", "no sleeves")


def test_one_spelling_for_two_values_or_no_values_is_refused():
    with pytest.raises(ValueError, match="'V-Neck' is a spelling of both 'v neck' and 'vee'"):
        vocabulary({"v neck": ["v-neck"], "vee": ["V-Neck"]})
    with pytest.raises(ValueError, match="at least one value"):
        vocabulary({})


def test_the_notation_shows_a_large_vocabulary_briefly_and_a_few_aliases_in_full():
    notation = compact_schema(shape_of(Garment))
    assert '"sleeve"?: "long sleeve" | "sleeveless" | "short sleeve"' in notation
    assert "sleevless" not in notation  # more than six spellings are not listed
    assert '"v neck" also written "v-neck", "vneck"' in notation


def test_a_reply_spelling_is_coerced_to_its_canonical_value_and_reported():
    parsed = parse_with_report('{"sleeve": "Long-Sleeved", "neck": "vneck"}', Garment)
    assert (parsed.value.sleeve, parsed.value.neck) == ("long sleeve", "v neck")
    assert {action.path for action in parsed.report.of_kind("coerce")} == {("sleeve",), ("neck",)}


def test_a_value_that_is_no_spelling_fails_with_the_raw_reply_kept():
    with pytest.raises(OutputError) as caught:
        parse('{"sleeve": "turtleneck"}', Garment)
    assert caught.value.raw == '{"sleeve": "turtleneck"}'
    assert caught.value.errors[0].path == ("sleeve",)


def test_examples_and_labelled_rows_may_use_any_spelling_and_become_canonical():
    task = make([Example("mens sleevless tee", {"sleeve": "sleevless", "type": "tee"})])
    assert task.examples[0].output.sleeve == "sleeveless"
    data = canonical_fields(shape_of(Garment).fields, {"sleeve": "No Sleeve", "neck": "polo"})
    assert data == {"sleeve": "sleeveless", "neck": "polo"}


def test_an_example_outside_the_vocabulary_fails_at_definition_naming_example_and_field():
    with pytest.raises(TaskDefinitionError) as caught:
        make([Example("a", {}), Example("polo neck top", {"neck": "polo neck"})])
    (problem,) = caught.value.problems
    assert problem.startswith("example 1 output, field 'neck': Input should be 'v neck' or")


def test_grounded_accepts_a_canonical_value_when_any_of_its_spellings_occurs():
    check = grounded("sleeve", "neck", on_fail="null")
    task = make(checks=[check])
    source = task.make_input("womens sleevless v-necks")
    assert check(Garment(sleeve="sleeveless", neck="v neck"), source) == []
    (finding,) = check(Garment(sleeve="long sleeve"), source)
    assert finding.path == ("sleeve",)
    assert finding.action == "null"


def test_narrowing_allows_the_values_an_input_spells_and_the_phrases_it_has():
    task = make(checks=[grounded("sleeve", "neck", "type", constrain=True)])
    source = task.make_input("crewneck long sleeves tee")
    allowed, filled = supported_values(task.output_shape, task.checks, source)
    assert allowed["sleeve"] == ("long sleeve",)
    assert allowed["neck"] == ("crew neck",)
    assert allowed["type"] == ("tee",)  # the spellings of sleeve and neck values are theirs
    assert filled == frozenset()


def test_a_value_spelled_only_inside_a_longer_spelling_is_not_the_inputs():
    class Top(BaseModel):
        neck: vocabulary({"mock neck": ["mock turtle neck"], "turtleneck": ["turtle neck"]})  # type: ignore[valid-type]

    task = Task(name="tops", instructions="Name the neck.", input_model="search",
                output_model=Top, checks=[grounded("neck", constrain=True, fill=True)])  # fmt: skip
    schema = compile_prompt(task, "mock turtle neck pullover").json_schema
    assert schema["properties"]["neck"]["enum"] == ["mock neck"]  # the longest spelling wins
    both = compile_prompt(task, "mock turtle neck and turtle neck tops").json_schema
    assert both["properties"]["neck"]["enum"] == ["mock neck", "turtleneck"]


def test_a_narrowed_reply_schema_cannot_put_one_fields_phrase_in_another():
    task = make(checks=[grounded("sleeve", "neck", "type", constrain=True)])
    schema = compile_prompt(task, "v neck long sleeve tee").json_schema
    jsonschema.validate({"sleeve": "long sleeve", "neck": "v neck", "type": "tee"}, schema)
    jsonschema.validate({"sleeve": None, "neck": None, "type": None}, schema)
    fine = {"sleeve": None, "neck": None, "type": "tee"}
    for change in ({"neck": "long sleeve"}, {"sleeve": "short sleeve"}, {"type": "v neck"}):
        wrong = {**fine, **change}
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(wrong, schema)


def test_a_value_the_examples_also_write_in_a_string_field_stays_among_its_phrases():
    checks = [grounded("sleeve", "neck", "type", constrain=True)]
    crewneck = Example("grey crewneck", {"neck": "crew neck", "type": "crewneck"})
    shared = make([crewneck], checks)
    kept_apart = make([Example("crewneck tee", {"neck": "crew neck", "type": "tee"})], checks)
    search = "crewneck long sleeves"
    assert compile_prompt(shared, search).json_schema["properties"]["type"]["enum"] == [
        "crewneck",
        None,
    ]  # the examples say a crewneck is a type too; the sleeve's spellings stay the sleeve's
    assert compile_prompt(kept_apart, search).json_schema["properties"]["type"]["enum"] == [None]


def test_a_phrase_does_not_stop_right_before_a_word_the_labelled_values_end_with():
    checks = [grounded("type", constrain=True)]
    jerseys = make([Example("soccer jersey kids", {"type": "soccer jersey"})], checks)
    phrases = compile_prompt(jerseys, "hockey jersey youth").json_schema["properties"]["type"]
    assert "hockey" not in phrases["enum"]  # it stops short of "jersey", where types end
    assert {"hockey jersey", "jersey", "hockey jersey youth", None} <= set(phrases["enum"])
    unlabelled = make([], checks)
    phrases = compile_prompt(unlabelled, "hockey jersey youth").json_schema["properties"]["type"]
    assert "hockey" in phrases["enum"]


def test_a_labelled_value_of_several_words_is_taken_whole_or_left_out():
    checks = [grounded("type", constrain=True)]
    dresses = make([Example("white maxi dress", {"type": "maxi dress"})], checks)
    phrases = compile_prompt(dresses, "floral Maxi Dresses long").json_schema["properties"]["type"]
    assert {"Maxi Dresses", "floral Maxi Dresses", None} <= set(phrases["enum"])
    cut = {"Maxi", "Dresses", "Dresses long", "floral Maxi"}  # each cuts "maxi dress" (singular)
    assert cut.isdisjoint(phrases["enum"])
    unlabelled = compile_prompt(make([], checks), "floral maxi dresses").json_schema
    assert "dresses" in unlabelled["properties"]["type"]["enum"]


def test_a_phrase_does_not_begin_or_end_with_a_common_word_no_labelled_value_has_there():
    checks = [grounded("type", constrain=True)]
    labelled = [
        Example("socks for kids", {"type": "socks"}),
        Example("kids hats for winter", {"type": "hats"}),
        Example("kids gloves for boys", {"type": "gloves"}),
        Example("tops for women", {"type": "tops"}),
    ]
    phrases = compile_prompt(make(labelled, checks), "kids scarves for girls").json_schema
    # "kids" and "for" are in 3 or more labelled searches and begin or end no labelled type.
    assert phrases["properties"]["type"]["enum"] == ["scarves", "scarves for girls", "girls", None]
    rare = compile_prompt(make(labelled[:2], checks), "kids scarves for girls").json_schema
    assert "kids scarves" in rare["properties"]["type"]["enum"]  # in 2 searches: too few to learn


def test_a_phrase_does_not_begin_right_after_a_frequent_word_no_labelled_value_follows():
    def types(labelled: list[Example], search: str) -> list[str | None]:
        task = make(labelled, [grounded("type", constrain=True)])
        return list(compile_prompt(task, search).json_schema["properties"]["type"]["enum"])

    garments = ["socks", "hats", "gloves", "tops", "scarves", "vests", "coats", "shirts", "caps"]
    labelled = [Example(f"{garment} for kids", {"type": garment}) for garment in garments]
    gifts = Example("gifts for dad", {"type": None})
    # "for" is in 10 labelled searches, in no labelled type, and no labelled type follows it.
    assert types([*labelled, gifts], "gifts for teachers") == ["gifts", "gifts for teachers", None]
    assert "teachers" in types(labelled, "gifts for teachers")  # in 9: too few to learn
    followed = Example("outfit for dolls", {"type": "dolls"})
    assert "teachers" in types([*labelled, followed], "gifts for teachers")  # a type follows it


def test_lessons_see_every_number_as_one_word():
    checks = [grounded("type", constrain=True)]
    labelled = [
        Example("kids socks size 10", {"type": "socks"}),
        Example("dress 3t", {"type": "dress"}),
        Example("boys 8 jeans", {"type": "jeans"}),
        Example("tops 2 pack", {"type": "tops"}),
    ]
    phrases = compile_prompt(make(labelled, checks), "girls 13 leggings").json_schema
    # Three labelled searches hold a number (10, 8, 2), and no labelled type begins or ends
    # with one: 13 neither.
    assert phrases["properties"]["type"]["enum"] == ["girls", "girls 13 leggings", "leggings", None]


def test_an_examples_label_does_not_narrow_its_own_input():
    checks = [grounded("type", constrain=True)]
    dresses = make([Example("white maxi dress", {"type": "maxi dress"})], checks)
    phrases = compile_prompt(dresses, "white maxi dress").json_schema["properties"]["type"]
    assert "dress" in phrases["enum"]  # as in leave-one-out: it is not among its own examples
    assert (
        "dress"
        not in compile_prompt(dresses, "black maxi dress").json_schema["properties"]["type"]["enum"]
    )


def test_a_required_field_the_input_cannot_support_is_not_narrowed_to_nothing():
    class Required(BaseModel):
        sleeve: Sleeve  # type: ignore[valid-type]

    task = Task(
        name="required-sleeve",
        instructions="Name the sleeve.",
        input_model="search",
        output_model=Required,
        checks=[grounded("sleeve", constrain=True)],
    )
    schema = compile_prompt(task, "a tee").json_schema
    assert schema["properties"]["sleeve"]["enum"] == ["long sleeve", "sleeveless", "short sleeve"]


def test_field_aliases_on_a_literal_are_the_same_mechanism():
    class ByHand(BaseModel):
        sleeve: Literal["long sleeve", "sleeveless"] | None = field(
            None, aliases={"sleeveless": ["sleevless"]}
        )

    assert shape_of(ByHand).fields[0].shape.aliases == {"sleeveless": ("sleevless",)}
    assert parse(json.dumps({"sleeve": "sleevless"}), ByHand).sleeve == "sleeveless"


def test_a_narrowed_field_is_always_written_and_examples_show_it_null() -> None:
    task = make(
        [Example("plain tee", {"type": "tee"})],
        checks=[grounded("sleeve", "type", constrain=True)],
    )
    prompt = compile_prompt(task, "short sleeves polo", shots=1, layout="chat")
    assert prompt.json_schema["required"] == ["sleeve", "type"]
    assert json.loads(prompt.messages[2].content) == {"sleeve": None, "type": "tee"}


def test_fill_leaves_no_null_for_a_vocabulary_value_the_input_spells() -> None:
    task = make(checks=[grounded("sleeve", "neck", constrain=True, fill=True)])
    properties = compile_prompt(task, "vneck sleevless top").json_schema["properties"]
    assert properties["sleeve"]["enum"] == ["sleeveless"]
    assert properties["neck"]["enum"] == ["v neck"]
    assert compile_prompt(task, "top").json_schema["properties"]["neck"]["enum"] == [None]


def test_a_lexicon_narrows_a_field_to_whole_phrases_that_begin_and_end_with_its_words() -> None:
    check = grounded("type", constrain=True, lexicon=["navy", "blue", "white", "black"])
    task = make(checks=[check])
    allowed = compile_prompt(task, "navy blue dress with white and black trim").json_schema
    # Never a part of the colour words written together: not "blue", not "white".
    assert set(allowed["properties"]["type"]["enum"]) == {"navy blue", "white and black", None}
    allowed = compile_prompt(task, "white dress with navy").json_schema
    assert set(allowed["properties"]["type"]["enum"]) == {
        "white",
        "navy",
        "white dress with navy",
        None,
    }
    (finding,) = check(Garment(type="dress"), task.make_input("navy dress"))
    assert finding.message == "'dress' does not begin and end with a lexicon word"


def test_a_modifier_begins_a_lexicon_phrase_but_never_ends_one() -> None:
    class Coloured(BaseModel):
        colour: str | None = None
        type: str | None = None

    check = grounded(
        "colour", constrain=True, lexicon=["blue", "pink"], modifiers=["light", "baby"]
    )
    task = Task(
        name="coloured",
        instructions="Name the colour and the type.",
        input_model="search",
        output_model=Coloured,
        checks=[grounded("type", constrain=True), check],
    )

    def allowed(search: str) -> dict[str, list[str | None]]:
        properties = compile_prompt(task, search).json_schema["properties"]
        return {key: properties[key]["enum"] for key in ("colour", "type")}

    assert allowed("light blue baby tee") == {
        "colour": ["light blue", None],  # not "blue": the run is "light blue"
        "type": ["light blue baby tee", "blue baby tee", "baby tee", "tee", None],
    }
    assert allowed("blue light glasses")["colour"] == ["blue", None]  # "light" qualifies no colour
    assert allowed("baby light blue")["colour"] == ["baby light blue", None]
    assert allowed("baby clothes") == {"colour": [None], "type": ["baby clothes", "clothes", None]}
    (finding,) = check(Coloured(colour="baby"), task.make_input("baby clothes"))
    assert finding.message == "'baby' does not begin and end with a lexicon word"


def test_fill_and_lexicon_need_constrain() -> None:
    with pytest.raises(ValueError, match="need constrain=True"):
        grounded("sleeve", fill=True)
    with pytest.raises(
        ValueError, match="modifiers qualify a lexicon's words: they need a lexicon"
    ):
        grounded("colour", constrain=True, modifiers=["light"])


def test_a_phrase_a_lexicon_admits_is_not_another_string_fields() -> None:
    class Coloured(BaseModel):
        colour: str | None = None
        type: str | None = None

    task = Task(
        name="coloured",
        instructions="Name the colour and the type.",
        input_model="search",
        output_model=Coloured,
        checks=[
            grounded("type", constrain=True),
            grounded("colour", constrain=True, lexicon=["olive", "green"]),
        ],
    )
    properties = compile_prompt(task, "olive green tee").json_schema["properties"]
    assert properties["colour"]["enum"] == ["olive green", None]
    assert properties["type"]["enum"] == ["olive green tee", "green tee", "tee", None]
