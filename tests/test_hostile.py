"""Hostile replies end in an OutputError with a clear message, never a crash or RecursionError."""

from __future__ import annotations

import pytest

import promptkit

TASK = promptkit.load_task("apparel-search")


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        ("x" * (10 * 1024 * 1024), "characters long"),
        ("[" * 10_000, "nests deeper"),
        ("{" * 10_000, "nests deeper"),
        ('{"a":' * 10_000, "nests deeper"),
        ('{"colour": "\ud800"}', "lone surrogate"),
        (b'{"colour": "\xff\xfe"}', "not valid UTF-8"),
        ("   \n\t  ", "empty"),
        ("", "empty"),
    ],
    ids=["10MB", "brackets", "braces", "keys", "surrogate", "bad-utf8", "whitespace", "empty"],
)
def test_hostile_reply_is_an_output_error(reply, words):
    with pytest.raises(promptkit.OutputError) as caught:
        promptkit.parse(reply, TASK)
    assert words in str(caught.value)
    assert caught.value.errors


def test_ten_megabytes_of_braces_in_a_batch_is_one_error_per_item():
    sources = [TASK.make_input("red shirt"), TASK.make_input("blue hat")]
    results = promptkit.parse_batch("[" * 10_000, TASK, sources)
    assert [type(result) for result in results] == [promptkit.OutputError] * 2
