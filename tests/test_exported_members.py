"""The public API is exactly what promptkit.__all__ lists, sorted, and every name resolves."""

import subprocess
import sys

import promptkit


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert promptkit.__all__ == sorted(promptkit.__all__)
    for name in promptkit.__all__:
        assert getattr(promptkit, name) is not None, name


def test_every_public_name_defined_is_exported() -> None:
    imported = {
        name
        for name, value in vars(promptkit).items()
        if not name.startswith("_")
        and type(value).__name__ != "module"
        and getattr(value, "__module__", "").startswith("promptkit")
    }
    assert imported <= set(promptkit.__all__)


def test_lazy_names_are_not_loaded_by_import() -> None:
    code = (
        "import sys, promptkit\n"
        "heavy = ['rich', 'sqlite3', 'concurrent.futures', 'openai', 'anthropic', 'llama_cpp',"
        " 'promptkit.jobs', 'promptkit.evaluation', 'promptkit.cli']\n"
        "print([name for name in heavy if name in sys.modules])"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"


def test_submodules_are_not_hidden_by_functions() -> None:
    import promptkit.execution as execution

    assert execution.run is promptkit.run
    assert callable(promptkit.run)
