"""The local backend without loading a model: defaults, layout, errors, backend kinds.

Generation on the bundled model is tested in tests/integration/test_local_model.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from promptkit.backends import create_backend
from promptkit.backends.anthropic import AnthropicBackend
from promptkit.backends.local import LocalBackend
from promptkit.backends.local.decoding import joined_items, reused_prefix
from promptkit.backends.openai import OpenAIBackend
from promptkit.errors import BackendError


def test_the_bundled_base_model_asks_for_the_completion_layout_without_loading() -> None:
    backend = LocalBackend()
    assert backend.layout == "completion"
    assert backend.name == "local:gemma-3-270m-q4_k_m"
    assert not backend.uses_chat_template


def test_a_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="no model file") as raised:
        LocalBackend(tmp_path / "missing.gguf")
    assert not raised.value.retryable


def test_a_chat_model_can_be_declared(tmp_path: Path) -> None:
    model = tmp_path / "tuned.gguf"
    model.write_bytes(b"GGUF")
    backend = LocalBackend(model, chat=True)
    assert backend.layout is None
    assert backend.model == "tuned"


def test_reused_prefix_counts_what_the_kv_cache_already_holds() -> None:
    assert reused_prefix([1, 2, 3, 4], [1, 2, 3, 9, 9]) == 3
    assert reused_prefix([], [1, 2]) == 0
    assert reused_prefix([1, 2, 3], [1, 2]) == 2


def test_items_decoded_side_by_side_join_into_an_array_leaving_out_any_cut_off() -> None:
    items = ['{"id":1}', '{"id":2,"type":"dress"}', '{"id":3']
    assert joined_items("[", items[:2], ["stop", "stop"]) == (
        '[{"id":1},{"id":2,"type":"dress"}]',
        "stop",
    )
    # Item 3 was cut off by its share of the token limit: left out, the others kept.
    assert joined_items("[", items, ["stop", "stop", "length"]) == (
        '[{"id":1},{"id":2,"type":"dress"}]',
        "length",
    )
    assert joined_items("[", ['{"id":1,"ty', '{"id":2}'], ["length", "stop"]) == (
        '[{"id":2}]',
        "length",
    )


def test_backends_by_kind() -> None:
    assert isinstance(create_backend("local"), LocalBackend)
    chosen = create_backend("openai", model="m", base_url="http://127.0.0.1:1/v1")
    assert isinstance(chosen, OpenAIBackend)
    assert (chosen.name, chosen.mode, chosen.dialect) == ("openai:m", "json_schema", "openai")
    claude = create_backend("anthropic")
    assert isinstance(claude, AnthropicBackend)
    assert claude.mode == "json"
    with pytest.raises(ValueError, match="unknown backend 'nope'"):
        create_backend("nope")


def test_backends_by_kind_take_a_mode_and_a_dialect() -> None:
    chosen = create_backend("openai", mode="json_object", dialect="vllm")
    assert isinstance(chosen, OpenAIBackend)
    assert (chosen.mode, chosen.dialect) == ("json_object", "vllm")
    claude = create_backend("anthropic", mode="tool")
    assert isinstance(claude, AnthropicBackend)
    assert claude.mode == "tool"


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("openai", {"mode": "json"}, "openai backend's mode must be text, json_object, "),
        ("openai", {"dialect": "tgi"}, "dialect must be openai, llama-cpp-python, vllm or"),
        ("anthropic", {"mode": "json_schema"}, "anthropic backend's mode must be json or tool"),
        ("anthropic", {"dialect": "vllm"}, "a dialect is for the openai backend, not anthropic"),
        ("local", {"mode": "tool"}, "local backend always holds replies to the schema"),
    ],
)
def test_a_mode_or_dialect_a_kind_does_not_take_is_refused_naming_the_valid_ones(
    kind: str, options: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        create_backend(kind, **options)  # type: ignore[arg-type]


def test_threads_default_to_the_cores_the_process_may_use_at_most_four() -> None:
    import os

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert LocalBackend().n_threads == min(4, usable or 1)
    assert LocalBackend(n_threads=1).n_threads == 1
