"""Settings from PROMPTKIT_* variables and config files, through the real CLI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import FakeOpenAI

from promptkit.cli import main


def run_once(capsys: pytest.CaptureFixture[str], *args: str) -> int:
    code = main(["run", "apparel-search", "-i", "red shirt", *args])
    capsys.readouterr()
    return code


def test_backend_model_and_url_from_the_environment(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PROMPTKIT_BACKEND", "openai")
    monkeypatch.setenv("PROMPTKIT_MODEL", "env-model")
    monkeypatch.setenv("PROMPTKIT_BASE_URL", fake_openai.url)
    assert run_once(capsys) == 0
    assert fake_openai.requests[-1]["model"] == "env-model"
    assert run_once(capsys, "--model", "flag-model") == 0  # a flag beats the variable
    assert fake_openai.requests[-1]["model"] == "flag-model"


def test_output_mode_from_the_environment(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PROMPTKIT_MODE", "json_object")
    args = ("--backend", "openai", "--base-url", fake_openai.url)
    assert run_once(capsys, *args) == 0
    assert fake_openai.requests[-1]["response_format"] == {"type": "json_object"}
    monkeypatch.setenv("PROMPTKIT_MODE", "text")
    assert run_once(capsys, *args) == 0
    assert "response_format" not in fake_openai.requests[-1]


def test_project_file_beats_user_file_and_env_beats_both(
    fake_openai: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    xdg = Path(os.environ["XDG_CONFIG_HOME"])
    (xdg / "promptkit").mkdir(parents=True, exist_ok=True)
    (xdg / "promptkit" / "config.toml").write_text(
        f'backend = "openai"\nmodel = "user-model"\nbase_url = "{fake_openai.url}"\n'
    )
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    monkeypatch.chdir(project / "sub")
    assert run_once(capsys) == 0
    assert fake_openai.requests[-1]["model"] == "user-model"
    (project / "promptkit.toml").write_text('model = "project-model"\n')  # found from sub/
    assert run_once(capsys) == 0
    assert fake_openai.requests[-1]["model"] == "project-model"
    monkeypatch.setenv("PROMPTKIT_MODEL", "env-model")
    assert run_once(capsys) == 0
    assert fake_openai.requests[-1]["model"] == "env-model"


def test_eval_uses_the_same_settings(
    fake_openai: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "promptkit.toml").write_text(
        f'backend = "openai"\nmodel = "eval-model"\nbase_url = "{fake_openai.url}"\n'
    )
    monkeypatch.chdir(tmp_path)
    args = ["eval", "apparel-search", "--cross-validate", "--limit", "1", "--shots", "0", "--json"]
    assert main(args) == 0
    assert '"backend": "openai:eval-model"' in capsys.readouterr().out
    assert fake_openai.requests[-1]["model"] == "eval-model"


def test_a_bad_config_file_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "promptkit.toml").write_text('backnd = "openai"\n')
    monkeypatch.chdir(tmp_path)
    assert main(["run", "apparel-search", "-i", "x"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"promptkit: error: config file '{tmp_path / 'promptkit.toml'}': unknown key 'backnd'; "
        "did you mean 'backend'?\n"
    )


def test_a_bad_setting_names_where_it_came_from(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PROMPTKIT_MODEL", str(tmp_path / "missing.gguf"))
    assert main(["run", "apparel-search", "-i", "x"]) == 2
    assert "Invalid value for PROMPTKIT_MODEL: no model file" in capsys.readouterr().err
    monkeypatch.delenv("PROMPTKIT_MODEL")
    (tmp_path / "promptkit.toml").write_text('backend = "cohere"\n')
    monkeypatch.chdir(tmp_path)
    assert main(["run", "apparel-search", "-i", "x"]) == 2
    err = capsys.readouterr().err
    assert f"Invalid value for backend in {tmp_path / 'promptkit.toml'}: unknown backend" in err


def test_config_shows_each_setting_and_its_source_with_keys_hidden(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "promptkit.toml").write_text('backend = "openai"\nmodel = "gpt-4o-mini"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PROMPTKIT_BASE_URL", "https://u:pa55word@proxy.example/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-abcdefghijklmnop")
    assert main(["config", "--model", "gpt-4.1"]) == 0
    out = capsys.readouterr().out
    rows = {line.split("\t")[0]: line.split("\t")[1:] for line in out.splitlines()}
    assert rows["backend"] == ["openai", str(tmp_path / "promptkit.toml")]
    assert rows["model"] == ["gpt-4.1", "flags"]
    assert rows["base_url"] == ["https://u:[redacted]@proxy.example/v1", "environment"]
    assert rows["mode"] == ["-", "default"]
    assert rows["OPENAI_API_KEY"] == ["set (hidden)", "environment"]
    assert rows["project file"] == [str(tmp_path / "promptkit.toml")]
    assert rows["user file"][0].endswith("promptkit/config.toml (not found)")
    assert "pa55word" not in out
    assert "sk-proj" not in out
