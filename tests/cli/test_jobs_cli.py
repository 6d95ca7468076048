"""`promptkit run` over files, as a real subprocess against a real HTTP server on loopback.

The server speaks the OpenAI chat API and answers from the prompt itself:
each search's colour is its first word when that is a colour, its type its
last word. Markers in a search make a batch reply misbehave for that item
(``~missing``, ``~dup``, ``~wrongid``, ``~invalid``, ``~extra``, ``~cut``);
asked alone, the item is answered properly, except ``~fail`` which never is.
Every batch reply comes in reverse order, so matching by id is always tested.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FakeOpenAI, Reply, serve_openai

COLOURS = {"red", "blue", "black", "white", "green", "navy"}
_ITEM = re.compile(r'^(\d+)\. (".*")$')
_SINGLE = re.compile(r'^[A-Z][\w ]*: (".*")$')


def attributes(search: str) -> dict[str, Any]:
    words = [w for w in search.split() if not w.startswith("~")]
    found: dict[str, Any] = {}
    if words and words[0] in COLOURS:
        found["colour"] = words[0]
    if words:
        found["type"] = words[-1]
    return found


def answer(users: list[str]) -> tuple[str, str]:
    """Return the reply text and finish reason for the user turns of a prompt.

    A last turn that holds no input is a re-ask: the inputs are in the turn
    before it, and this time every item is answered properly.
    """
    reask = not _inputs(users[-1])[0] and not _inputs(users[-1])[1]
    items, singles = _inputs(users[-2] if reask else users[-1])
    if not items:
        search = singles[-1]
        if "~fail" in search:
            return '{"colour": ["not", "a", "string"]}', "stop"
        return json.dumps(attributes(search)), "stop"
    reply: list[dict[str, Any]] = []
    for number, search in items:
        entry = {"id": number, **attributes(search)}
        if "~fail" in search:
            entry["colour"] = {"nested": True}
        if reask:
            reply.append(entry)
            continue
        if "~missing" in search:
            continue
        if "~wrongid" in search:
            entry["id"] = number + 100
        if "~invalid" in search:
            entry["colour"] = {"nested": True}
        reply.append(entry)
        if "~dup" in search:
            reply.append({**entry, "type": "other"})
        if "~extra" in search:
            reply.append({"id": len(items) + 7, "type": "surplus"})
    text = json.dumps(reply[::-1])
    if not reask and any("~cut" in search for _, search in items) and len(items) > 1:
        return text[: len(text) // 2], "length"
    return text, "stop"


def _inputs(turn: str) -> tuple[list[tuple[int, str]], list[str]]:
    lines = turn.splitlines()
    items = [(int(m[1]), json.loads(m[2])) for m in map(_ITEM.match, lines) if m]
    singles = [json.loads(m[1]) for m in map(_SINGLE.match, lines) if m]
    return items, singles


def _answer_the_prompt(body: dict[str, Any]) -> Reply:
    users = [m["content"] for m in body["messages"] if m["role"] == "user"]
    text, finish = answer(users)
    return Reply(text, finish, len(users[-1].split()) + 100, len(text.split()))


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with serve_openai(_answer_the_prompt) as running:
        yield running


def command(server: FakeOpenAI, tmp_path: Path, source: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "promptkit", "run", "apparel-search",
        "--input-file", str(source), "--output", str(out),
        "--backend", "openai", "--base-url", server.url, "--model", "fake",
        "--layout", "chat", "--shots", "2", "--cache", str(tmp_path / "cache.sqlite"),
        *extra,
    ]  # fmt: skip


def promptkit_run(
    server: FakeOpenAI, tmp_path: Path, source: Path, out: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENAI_API_KEY": "sk-test"}
    return subprocess.run(
        command(server, tmp_path, source, out, *extra),
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def expected_output(search: str) -> dict[str, Any]:
    return {"colour": None, "sleeve": None, "type": None, "neck": None, **attributes(search)}


def test_batch_replies_that_misbehave_are_fixed_item_by_item(
    server: FakeOpenAI, tmp_path: Path
) -> None:
    searches = [
        "red shirt", "blue hat ~missing", "black dress ~dup", "white tee ~wrongid",
        "green scarf ~invalid", "navy coat ~extra", "plain socks", "red skirt",
        "blue jeans ~cut", "white tank", "green cap", "black boots ~fail",
    ]  # fmt: skip
    source = write(tmp_path / "in.txt", searches)
    out = tmp_path / "out.jsonl"
    result = promptkit_run(server, tmp_path, source, out, "--batch-size", "4")
    assert result.returncode == 1, result.stderr  # one item failed for good
    got = records(out)
    assert [r["index"] for r in got] == list(range(len(searches)))
    for record, search in zip(got, searches, strict=True):
        assert record["input"] == search
        if "~fail" in search:
            assert record["output"] is None
            assert record["error"]["raw"]
            assert record["error"]["type"] == "OutputError"
        else:
            assert record["output"] == expected_output(search), search
            assert record["error"] is None
    assert "failed" in result.stderr


def test_a_second_run_is_served_from_the_cache(server: FakeOpenAI, tmp_path: Path) -> None:
    source = write(tmp_path / "in.txt", ["red shirt", "blue hat", "green cap"])
    first = promptkit_run(server, tmp_path, source, tmp_path / "a.jsonl", "--batch-size", "2")
    assert first.returncode == 0, first.stderr
    calls = len(server.requests)
    assert calls == 2
    second = promptkit_run(server, tmp_path, source, tmp_path / "b.jsonl", "--batch-size", "2")
    assert second.returncode == 0, second.stderr
    assert len(server.requests) == calls
    fresh, cached = records(tmp_path / "a.jsonl"), records(tmp_path / "b.jsonl")
    assert [{**r, "usage": None} for r in fresh] == [{**r, "usage": None} for r in cached]
    assert all(r["usage"]["prompt_tokens"] > 0 for r in fresh)
    assert all(r["usage"]["prompt_tokens"] == 0 for r in cached)  # a cached reply costs nothing
    third = promptkit_run(
        server, tmp_path, source, tmp_path / "c.jsonl", "--batch-size", "2", "--no-cache"
    )
    assert third.returncode == 0, third.stderr
    assert len(server.requests) == 2 * calls


def test_duplicates_and_blank_lines(server: FakeOpenAI, tmp_path: Path) -> None:
    source = write(
        tmp_path / "in.txt", ["red shirt", "", "red shirt", "  ", "blue hat", "red shirt"]
    )
    out = tmp_path / "out.csv"
    result = promptkit_run(server, tmp_path, source, out, "--batch-size", "8")
    assert result.returncode == 0, result.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].split(",")[:6] == ["index", "search", "colour", "sleeve", "type", "neck"]
    assert [line.split(",")[:5] for line in lines[1:]] == [
        ["0", "red shirt", "red", "", "shirt"],
        ["1", "red shirt", "red", "", "shirt"],
        ["2", "blue hat", "blue", "", "hat"],
        ["3", "red shirt", "red", "", "shirt"],
    ]
    (request,) = server.requests
    assert request["messages"][-1]["content"].count("red shirt") == 1  # sent once


def test_csv_input_with_a_missing_column_is_one_clear_error(
    server: FakeOpenAI, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("query,colour\nred shirt,red\n", encoding="utf-8")
    result = promptkit_run(server, tmp_path, source, tmp_path / "out.jsonl")
    assert result.returncode == 2
    assert result.stderr.startswith("promptkit: error: ")
    assert "no column 'search'" in result.stderr
    assert "Traceback" not in result.stderr
    assert server.requests == []
    assert not (tmp_path / "out.jsonl").exists()  # so a corrected run needs no --resume


def test_csv_input_with_short_rows_fails_those_rows_only(
    server: FakeOpenAI, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("search,label\nred shirt,x\nblue hat\ngreen cap,y\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = promptkit_run(server, tmp_path, source, out, "--batch-size", "4")
    assert result.returncode == 1
    got = records(out)
    assert [r["output"] for r in got] == [
        expected_output("red shirt"),
        None,
        expected_output("green cap"),
    ]
    assert got[1]["error"]["type"] == "InputError"


# Kill points: before the output exists; at the first bytes written (records are
# flushed in buffer-sized chunks, so a record is usually torn there); half-way.
@pytest.mark.parametrize("kill_after_bytes", [0, 1, 15000])
def test_kill_9_then_resume_leaves_every_input_exactly_once(
    server: FakeOpenAI, tmp_path: Path, kill_after_bytes: int
) -> None:
    searches = [f"{'red' if i % 3 else 'blue'} item{i} tee" for i in range(120)]
    searches[17] = searches[40] = "red same tee"
    source = write(tmp_path / "in.txt", searches)
    out = tmp_path / "out.jsonl"
    server.delay = 0.01
    env = {**os.environ, "OPENAI_API_KEY": "sk-test"}
    extra = ("--batch-size", "3", "--concurrency", "2", "--no-cache")
    process = subprocess.Popen(
        command(server, tmp_path, source, out, *extra),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    try:
        while process.poll() is None:
            if (out.stat().st_size if out.exists() else 0) >= kill_after_bytes:
                break
            time.sleep(0.002)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    if out.exists() and out.stat().st_size > 5:
        # Also leave the last record torn, as a kill inside a write would.
        with out.open("r+b") as handle:
            handle.truncate(out.stat().st_size - 5)
    server.delay = 0.0
    result = promptkit_run(server, tmp_path, source, out, *extra, "--resume")
    assert result.returncode == 0, result.stderr
    got = records(out)
    assert sorted(r["index"] for r in got) == list(range(len(searches)))
    for record in got:
        assert record["output"] == expected_output(searches[record["index"]])
