"""The public API is exactly what promptkit.__all__ lists, sorted."""

import promptkit


def test_all_is_sorted_and_complete() -> None:
    assert promptkit.__all__ == sorted(promptkit.__all__)
    public = {name for name in vars(promptkit) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(promptkit, name)).__name__ == "module"}
    assert public - modules == set(promptkit.__all__)
