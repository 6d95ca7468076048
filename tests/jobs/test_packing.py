"""Batch prompts matched by id; wrong items asked alone; cut-off and refused batches split."""

from __future__ import annotations

import json
import re

import pytest
from pydantic import BaseModel

from promptkit import Prompt, Task
from promptkit.backends.base import Completion, GenerationParams
from promptkit.backends.scripted import ScriptedBackend
from promptkit.errors import BackendError
from promptkit.jobs.packing import make_solver, refused


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
    backend = ScriptedBackend([batch({"id": 1, "colour": "red"}), *['{"colour": {"x": 1}}'] * 5])
    outcomes = make_solver(TASK, backend)(values("red", "odd"))
    assert outcomes[0].output == {"colour": "red"}
    error = outcomes[1].error
    assert outcomes[1].output is None
    assert error is not None
    assert error["type"] == "OutputError"
    assert error["raw"] == '{"colour": {"x": 1}}'


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


_NUMBERED = re.compile(r'^(\d+)\. (".*")$', re.MULTILINE)
_SINGLE = re.compile(r'^Search: (".*")$', re.MULTILINE)


def colours(prompt: Prompt, params: GenerationParams) -> str:
    """A server that names each search's first word, refusing any prompt holding 'poison'."""
    text = prompt.messages[-1].content
    if "poison" in text:
        raise BackendError("openai returned HTTP 400: content policy", status=400)
    if "stop" in text:
        raise BackendError("openai returned HTTP 401: bad key", status=401)
    single = _SINGLE.search(text)
    if single:
        return json.dumps({"colour": json.loads(single[1]).split()[0]})
    items = [(int(n), json.loads(s)) for n, s in _NUMBERED.findall(text)]
    return batch(*({"id": n, "colour": s.split()[0]} for n, s in items))


def test_a_refused_input_is_split_out_until_it_fails_alone() -> None:
    backend = ScriptedBackend([colours] * 20)
    searches = ("red", "blue", "green", "poison pill", "black", "white", "navy", "tan")
    outcomes = make_solver(TASK, backend)(values(*searches))
    assert [o.output for o in outcomes] == [
        None if s == "poison pill" else {"colour": s} for s in searches
    ]
    error = outcomes[3].error
    assert error is not None
    assert (error["type"], error["status"]) == ("BackendError", 400)
    assert "content policy" in error["message"]
    # Halved depth first: 8 -> (4 -> (2, 2 -> (1, 1)), 4); the other inputs are answered.
    assert [len(call.prompt.item_ids) or 1 for call in backend.calls] == [8, 4, 2, 2, 1, 1, 4]
    assert outcomes[3].attempts == 4  # every request that held it


def test_a_refusal_of_a_single_input_is_its_outcome() -> None:
    backend = ScriptedBackend([colours])
    (outcome,) = make_solver(TASK, backend)(values("poison"))
    assert outcome.output is None
    assert outcome.error is not None
    assert outcome.error["status"] == 400
    assert len(backend.calls) == 1


@pytest.mark.parametrize("status", [401, 403, 404, 408, 409, 429, 500])
def test_an_error_about_more_than_one_request_is_raised(status: int) -> None:
    error = BackendError(f"HTTP {status}", status=status, retryable=status in (408, 409, 429, 500))
    backend = ScriptedBackend([error])
    with pytest.raises(BackendError, match=f"HTTP {status}"):
        make_solver(TASK, backend)(values("red", "blue"))
    assert len(backend.calls) == 1


def test_only_permanent_4xx_refusals_are_per_request() -> None:
    assert [refused(BackendError("x", status=s)) for s in (400, 413, 422)] == [True] * 3
    assert not refused(BackendError("x", status=400, retryable=True))
    assert not refused(BackendError("x", status=None))
    assert not refused(BackendError("x", status=500))
