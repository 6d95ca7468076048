"""``--mode`` and ``--dialect`` on the commands that call a model, through the real CLI."""

from __future__ import annotations

import pytest
from test_cli import promptkit  # the CLI as a real subprocess


@pytest.mark.parametrize("command", ["run", "eval"])
def test_both_options_are_offered_with_their_choices(command: str) -> None:
    shown = promptkit(command, "--help").stdout
    assert "--mode" in shown
    assert "text|json_object|json_schema|tool|json" in shown
    assert "--dialect" in shown
    assert "openai|llama-cpp-python|vllm|ollama" in shown


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--backend", "local", "--mode", "tool"], "local backend always holds replies"),
        (["--backend", "anthropic", "--dialect", "vllm"], "dialect is for the openai backend"),
        (["--backend", "openai", "--mode", "json"], "openai backend's mode must be text,"),
        (["--backend", "anthropic", "--mode", "json_object"], "mode must be json or tool"),
    ],
)
@pytest.mark.parametrize("command", ["run", "eval"])
def test_a_mode_or_dialect_the_backend_does_not_take_is_a_usage_error(
    command: str, options: list[str], said: str
) -> None:
    given = ["--input", "red top"] if command == "run" else ["--cross-validate"]
    result = promptkit(command, "apparel-search", *given, *options)
    assert result.returncode == 2, result.stderr
    assert said in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_dialect_is_refused_naming_the_choices() -> None:
    result = promptkit("run", "apparel-search", "--input", "x", "--dialect", "tgi")
    assert result.returncode == 2
    assert "no dialect 'tgi'" in result.stderr
    assert "choose openai, llama-cpp-python, vllm, ollama" in result.stderr
