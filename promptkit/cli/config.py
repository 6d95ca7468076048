"""``promptkit config``: the settings a command would use, and where each came from."""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console
from rich.table import Table

from promptkit import config
from promptkit.cli.app import BackendOpt, BaseUrlOpt, ModelOpt, app


@app.command("config")
def show_config(
    backend: BackendOpt = None, model: ModelOpt = None, base_url: BaseUrlOpt = None
) -> None:
    """Show the backend, model, URL and mode in force, where each came from, and the files read.

    Flags beat PROMPTKIT_* variables, which beat ./promptkit.toml (or the nearest one above),
    which beats $XDG_CONFIG_HOME/promptkit/config.toml. Keys are never shown.
    """
    flags = config.flag_layer(backend=backend, model=model, base_url=base_url)
    layers = config.read_layers(flags, Path.cwd(), os.environ)
    settings = config.resolve(layers)
    rows = config.describe(settings, os.environ)
    project, user = config.config_paths(Path.cwd(), os.environ)
    files = [
        ("project file", str(project) if project else f"none ({config.PROJECT_FILE} not found)"),
        ("user file", f"{user}" if user.is_file() else f"{user} (not found)"),
    ]
    console = Console()
    if not console.is_terminal:
        for name, value, source in rows:
            print(f"{name}\t{value}\t{source}")
        for name, value in files:
            print(f"{name}\t{value}")
        return
    table = Table("setting", "value", "from", box=None)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    for name, value in files:
        console.print(f"{name}: {value}")
