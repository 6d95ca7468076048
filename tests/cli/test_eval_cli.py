"""`promptkit eval` and `promptkit render --selector`: selection shown, configurations compared."""

from __future__ import annotations

import pytest

from promptkit import compile_prompt, load_task
from promptkit.cli import main


def test_render_shows_the_selected_examples(capsys: pytest.CaptureFixture[str]) -> None:
    search = "black long sleve tshirt mens"
    code = main(["render", "apparel-search", "-i", search, "--shots", "3", "--selector", "similar"])
    assert code == 0
    expected = compile_prompt(load_task("apparel-search"), search, shots=3, selector="similar")
    out = capsys.readouterr().out
    assert out == expected.render_text()
    first = compile_prompt(load_task("apparel-search"), search, shots=3).render_text()
    assert out != first


def test_render_random_selection_follows_the_seed(capsys: pytest.CaptureFixture[str]) -> None:
    outputs = []
    for seed in ("1", "1", "2"):
        args = ["render", "apparel-search", "-i", "red dress", "--selector", "random"]
        assert main([*args, "--seed", seed]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
    assert outputs[0] != outputs[2]


def test_render_refuses_an_unknown_selector(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "apparel-search", "-i", "x", "--selector", "nearest"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("promptkit: error: ")
    assert "nearest" in err
