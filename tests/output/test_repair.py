"""repair_json: each syntactic repair class, truncation, limits, and idempotence."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promptkit.errors import ReplyReadError
from promptkit.output.repair import MAX_DEPTH, repair_json


def _repaired(text: str) -> tuple[object, list[str]]:
    result = repair_json(text, text.index(text.lstrip()[0]))
    return result.value, [action.message for action in result.actions]


@pytest.mark.parametrize(
    ("text", "value", "words"),
    [
        ('{"a": 1,}', {"a": 1}, "trailing comma"),
        ("[1, 2,]", [1, 2], "trailing comma"),
        ('{"a": 1,, "b": 2}', {"a": 1, "b": 2}, "extra comma"),
        ('{"a": 1\n "b": 2}', {"a": 1, "b": 2}, "missing comma"),
        ('["x" "y"]', ["x", "y"], "missing comma"),
        ("{'a': 'b'}", {"a": "b"}, "replaced ' quotes"),
        ("{a: 1}", {"a": 1}, "quoted a key"),
        # a string holding JSON whose quotes were not escaped: its quotes are inner ones
        ('{"a": "{"b": "c", "d": 1}"\n}', {"a": '{"b": "c", "d": 1}'}, "inner quotes"),
        ('["[1, "x"]", 2]', ['[1, "x"]', 2], "inner quotes"),
        ('{"x": "a, {"k": 1}, "y": 2}', {"x": 'a, {"k": 1}', "y": 2}, "closing quote is missing"),
        (
            '{"x": "see {"a": 1, "b": 2} ok", "n": 1}',
            {"x": 'see {"a": 1, "b": 2} ok', "n": 1},
            "inner",
        ),
        ('{\'a\': "use { to open", "b": 1}', {"a": "use { to open", "b": 1}, "' quotes"),
        # brackets a string leaves open, or closes with another kind, hold no JSON
        ("{'a': 'see [1, 2', 'n': 1}", {"a": "see [1, 2", "n": 1}, "' quotes"),
        ('{"a": "say "hi" [1, 2", "n": 1}', {"a": 'say "hi" [1, 2', "n": 1}, "inner quotes"),
        ('{"a": "x [0, 1)\n", "n": 1,}', {"a": "x [0, 1)\n", "n": 1}, "trailing comma"),
        # a string's own closing quote is no quote of JSON in it ("see [1, 2" then "x]")
        (
            '{"a": "see\\n[1, 2", "b": "x]", "n": 1,}',
            {"a": "see\n[1, 2", "b": "x]", "n": 1},
            "trailing comma",
        ),
        # JSON opened in a string with no quote after it to close the string: the reply's brace
        ('{"a": "JSON: {"k": "v", "n": 1}', {"a": 'JSON: {"k', "n": 1}, "inner quotes"),
        # a ] closing no container open here is an inner quote's, counted by the quotes
        ('{"a": "[see "b"] more", "n": 1}', {"a": '[see "b"] more', "n": 1}, "inner quotes"),
        # an object with no key: its members join the object around it
        ('{"a": 1, {"b": 2}}', {"a": 1, "b": 2}, "object with no key"),
        ('{"a": "x" {"b": 2}}', {"a": "x", "b": 2}, "object with no key"),
        ('{"a": 1 {"b": 2}}', {"a": 1, "b": 2}, "object with no key"),
        # a quoted code block with JSON's escapes and raw line breaks: the escapes are read
        ('{"a": "```html\n<b id=\\"1\\">\n```"}', {"a": '```html\n<b id="1">\n```'}, "code block"),
        # with raw line breaks and no escaped quote, a block's backslashes are its text
        ('{"a": "```\n\\frac{1}{2}\n```"}', {"a": "```\n\\frac{1}{2}\n```"}, "code block"),
        (
            '{"a": "```\n\\frac{1}{2}, M\\"uller\n```"}',
            {"a": '```\n\\frac{1}{2}, M\\"uller\n```'},
            "code block",
        ),
        ("{colour name: 1}", {"colour name": 1}, "quoted a key"),
        ('{"a": long sleeve}', {"a": "long sleeve"}, "unquoted string"),
        ('{"a": 3/4 sleeve}', {"a": "3/4 sleeve"}, "unquoted string"),
        ('{"a": sqrt(4) = 2}', {"a": "sqrt(4) = 2"}, "unquoted string"),  # no call: text after it
        ('{"a": "x" + b, "n": 1}', {"a": "x", "n": 1}, "no value"),  # + and no string to join
        ('{"a": 1 // one\n}', {"a": 1}, "// comment"),
        ('{/* note */ "a": 1}', {"a": 1}, "/* */ comment"),
        ('{"a": 1 # one\n}', {"a": 1}, "# comment"),
        ('{"a": True, "b": None}', {"a": True, "b": None}, "read True as true"),
        ('{"a": "he said "hi" to me"}', {"a": 'he said "hi" to me'}, "inner quotes"),
        ('{"a": "two\nlines"}', {"a": "two\nlines"}, "raw newlines"),
        ('{"a": `tick`}', {"a": "tick"}, "replaced ` quotes"),
        ('{"a": `tick\'}', {"a": "tick"}, "replaced ` quotes"),
        ('{"a": """triple"""}', {"a": "triple"}, "triple-quoted"),
        ('{"a": NaN, "b": Infinity}', {"a": None, "b": None}, "read NaN as null"),
        ('{"a": +1}', {"a": 1}, "number the JSON way"),
        ('{"a"= 1}', {"a": 1}, "replaced ="),
        ('{"a" 1}', {"a": 1}, "missing colon"),
        ('{"a": [1, 2}', {"a": [1, 2]}, "list left open"),
        ('{"a": 1, "a": 2}', {"a": 2}, "appears twice"),
        ('{"a": }', {}, "has no value"),
        ('{"key": "value}', {"key": "value"}, "closing quote is missing"),
        ('{"a": "New York, "b": "x"}', {"a": "New York", "b": "x"}, "closing quote is missing"),
        ('{"key": ["value]}', {"key": ["value"]}, "closing quote is missing"),
        ('[\n"abc,\n"def"\n]', ["abc", "def"], "closing quote is missing"),
        ('{"b": "xxxxx" true}', {"b": "xxxxx"}, "no value"),
        ('["value1" value2", "value3"]', ["value1", "value2", "value3"], "opening quote"),
        ('{"a": abc", "b": 1}', {"a": "abc", "b": 1}, "opening quote"),
        ('{"coords": (1, 2)}', {"coords": [1, 2]}, "tuple"),
        ('{"tags": {"a", "b"}}', {"tags": ["a", "b"]}, "set"),
        ('{"a": TRUE, "b": Null, "c": FALSE}', {"a": True, "b": None, "c": False}, "read TRUE"),
        ('{"value": 82_461_110}', {"value": 82461110}, "number the JSON way"),
        ('{"value": 12,111}', {"value": 12111}, "thousands"),
        ('{"value": 12,50}', {"value": "12,50"}, "comma as text"),
        ('{"value": 1e }', {"value": 1}, "exponent with no digits"),
        ("[1, 2, ...]", [1, 2], "ellipsis"),
        ('{"a": 1, COMMENT "b": 2}', {"a": 1, "b": 2}, "stray text"),
        ("{\u201ca\u201d: \u201cb\u201d}", {"a": "b"}, "quotes with double quotes"),
        ('{""a"": ""b""}', {"a": "b"}, "doubled quotes"),
        ('{"a": 1}, "b": 2}', {"a": 1, "b": 2}, "after the object closed"),
        ('[{"a": 1}}, {"a": 2}]', [{"a": 1}, {"a": 2}], "stray }"),
        ('{"a": [1, 2}, "b": 3}', {"a": [1, 2], "b": 3}, "replaced }"),
        ('["a": 1}]', [{"a": 1}], "missing {"),
        ('{"a": [1], [2, 3]}', {"a": [1, 2, 3]}, "list with no key"),
        ('{"a": ("x")}', {"a": "x"}, "one value in brackets"),
        ('{"a": "hi"\n",\n"b": "x"}', {"a": "hi", "b": "x"}, "stray quote"),
        ('["a" ", "b"]', ["a", "b"], "stray quote"),
        ('{"a": ("x",), "b": (1, 2)}', {"a": ["x"], "b": [1, 2]}, "tuple as a list"),
        ('{"a": 1, {"a": 2}}', {"a": 1}, "dropped a value that has no key"),
        ('{"a": 1 {"b": 2, "a": 9}}', {"a": 1, "b": 2}, "dropped 'a' of the object with no key"),
        ('{"a": {"b": 1 // note }, "c": 2}', {"a": {"b": 1}, "c": 2}, "// comment"),
        ('{"a": """\n    x = 1\n    """}', {"a": "x = 1"}, "triple-quoted"),
        ('{"a": ```python\nprint(1)\n```}', {"a": "print(1)"}, "fenced"),
        ('{"a": text, more text\n}', {"a": "text, more text"}, "unquoted string"),
        ('{"a": "x"```', {"a": "x"}, "code block"),
        ("[1, {]", [1], "dropped an object left open"),
        ('{"tags": {"a"}}', {"tags": ["a"]}, "read a set"),
        ('{"key": """"}', {"key": ""}, "run of quotes as an empty string"),
        ('{"a": 1, """" "b": 2}', {"a": 1, "b": 2}, "run of quotes before a key"),
        ('{"a": """f("""x""")"""}', {"a": 'f("""x""")'}, "triple-quoted"),
        ('{a":"foo", "b": 1}', {"a": "foo", "b": 1}, "missing opening quote to a key"),
        ('{"_id": ObjectId("5f1"), "n": NumberLong(2)}', {"_id": "5f1", "n": 2}, "inside ObjectId"),
        ('{"a": "hello" + " world"}', {"a": "hello world"}, "joined strings written with +"),
        ("{'a': 'x' +\n /* more */ 'y'}", {"a": "xy"}, "joined strings written with +"),
        ('[{"i": 1, {"i": 2}]', [{"i": 1}, {"i": 2}], "closed an object left open"),
        ('[{"i": 1{"i": 2}]', [{"i": 1}, {"i": 2}], "closed an object left open"),
        ("{`a\u00b4: `b\u00b4}", {"a": "b"}, "replaced ` quotes"),
    ],
)
def test_each_repair_gives_the_value_and_reports_it(text, value, words):
    got, messages = _repaired(text)
    assert got == value
    assert any(words in message for message in messages), messages


@pytest.mark.parametrize(
    "text",
    ['{"a": 1, "b": [true, null, "x"], "c": {"d": -1.5e3}}', '["a", true, 12, null]', "[]", "{}"],
)
def test_valid_json_reads_as_json_with_no_actions(text):
    result = repair_json(text)
    assert result.value == json.loads(text)
    assert result.actions == ()
    assert not result.truncated
    assert result.end == len(text)


@pytest.mark.parametrize("text", ['[{"i": 1{"i": 2}]', '[{"i": 1 {"i": 2}]'])
def test_an_object_left_open_before_the_next_item_reports_one_comma(text):
    value, messages = _repaired(text)
    assert value == [{"i": 1}, {"i": 2}]
    assert [message.split(" at ")[0] for message in messages] == [
        "closed an object left open before the next one",
        "added a missing comma",
    ]


def test_value_ends_where_its_json_ends_and_may_start_anywhere():
    text = 'see {"a": 1} and more'
    result = repair_json(text, 4)
    assert result.value == {"a": 1}
    assert (result.start, result.end) == (4, 12)


@pytest.mark.parametrize(
    ("text", "value", "cut_field"),
    [
        ('{"colour": "red", "sleeve": "long sl', {"colour": "red"}, "sleeve"),
        ('{"colour": "red", "size": 12', {"colour": "red"}, "size"),
        ('{"colour": "red", "tags": ["a", "b', {"colour": "red", "tags": ["a"]}, None),
        ('{"colour": "red", "sleeve": lon', {"colour": "red"}, "sleeve"),
        ('{"colour": "red", "slee', {"colour": "red"}, "slee"),
        ('{"colour": "red", "sleeve":', {"colour": "red"}, "sleeve"),
        ('{"colour": "red", "ok": tru', {"colour": "red"}, "ok"),
    ],
)
def test_truncation_closes_what_is_open_and_never_invents_a_field(text, value, cut_field):
    result = repair_json(text)
    assert result.truncated
    assert result.value == value
    if cut_field is not None:
        assert cut_field not in result.value
    assert "ends inside its JSON" in result.actions[-1].message


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("[{]", []),
        ('{"a": [{], "b": 1}', {"a": [], "b": 1}),
        ('[{"a": ]', []),
        ('[{"a": 1]', [{"a": 1}]),
        ("{foo: [}", {"foo": []}),
        ("[{)]", [{}]),
    ],
)
def test_an_object_a_list_closes_before_anything_is_written_in_it_is_dropped(text, value):
    assert repair_json(text).value == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"code": """print("""Hi""")"""\n}', {"code": 'print("""Hi""")'}),
        ("{'code': '''f('''x''')''', 'b': 1}", {"code": "f('''x''')", "b": 1}),
        ('{"a": """x"""\n b: """y"""}', {"a": "x", "b": "y"}),
        ('{"a": """x""" "b": """y"""}', {"a": "x", "b": "y"}),
        ('{"""a""": """b"""}', {"a": "b"}),
        ('["""a""", """b"""]', ["a", "b"]),
        ('{"a": """x""" y """z', {"a": "x"}),
        ('["""a""" x, """b""" y]', ["a", "x", "b", "y"]),
    ],
)
def test_a_block_ends_at_the_first_fence_a_value_end_follows(text, value):
    assert repair_json(text).value == value


@pytest.mark.parametrize("space", ["\u00a0", "\u2003", "\u202f", "\u3000"])
def test_unicode_spaces_between_tokens_are_whitespace(space):
    assert _repaired(f'{{"a":{space}"x",{space}"b":{space}[1,{space}2]}}') == (
        {"a": "x", "b": [1, 2]},
        [],
    )


def test_truncation_marks_the_containers_left_open():
    result = repair_json('[{"id": 1}, {"id": 2, "a": "x')
    first, second = result.value
    assert id(second) in result.cut_ids
    assert id(first) not in result.cut_ids


@pytest.mark.parametrize(
    "text", ["[" * (MAX_DEPTH + 1), "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)]
)
def test_nesting_deeper_than_the_limit_is_a_repair_error(text):
    with pytest.raises(ReplyReadError, match="nests deeper"):
        repair_json(text)


def test_nesting_too_deep_is_refused_up_to_where_the_value_ends():
    deep = '{"a": "]]", "b": ' + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "}"
    with pytest.raises(ReplyReadError, match="nests deeper") as caught:
        repair_json(deep + " [1]")
    assert caught.value.offset == len(deep)
    with pytest.raises(ReplyReadError) as caught:
        repair_json("[" * (MAX_DEPTH + 1) + " [1]")
    assert caught.value.offset == len("[" * (MAX_DEPTH + 1) + " [1]")  # it never closes


def test_nesting_up_to_the_limit_is_read():
    text = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert repair_json(text).actions == ()


@pytest.mark.parametrize(("text", "words"), [("", "ends before"), ("}", "no JSON value")])
def test_nothing_readable_is_a_repair_error_with_an_offset(text, words):
    with pytest.raises(ReplyReadError, match=words) as caught:
        repair_json(text)
    assert caught.value.offset == 0


def test_escaped_lone_surrogate_is_replaced_and_reported():
    result = repair_json('{"a": "x\\ud800y"}')
    assert result.value == {"a": "x\ufffdy"}
    assert "lone surrogate" in result.actions[0].message


_DEEP = "[" * (MAX_DEPTH - 2) + "[[1]]"


@pytest.mark.parametrize(
    ("text", "fixed"),
    [
        ('[[1, 2], {"a": {"b": 1}}, [3,]]', '[[1, 2], {"a": {"b": 1}}, [3]]'),
        (_DEEP + "," + "]" * (MAX_DEPTH - 2), _DEEP + "]" * (MAX_DEPTH - 2)),
    ],
)
def test_valid_json_inside_a_repaired_reply_reads_as_json(text, fixed):
    result = repair_json(text)
    assert result.value == json.loads(fixed)
    assert [action.message.split(" at ")[0] for action in result.actions] == [
        "removed a trailing comma"
    ]


def test_what_valid_json_inside_a_repaired_reply_holds_is_still_reported():
    text = '{"a": {"c": {"d": NaN}}, "e": {"f": 1, "f": 2}, "g": ["\\ud800"], "h": 1,}'
    result = repair_json(text)
    assert result.value == {"a": {"c": {"d": None}}, "e": {"f": 2}, "g": ["\ufffd"], "h": 1}
    messages = " ".join(action.message for action in result.actions)
    for words in ("NaN", "appears twice", "surrogate", "trailing comma"):
        assert words in messages


def test_a_long_reply_cut_off_keeps_every_item_before_the_cut():
    items = [{"a": [index, index + 1], "b": "text"} for index in range(2000)]
    text = json.dumps({"x": items})[:-3]  # cut inside the last item's list... and the rest
    result = repair_json(text)
    assert result.truncated
    assert result.value["x"][:-1] == items[:-1]


def test_duplicate_keys_in_valid_json_are_reported():
    result = repair_json('{"a": 1, "a": 2}')
    assert result.value == {"a": 2}
    assert "appears twice" in result.actions[0].message


# -- idempotence: what repair returns, written as JSON, repairs to itself with no action.
# (A bare scalar at the very end of a text is not a case: it may be cut off, so it is
# dropped as truncated by design; repair reads containers.)

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
_CONTAINERS = st.lists(_JSON, max_size=4) | st.dictionaries(st.text(max_size=6), _JSON, max_size=4)
_MESSY = st.sampled_from(
    [
        "{'colour': 'red', sleeve: None,}",
        '{"a": [1, 2,], "b": "x" "c": True}',
        '```json\n{"a": "he said "hi"", // c\n "b": NaN}',
        '{"a": "x\ny", "b": `q`, c: 3/4 sleeve}',
        '{"a": {"b": [1, "tw',
        '[{"id": 1, "x": """t"""}, {"id": 2,]',
    ]
)


@settings(max_examples=120, deadline=None)
@given(value=_CONTAINERS)
def test_repair_of_json_text_is_the_identity(value):
    text = json.dumps(value, ensure_ascii=False)
    # A leading comment sends the text through the repairing parser, not the C scanner.
    result = repair_json("/**/" + text)
    assert result.value == value
    assert [action.message for action in result.actions] == [
        "removed a /* */ comment at character 0"
    ]
    assert repair_json(text).value == value


@settings(max_examples=40, deadline=None)
@given(text=_MESSY, indent=st.sampled_from([None, 2]), ascii_only=st.booleans())
def test_repair_is_idempotent(text, indent, ascii_only):
    first = repair_json(text, text.index(text.lstrip("`json\n")[0]))
    again = repair_json(json.dumps(first.value, indent=indent, ensure_ascii=ascii_only))
    assert again.value == first.value
    assert again.actions == ()
    assert not again.truncated


@pytest.mark.parametrize(
    "text",
    [
        '{"city": "New',
        '{"a": [1, 2, 3',
        '{"a": "unterminated, \\"quoted\\" and nothing to close it',
        '{"a": ',
        '{"city": "New York)',  # a ) closes no container here: cut, not a missing quote
    ],
)
def test_what_the_end_cut_off_is_dropped_not_completed(text):
    result = repair_json(text)
    assert result.truncated
    assert "New" not in json.dumps(result.value)
    assert 3 not in result.value.get("a", [])


def test_a_bare_value_before_a_key_the_end_cut_off_keeps_its_own_text() -> None:
    # hypothesis found it: the cut key's opening quote read as a closing one ("no," quoted).
    repaired = repair_json('{"ok": no, "')
    assert repaired.value == {"ok": "no"}
    assert repaired.truncated
