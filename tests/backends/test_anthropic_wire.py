"""Anthropic's Messages API on the wire: turns, request bodies, replies read."""

from __future__ import annotations

import json

import pytest
from anthropic.types import Message as SDKMessage
from test_anthropic import message  # a Messages API reply

from promptkit import Message, Prompt, compile_prompt, load_task
from promptkit.backends import GenerationParams
from promptkit.backends.anthropic_wire import (
    PATH,
    MessagesOptions,
    alternate,
    read_completion,
    request,
    request_body,
    takes_sampling,
)
from promptkit.errors import BackendError

TASK = load_task("apparel-search")


def test_system_is_lifted_out_and_turns_alternate() -> None:
    prompt = Prompt(
        "t",
        "chat",
        (
            Message("system", "rules"),
            Message("user", "a"),
            Message("user", "b"),
            Message("assistant", "c"),
            Message("user", "d"),
        ),
        None,
        {},
        {},
    )
    system, turns = alternate(prompt)
    assert system == "rules"
    assert turns == [
        {"role": "user", "content": "a\n\nb"},
        {"role": "assistant", "content": "c"},
        {"role": "user", "content": "d"},
    ]


def test_a_conversation_opening_with_the_assistant_folds_it_into_the_system_text() -> None:
    prompt = Prompt("t", "chat", (Message("assistant", "hi"), Message("user", "q")), None, {}, {})
    assert alternate(prompt) == ("hi", [{"role": "user", "content": "q"}])


def test_a_completion_prompt_is_one_user_turn() -> None:
    prompt = compile_prompt(TASK, "red top", layout="completion")
    assert alternate(prompt) == ("", [{"role": "user", "content": prompt.text}])


def test_white_space_stops_are_left_out_and_temperature_is_capped() -> None:
    prompt = compile_prompt(TASK, "red top", layout="completion")
    params = GenerationParams(temperature=1.7, stop=("\n\n", " ", "END"))
    body, opening = request_body(prompt, params, MessagesOptions("claude", sampling=True))
    assert body["stop_sequences"] == [s for s in params.stops_for(prompt) if s.strip()]
    assert "END" in body["stop_sequences"]
    assert (body["temperature"], opening) == (1.0, "")
    unsampled, _ = request_body(prompt, params, MessagesOptions("claude"))
    assert not {"temperature", "top_p", "top_k"} & set(unsampled)


@pytest.mark.parametrize(
    ("version", "takes"), [("2023-06-01", True), ("2026-10-21", False), ("2027-01-01", False)]
)
def test_sampling_parameters_go_only_to_api_versions_before_2026_10_21(
    version: str, takes: bool
) -> None:
    assert takes_sampling(version) is takes


def test_the_installed_sdks_default_version_decides_when_none_is_given() -> None:
    import anthropic

    default = anthropic.Anthropic(api_key="k").default_headers["anthropic-version"]
    assert isinstance(default, str)
    assert takes_sampling(None) is takes_sampling(default)


def test_a_request_reads_its_reply_after_its_prefill() -> None:
    wire = request(
        compile_prompt(TASK, "red"), GenerationParams(), MessagesOptions("c", prefill=True)
    )
    assert wire.path == PATH == "/v1/messages"
    assert wire.body["messages"][-1] == {"role": "assistant", "content": "{"}
    reply = wire.read(message([{"type": "text", "text": '"colour": "red"}'}]), 0.25)
    assert (reply.text, reply.latency) == ('{"colour": "red"}', 0.25)


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("tool_use", "stop"),
        ("max_tokens", "length"),
        ("refusal", "refusal"),
    ],
)
def test_stop_reasons_become_finish_reasons(stop: str, finish: str) -> None:
    assert read_completion(message([], stop), model="m").finish_reason == finish


def test_the_sdks_message_is_read_like_its_json() -> None:
    block = {"type": "tool_use", "id": "t", "name": "apparel_search", "input": {"colour": "red"}}
    data = message([block], "tool_use")
    from_object = read_completion(SDKMessage.model_validate(data), model="m")
    assert from_object == read_completion(data, model="m")
    assert json.loads(from_object.text) == {"colour": "red"}
    assert (from_object.prompt_tokens, from_object.cached_tokens) == (200, 150)


def test_a_reply_of_another_shape_is_not_retried() -> None:
    with pytest.raises(BackendError, match="not a Messages API response") as raised:
        read_completion({"type": "message"}, model="m")
    assert not raised.value.retryable
