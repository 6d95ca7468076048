"""The SQLite response cache and its request keys."""

from __future__ import annotations

import threading
from pathlib import Path

from promptkit import compile_prompt, load_task
from promptkit.jobs.cache import ResponseCache, cache_key

TASK = load_task("apparel-search")


def test_key_changes_with_every_part_of_the_request() -> None:
    prompt = compile_prompt(TASK, "red shirt")
    base = cache_key("local", "gemma", {"temperature": 0}, prompt)
    again = compile_prompt(TASK, "red shirt")
    assert base == cache_key("local", "gemma", {"temperature": 0}, again)
    others = {
        cache_key("openai", "gemma", {"temperature": 0}, prompt),
        cache_key("local", "gpt", {"temperature": 0}, prompt),
        cache_key("local", "gemma", {"temperature": 0.5}, prompt),
        cache_key("local", "gemma", {"temperature": 0}, compile_prompt(TASK, "red shirts")),
        cache_key("local", "gemma", {"temperature": 0}, compile_prompt(TASK, "red shirt", shots=2)),
    }
    assert base not in others
    assert len(others) == 5


def test_params_order_does_not_matter() -> None:
    prompt = compile_prompt(TASK, "hat")
    first = cache_key("b", "m", {"a": 1, "b": 2}, prompt)
    assert first == cache_key("b", "m", {"b": 2, "a": 1}, prompt)


def test_put_get_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "cache.sqlite"
    with ResponseCache(path) as cache:
        assert cache.get("k") is None
        cache.put("k", {"text": "[1]", "finish_reason": "stop", "prompt_tokens": 5})
        cache.put("k", {"text": "[2]", "finish_reason": "stop", "prompt_tokens": 6})
        assert (cache.hits, cache.misses) == (0, 1)
    with ResponseCache(path) as cache:
        assert cache.get("k") == {"text": "[2]", "finish_reason": "stop", "prompt_tokens": 6}
        assert len(cache) == 1
        assert cache.hits == 1


def test_threads_share_one_cache(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")

    def work(n: int) -> None:
        for i in range(50):
            cache.put(f"{n}-{i}", {"n": n, "i": i})
            assert cache.get(f"{n}-{i}") == {"n": n, "i": i}

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache) == 200
    cache.close()
