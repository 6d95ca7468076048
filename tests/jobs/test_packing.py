"""Batch prompts matched back by id; wrong items retried alone; cut-off replies split."""

from __future__ import annotations

import json

from pydantic import BaseModel

from promptkit import Task
from promptkit.backends.base import Completion
from promptkit.backends.scripted import ScriptedBackend
from promptkit.jobs.packing import make_solver


class Out(BaseModel):
    colour: str | None = None


TASK = Task("colour-of", "Name the colour.", "search", Out)


def values(*searches: str) -> list[BaseModel]:
    return [TASK.make_input(search) for search in searches]


def batch(*items: dict[str, object]) -> str:
    return json.dumps(list(items))


def test_a_clean_batch_reply_in_any_order_is_one_call() -> None:
    backend = ScriptedBackend(
        [Completion(batch({"id": 2, "colour": "blue"}, {"id": 1, "colour": "red"}), "stop", 9, 4)]
    )
    outcomes = make_solver(TASK, backend)(values("red a", "blue b"))
    assert [o.output for o in outcomes] == [{"colour": "red"}, {"colour": "blue"}]
    assert [(o.attempts, o.prompt_tokens, o.completion_tokens) for o in outcomes] == [
        (1, 5, 2),
        (1, 4, 2),
    ]
    assert len(backend.calls) == 1
    assert backend.calls[0].prompt.item_ids == (1, 2)


def test_missing_duplicated_wrongly_numbered_extra_and_invalid_items_are_asked_again() -> None:
    reply = batch(
        {"id": 6, "colour": None},  # reordered
        {"id": 2, "colour": "blue"},
        {"id": 2, "colour": "navy"},  # duplicated
        {"id": 30, "colour": "green"},  # wrongly numbered: item 3 is missing
        {"id": 5, "colour": {"bad": 1}},  # invalid
        {"id": 99, "colour": "pink"},  # extra
        {"id": 1, "colour": "red"},
    )
    correction = batch(
        {"id": 4, "colour": "black"},  # item 4 was missing
        {"id": 2, "colour": "blue"},
        {"id": 3, "colour": "green"},
        {"id": 5, "colour": "white"},
    )
    backend = ScriptedBackend([Completion(reply, "stop", 60, 12), correction])
    searches = ("red", "blue", "green", "black", "white", "plain")
    outcomes = make_solver(TASK, backend)(values(*searches))
    assert [o.output for o in outcomes] == [
        {"colour": c} for c in ("red", "blue", "green", "black", "white", None)
    ]
    assert [o.attempts for o in outcomes] == [1, 2, 2, 2, 2, 1]
    asked_again = backend.calls[1].prompt.messages[-1].content
    assert "Items 2, 3, 4, 5 of your reply could not be used" in asked_again
    assert (outcomes[0].prompt_tokens, outcomes[5].prompt_tokens) == (10, 10)  # 60 / 6 items
    assert all(o.prompt_tokens > 10 for o in outcomes[1:5])  # their share plus the re-ask's


def test_a_reply_cut_off_by_the_token_limit_splits_the_lost_items() -> None:
    cut = batch({"id": 1, "colour": "red"}, {"id": 2, "colour": "blue"})[:-20]
    backend = ScriptedBackend(
        [
            Completion(cut, "length", 50, 20),
            batch({"id": 1, "colour": "blue"}, {"id": 2, "colour": "green"}),  # items 2, 3
            batch({"id": 1, "colour": "black"}, {"id": 2, "colour": "white"}),  # items 4, 5
        ]
    )
    outcomes = make_solver(TASK, backend)(values("red", "blue", "green", "black", "white"))
    assert [o.output for o in outcomes] == [
        {"colour": c} for c in ("red", "blue", "green", "black", "white")
    ]
    assert [c.prompt.item_ids for c in backend.calls] == [(1, 2, 3, 4, 5), (1, 2), (1, 2)]


def test_an_item_that_fails_alone_too_keeps_its_raw_reply() -> None:
    backend = ScriptedBackend([batch({"id": 1, "colour": "red"}), *['{"colour": ["x"]}'] * 5])
    outcomes = make_solver(TASK, backend)(values("red", "odd"))
    assert outcomes[0].output == {"colour": "red"}
    error = outcomes[1].error
    assert outcomes[1].output is None
    assert error is not None
    assert error["type"] == "OutputError"
    assert error["raw"] == '{"colour": ["x"]}'


def test_an_item_the_batch_keeps_missing_is_asked_on_its_own() -> None:
    only_first = batch({"id": 1, "colour": "red"})
    backend = ScriptedBackend(
        [Completion(only_first, "stop", 40, 8), "[]", "[]", '{"colour": "blue"}']
    )
    outcomes = make_solver(TASK, backend)(values("red", "blue"))
    assert [o.output for o in outcomes] == [{"colour": "red"}, {"colour": "blue"}]
    assert outcomes[1].attempts == 4  # the batch, two re-asks, then alone
    assert not backend.calls[-1].prompt.is_batch
    assert '"blue"' in backend.calls[-1].prompt.render_text()
    assert outcomes[1].prompt_tokens > outcomes[0].prompt_tokens
