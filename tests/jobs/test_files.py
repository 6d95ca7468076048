"""Readers, record formatting and the output checkpoint of batch runs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from promptkit import Task
from promptkit.errors import JobFileError
from promptkit.jobs.files import (
    IndexSet,
    csv_header,
    format_record,
    open_output,
    prepare_output,
    read_inputs,
    scan_output,
)


class Out(BaseModel):
    colour: str | None = None
    tags: list[str] = []


class Pair(BaseModel):
    title: str
    brand: str = ""


SEARCH = Task("search-task", "Label it.", "search", Out)
PAIR = Task("pair-task", "Label it.", Pair, Out)


def record(index: int, *, error: bool = False, raw: str = "x") -> dict[str, object]:
    return {
        "index": index,
        "input": {"search": f"s{index}"},
        "output": None if error else {"colour": "red", "tags": ["a", "b"]},
        "error": {"type": "OutputError", "message": "bad", "raw": raw} if error else None,
        "attempts": 1,
        "usage": {"prompt_tokens": 10, "completion_tokens": 3},
    }


def test_txt_skips_blank_lines_and_keeps_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_text("red shirt\n\n   \nred shirt\r\nblue hat", encoding="utf-8")
    items = list(read_inputs(path, SEARCH))
    expected = [(0, "red shirt"), (1, "red shirt"), (2, "blue hat")]
    assert [(i.index, i.raw) for i in items] == expected
    assert all(i.value is not None and i.problem is None for i in items)


def test_txt_needs_a_single_field_task(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_text("a\n", encoding="utf-8")
    with pytest.raises(JobFileError, match=r"title, brand; use \.jsonl or \.csv"):
        list(read_inputs(path, PAIR))


def test_jsonl_bad_lines_are_items_with_problems(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    lines = ['{"search": "a", "colour": "label ignored"}', "", '"b"', "{nope", "[1]", '{"x": 1}']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    items = list(read_inputs(path, SEARCH))
    assert [i.index for i in items] == [0, 1, 2, 3, 4]
    assert items[0].value == SEARCH.make_input("a")
    assert items[1].value == SEARCH.make_input("b")
    problems = [str(item.problem) for item in items[2:]]
    assert "line 4 is not JSON" in problems[0]
    assert "JSON list" in problems[1]
    assert "invalid input: field 'search': Field required" in problems[2]


def test_csv_maps_columns_case_insensitively_and_flags_short_rows(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(
        'Title,extra,BRAND\n"red, ""big"" shirt",x,acme\n\n,,\nhat,y\n"two\nlines",z,b\n',
        encoding="utf-8",
    )
    items = list(read_inputs(path, PAIR))
    assert len(items) == 3
    assert items[0].value == Pair(title='red, "big" shirt', brand="acme")
    assert items[1].problem == "CSV record 5 has 2 cells, the header has 3"
    assert items[1].raw == {"title": "hat"}
    assert items[2].value == Pair(title="two\nlines", brand="b")


def test_csv_missing_required_column_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("brand,name\nacme,shirt\n", encoding="utf-8")
    with pytest.raises(JobFileError, match=r"no column 'title' for task 'pair-task'.*'name'"):
        read_inputs(path, PAIR)  # checked on the call, before any item is read


def test_csv_missing_optional_column_uses_the_default(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("title\nshirt\n", encoding="utf-8")
    (item,) = read_inputs(path, PAIR)
    assert item.value == Pair(title="shirt", brand="")


def test_unknown_suffix_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(JobFileError, match="use a"):
        list(read_inputs(tmp_path / "in.xlsx", SEARCH))
    with pytest.raises(JobFileError, match="does not exist"):
        list(read_inputs(tmp_path / "in.txt", SEARCH))


def test_csv_record_flattens_outputs_and_round_trips(tmp_path: Path) -> None:
    header = csv_header(SEARCH)
    assert header[:4] == ["index", "search", "colour", "tags"]
    line = format_record(record(4), SEARCH, "csv")
    row = next(csv.reader([line]))
    assert row[:4] == ["4", "s4", "red", '["a", "b"]']
    assert row[-6:] == ["", "", "", "1", "10", "3"]


def test_output_column_colliding_with_an_input_is_prefixed() -> None:
    task = Task("echo-task", "Echo.", "colour", Out)
    assert csv_header(task)[:4] == ["index", "colour", "output.colour", "tags"]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_scan_counts_done_failed_and_usage(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    fmt = "jsonl" if suffix == ".jsonl" else "csv"
    with open_output(path, SEARCH) as handle:
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
    with open_output(path, SEARCH) as handle:
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


def test_a_torn_csv_header_is_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    path.write_text("index,sea", encoding="utf-8")
    assert len(prepare_output(path, SEARCH, resume=True).done) == 0
    assert path.read_bytes() == b""
    open_output(path, SEARCH).close()
    assert path.read_text(encoding="utf-8").splitlines() == [",".join(csv_header(SEARCH))]


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
@given(st.lists(st.integers(min_value=0, max_value=5000)))
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
