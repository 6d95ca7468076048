"""Settings resolution: flags > environment > project file > user file, pure."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptkit.config import (
    ConfigError,
    Layer,
    config_paths,
    describe,
    environment_layer,
    file_layer,
    flag_layer,
    read_layers,
    resolve,
)


def test_nothing_set_is_the_embedded_local_backend() -> None:
    settings = resolve([flag_layer(), environment_layer({})])
    assert (settings.backend, settings.model, settings.base_url, settings.mode) == (
        "local", None, None, None,
    )  # fmt: skip
    assert settings.source("backend") == "default"


def test_each_key_comes_from_the_strongest_layer_that_sets_it() -> None:
    layers = [
        flag_layer(model="from-flag", backend=None),
        environment_layer({"PROMPTKIT_BASE_URL": "http://env/v1", "PROMPTKIT_MODEL": "env"}),
        Layer("project.toml", {"backend": "openai", "mode": "json_object", "model": "proj"}),
        Layer("user.toml", {"backend": "openai", "model": "user", "base_url": "http://user/v1"}),
    ]
    settings = resolve(layers)
    assert settings.backend == "openai"
    assert settings.model == "from-flag"
    assert settings.base_url == "http://env/v1"
    assert settings.mode == "json_object"
    assert [settings.source(k) for k in ("backend", "model", "base_url", "mode")] == [
        "project.toml", "flags", "environment", "project.toml",
    ]  # fmt: skip


def test_a_layer_for_another_backend_lends_nothing() -> None:
    user = Layer("user.toml", {"backend": "openai", "model": "gpt-4o-mini", "mode": "tool"})
    settings = resolve([flag_layer(backend="local"), user])
    assert (settings.backend, settings.model, settings.mode) == ("local", None, None)
    # A layer that names no backend applies to whichever is chosen.
    env = environment_layer({"PROMPTKIT_MODEL": "llama"})
    assert resolve([flag_layer(), env, user]).model == "llama"
    assert resolve([flag_layer(), env, user]).backend == "openai"


def test_empty_variables_count_as_unset() -> None:
    assert environment_layer({"PROMPTKIT_BACKEND": "", "PROMPTKIT_MODEL": "m"}).values == {
        "model": "m"
    }


def test_file_layer_reads_toml_and_refuses_unknown_keys_and_wrong_types() -> None:
    path = Path("promptkit.toml")
    assert file_layer(path, 'backend = "openai"\nbase_url = "http://x/v1"\n').values == {
        "backend": "openai",
        "base_url": "http://x/v1",
    }
    with pytest.raises(ConfigError, match=r"unknown key 'modle'; did you mean 'mode' or 'model'\?"):
        file_layer(path, 'modle = "x"\n')
    with pytest.raises(ConfigError, match=r"unknown key 'colour'; the keys are backend, model"):
        file_layer(path, 'colour = "x"\n')
    with pytest.raises(ConfigError, match=r"model must be a string"):
        file_layer(path, "model = 3\n")
    with pytest.raises(ConfigError, match=r"is not valid TOML"):
        file_layer(path, "model = \n")


def test_config_paths_find_the_nearest_project_file_and_honour_xdg(tmp_path: Path) -> None:
    (tmp_path / "promptkit.toml").write_text('model = "outer"\n')
    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    project, user = config_paths(inner, {"XDG_CONFIG_HOME": str(tmp_path / "xdg")})
    assert project == tmp_path / "promptkit.toml"
    assert user == tmp_path / "xdg" / "promptkit" / "config.toml"
    _, user = config_paths(inner, {"HOME": str(tmp_path / "home")})
    assert user == tmp_path / "home" / ".config" / "promptkit" / "config.toml"


def test_read_layers_orders_flags_env_project_user(tmp_path: Path) -> None:
    (tmp_path / "promptkit.toml").write_text('model = "project"\nmode = "text"\n')
    xdg = tmp_path / "xdg"
    (xdg / "promptkit").mkdir(parents=True)
    (xdg / "promptkit" / "config.toml").write_text('model = "user"\nbase_url = "http://u/v1"\n')
    environ = {"XDG_CONFIG_HOME": str(xdg), "PROMPTKIT_MODE": "tool"}
    layers = read_layers(flag_layer(backend="openai"), tmp_path, environ)
    assert [layer.source for layer in layers] == [
        "flags", "environment", str(tmp_path / "promptkit.toml"),
        str(xdg / "promptkit" / "config.toml"),
    ]  # fmt: skip
    settings = resolve(layers)
    assert (settings.model, settings.mode, settings.base_url) == ("project", "tool", "http://u/v1")


def test_describe_hides_keys_and_url_passwords() -> None:
    settings = resolve([flag_layer(base_url="https://me:hunter22@host:8443/v1?api_key=sk-abc")])
    environ = {"OPENAI_API_KEY": "sk-live-0123456789"}
    rows = {name: (value, source) for name, value, source in describe(settings, environ)}
    assert rows["base_url"] == ("https://me:[redacted]@host:8443/v1?[redacted]", "flags")
    assert rows["OPENAI_API_KEY"] == ("set (hidden)", "environment")
    assert rows["ANTHROPIC_API_KEY"] == ("not set", "environment")
    assert "sk-" not in repr(rows)
    assert "hunter22" not in repr(rows)
