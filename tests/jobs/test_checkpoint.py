"""The output file as the checkpoint: scanning, cutting, the lock, duplicate and huge indices."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from promptkit import Task
from promptkit.errors import JobFileError
from promptkit.jobs.checkpoint import IndexSet, claim_output, prepare_output, scan_output
from promptkit.jobs.files import csv_header, format_record


class Out(BaseModel):
    colour: str | None = None
    tags: list[str] = []


SEARCH = Task("search-task", "Label it.", "search", Out)


def record(index: int, *, error: bool = False, raw: str = "x") -> dict[str, object]:
    return {
        "index": index,
        "input": {"search": f"s{index}"},
        "output": None if error else {"colour": "red", "tags": ["a", "b"]},
        "error": {"type": "OutputError", "message": "bad", "raw": raw} if error else None,
        "attempts": 1,
        "usage": {"prompt_tokens": 10, "completion_tokens": 3},
    }


def jsonl(*indices: int) -> str:
    return "".join(json.dumps(record(index)) + "\n" for index in indices)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_scan_counts_done_failed_and_usage(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    fmt = "jsonl" if suffix == ".jsonl" else "csv"
    with claim_output(path, SEARCH, resume=False) as (handle, _):
        for index in (3, 0, 7):
            handle.write(format_record(record(index, error=index == 7, raw="a\nb"), SEARCH, fmt))
    checkpoint = scan_output(path, SEARCH)
    assert sorted(i for i in range(10) if i in checkpoint.done) == [0, 3, 7]
    assert (checkpoint.failed, checkpoint.prompt_tokens, checkpoint.completion_tokens) == (1, 30, 9)
    assert not checkpoint.torn
    assert checkpoint.end == path.stat().st_size


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_every_cut_of_the_last_record_is_detected_and_cut_off(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    fmt = "jsonl" if suffix == ".jsonl" else "csv"
    with claim_output(path, SEARCH, resume=False) as (handle, _):
        handle.write(format_record(record(0), SEARCH, fmt))
    whole = path.read_bytes()
    last = format_record(record(1, error=True, raw='say "hi"\nthere'), SEARCH, fmt).encode()
    for cut in range(len(last)):
        path.write_bytes(whole + last[:cut])
        checkpoint = prepare_output(path, SEARCH, resume=True)
        assert 1 not in checkpoint.done, cut
        assert 0 in checkpoint.done
        assert path.read_bytes() == whole, cut
    path.write_bytes(whole + last)
    assert 1 in prepare_output(path, SEARCH, resume=True).done


def test_a_torn_csv_header_is_rewritten_before_the_first_record(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    path.write_text("index,sea", encoding="utf-8")
    with claim_output(path, SEARCH, resume=True) as (handle, checkpoint):
        assert len(checkpoint.done) == 0
        assert path.read_bytes() == b""
        handle.write(format_record(record(0), SEARCH, "csv"))
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",".join(csv_header(SEARCH))
    assert lines[1].startswith("0,s0,red")


def test_a_run_that_wrote_nothing_leaves_a_file_a_new_run_may_take(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    with claim_output(path, SEARCH, resume=False):
        pass  # stopped before the first record
    assert path.read_bytes() == b""
    path.write_text(",".join(csv_header(SEARCH)) + "\n", encoding="utf-8")  # an older run's
    with claim_output(path, SEARCH, resume=False) as (handle, _):
        handle.write(format_record(record(0), SEARCH, "csv"))
    assert len(path.read_text(encoding="utf-8").splitlines()) == 2


def test_existing_output_without_resume_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text(json.dumps(record(0)) + "\n", encoding="utf-8")
    with pytest.raises(JobFileError, match="pass --resume"):
        prepare_output(path, SEARCH, resume=False)


def test_a_bad_record_before_the_last_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text("garbage\n" + json.dumps(record(0)) + "\n", encoding="utf-8")
    with pytest.raises(JobFileError, match="not the last one"):
        scan_output(path, SEARCH)


def test_a_csv_output_of_another_task_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(JobFileError, match="not those of task"):
        scan_output(path, SEARCH)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=5000) | st.integers(min_value=2**26)))
def test_index_set_behaves_like_a_set(values: list[int]) -> None:
    seen: set[int] = set()
    bits = IndexSet()
    for value in values:
        assert bits.add(value) == (value not in seen)
        seen.add(value)
    assert len(bits) == len(seen)
    assert all(v in bits for v in seen)
    assert all((v in bits) == (v in seen) for v in range(0, 5001, 7))
    assert -1 not in bits


def test_a_huge_index_costs_no_memory_and_is_reported_as_not_this_input(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text(jsonl(0, 10**15), encoding="utf-8")
    checkpoint = scan_output(path, SEARCH)
    assert 10**15 in checkpoint.done
    assert len(checkpoint.done) == 2


def test_a_negative_index_is_not_a_record(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text(jsonl(-3, 0), encoding="utf-8")
    with pytest.raises(JobFileError, match=r"index -3 is negative.*not the last one"):
        scan_output(path, SEARCH)


def test_resume_refuses_duplicate_indices_naming_them(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text(jsonl(0, 1, 2, 1, 0, 3, 0), encoding="utf-8")
    with pytest.raises(JobFileError, match=r"index 0, 1 more than once") as raised:
        prepare_output(path, SEARCH, resume=True)
    assert "start a new output file" in str(raised.value)
    assert path.read_text(encoding="utf-8") == jsonl(0, 1, 2, 1, 0, 3, 0)  # left as it was


def test_a_second_claim_on_one_output_is_refused_until_the_first_ends(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with (
        claim_output(path, SEARCH, resume=False),
        pytest.raises(JobFileError, match="being written by another promptkit run"),
        claim_output(path, SEARCH, resume=True),
    ):
        pass
    with claim_output(path, SEARCH, resume=True) as (_, checkpoint):
        assert len(checkpoint.done) == 0


def test_a_lock_held_by_a_killed_process_is_gone(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    holder = (
        "import fcntl, os, sys; f = open(sys.argv[1], 'a'); "
        "fcntl.flock(f.fileno(), fcntl.LOCK_EX); print('locked', flush=True); "
        "os.kill(os.getpid(), 9)"
    )
    done = subprocess.run(
        [sys.executable, "-c", holder, str(path)], capture_output=True, text=True, check=False
    )
    assert done.stdout == "locked\n"
    assert done.returncode == -9
    with claim_output(path, SEARCH, resume=True) as (_, checkpoint):
        assert len(checkpoint.done) == 0


def test_an_output_under_a_file_or_in_a_read_only_folder_is_one_clear_error(
    tmp_path: Path,
) -> None:
    (tmp_path / "plain.txt").write_text("x", encoding="utf-8")
    under_a_file = tmp_path / "plain.txt" / "out.jsonl"
    with (
        pytest.raises(JobFileError, match=r"plain.txt' is a file, not a folder"),
        claim_output(under_a_file, SEARCH, resume=False),
    ):
        pass
    (tmp_path / "folder.jsonl").mkdir()
    with (
        pytest.raises(JobFileError, match=r"folder.jsonl' cannot be written: it is a folder"),
        claim_output(tmp_path / "folder.jsonl", SEARCH, resume=False),
    ):
        pass
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: a read-only folder is writable")
        with (
            pytest.raises(JobFileError, match="cannot be written: Permission denied"),
            claim_output(locked / "out.jsonl", SEARCH, resume=False),
        ):
            pass
    finally:
        locked.chmod(0o700)
