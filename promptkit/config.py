"""Where calls go when no flag says: settings from flags, environment and config files.

Four layers, the first that sets a key wins::

    flags  >  PROMPTKIT_* environment  >  promptkit.toml (project)  >  config.toml (user)

The project file is the nearest ``promptkit.toml`` in the working directory
or a folder above it; the user file is ``$XDG_CONFIG_HOME/promptkit/config.toml``
(``~/.config/promptkit/config.toml`` when the variable is unset). Both are
optional TOML with top-level keys only::

    backend = "openai"
    model = "gpt-4o-mini"
    base_url = "http://127.0.0.1:8080/v1"
    mode = "json_object"

A layer that names a backend other than the chosen one lends it nothing
else: a user file set up for ``openai`` does not give its model name to
``--backend local``.

:func:`resolve` is pure (layers in, settings out); :func:`read_layers` does
the reading. API keys are not settings: backends read them from the
provider's own variables (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``), and
:func:`describe` shows only whether each is set.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from promptkit.errors import DefinitionError

KEYS = ("backend", "model", "base_url", "mode")
"""The settings a layer may set."""

ENVIRONMENT = {key: f"PROMPTKIT_{key.upper()}" for key in KEYS}
"""The environment variable of each setting."""

KEY_VARIABLES = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")
"""The provider keys the backends read, shown (redacted) by ``promptkit config``."""

PROJECT_FILE = "promptkit.toml"
DEFAULT_BACKEND = "local"


class ConfigError(DefinitionError):
    """A config file cannot be read, or sets a key that is not a setting."""


@dataclass(frozen=True, slots=True)
class Layer:
    """The settings one source gives, and its name for messages (``--model``, a path)."""

    source: str
    values: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Settings:
    """The resolved settings, each with the layer it came from (``default`` for none)."""

    backend: str = DEFAULT_BACKEND
    model: str | None = None
    base_url: str | None = None
    mode: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict)

    def source(self, key: str) -> str:
        """Return where a setting came from: a flag, a variable, a file, or ``default``."""
        return self.sources.get(key, "default")


def resolve(layers: Sequence[Layer]) -> Settings:
    """Return the settings of layers ordered from the strongest (flags) to the weakest.

    The backend is the strongest layer's; every other key comes from the
    strongest layer that sets it and names no other backend.
    """
    backend, backend_source = DEFAULT_BACKEND, "default"
    for layer in layers:
        if layer.values.get("backend"):
            backend, backend_source = layer.values["backend"], layer.source
            break
    chosen: dict[str, str] = {}
    sources = {"backend": backend_source} if backend_source != "default" else {}
    for layer in layers:
        named = layer.values.get("backend")
        if named and named != backend:
            continue
        for key in KEYS[1:]:
            value = layer.values.get(key)
            if value and key not in chosen:
                chosen[key], sources[key] = value, layer.source
    return Settings(backend, chosen.get("model"), chosen.get("base_url"), chosen.get("mode"),
                    sources)  # fmt: skip


def flag_layer(**flags: str | None) -> Layer:
    """Return the layer of command-line flags (``None`` for a flag not given)."""
    values = {key: value for key, value in flags.items() if value is not None}
    return Layer("flags", values)


def environment_layer(environ: Mapping[str, str]) -> Layer:
    """Return the layer of ``PROMPTKIT_*`` variables (empty ones count as unset)."""
    values = {key: environ[name] for key, name in ENVIRONMENT.items() if environ.get(name)}
    return Layer("environment", values)


def file_layer(path: Path, text: str) -> Layer:
    """Read one config file's text as a layer.

    Raises:
        ConfigError: the text is not TOML, sets an unknown key or a value that is not text.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {error}") from None
    values = {}
    for key, value in data.items():
        if key not in KEYS:
            hint = did_you_mean(key, KEYS) or f"the keys are {', '.join(KEYS)}"
            raise ConfigError(f"config file {str(path)!r}: unknown key {key!r}; {hint}")
        if not isinstance(value, str):
            raise ConfigError(
                f'config file {str(path)!r}: {key} must be a string, like {key} = "...", '
                f"not {type(value).__name__}"
            )
        values[key] = value
    return Layer(str(path), values)


def did_you_mean(value: str, allowed: Sequence[str]) -> str:
    """Return ``did you mean 'x'?`` naming the one or two names closest to a typo, or ``""``."""
    close = difflib.get_close_matches(value, allowed, n=2, cutoff=0.6)
    return f"did you mean {' or '.join(map(repr, close))}?" if close else ""


def config_paths(cwd: Path, environ: Mapping[str, str]) -> tuple[Path | None, Path]:
    """Return the project file and the user file.

    The project file is the nearest ``promptkit.toml`` at or above ``cwd``,
    or ``None``; the user file is returned whether or not it exists.
    """
    candidates = (folder / PROJECT_FILE for folder in (cwd, *cwd.parents))
    project = next((path for path in candidates if path.is_file()), None)
    base = Path(environ["XDG_CONFIG_HOME"]) if environ.get("XDG_CONFIG_HOME") else None
    user = (base or Path(environ.get("HOME", "~")).expanduser() / ".config") / "promptkit"
    return project, user / "config.toml"


def read_layers(flags: Layer, cwd: Path, environ: Mapping[str, str]) -> list[Layer]:
    """Return every layer, strongest first: the flags, the environment and the files that exist.

    Raises:
        ConfigError: a config file cannot be read or is not a valid config.
    """
    layers = [flags, environment_layer(environ)]
    for path in config_paths(cwd, environ):
        if path is None or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"config file {str(path)!r} cannot be read: {error}") from None
        layers.append(file_layer(path, text))
    return layers


def describe(settings: Settings, environ: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """Return (name, value, source) rows for display, secrets redacted.

    A URL's password and query are hidden; a provider key shows only whether it is set.
    """
    from promptkit.backends.recording import redact_url

    rows = []
    for key in KEYS:
        value = getattr(settings, key)
        shown = "-" if value is None else redact_url(value) if key == "base_url" else value
        rows.append((key, shown, settings.source(key)))
    for name in KEY_VARIABLES:
        rows.append((name, "set (hidden)" if environ.get(name) else "not set", "environment"))
    return rows
