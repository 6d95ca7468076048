"""Readers of input files and the record formats of batch runs."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from pydantic import BaseModel

from promptkit import Task
from promptkit.errors import JobFileError
from promptkit.jobs.files import csv_header, format_record, read_inputs


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
    assert items[1].problem == "CSV record at line 5 (byte 50) has 2 cells, the header has 3"
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


def test_a_line_that_is_not_utf8_is_an_item_with_its_byte_offset(tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_bytes(b"red shirt\n" + "blé noir\n".encode("latin-1") + b"blue hat\n")
    items = list(read_inputs(path, SEARCH))
    assert [item.index for item in items] == [0, 1, 2]
    assert items[1].value is None
    assert items[1].problem == ("line 2 is not UTF-8 (byte 12: b'\\xe9'); save the file as UTF-8")
    assert items[1].raw == "bl\ufffd noir"
    assert [items[0].raw, items[2].raw] == ["red shirt", "blue hat"]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_undecodable_rows_of_jsonl_and_csv_fail_alone(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"in{suffix}"
    rows = [b'{"title": "a"}', b'{"title": "caf\xe9"}', b'{"title": "b"}']
    if suffix == ".csv":
        rows = [b"title", b"a", b"caf\xe9", b"b"]
    path.write_bytes(b"\xef\xbb\xbf" + b"\n".join(rows) + b"\n")
    items = list(read_inputs(path, PAIR))
    assert [item.value.title if item.value else None for item in items] == ["a", None, "b"]
    assert "is not UTF-8 (byte " in str(items[1].problem)


def test_a_csv_header_that_is_not_utf8_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(b"t\xeftle\nshirt\n")
    with pytest.raises(JobFileError, match=r"cannot read the CSV header: line 1 is not UTF-8"):
        read_inputs(path, PAIR)


def test_an_unterminated_quote_at_the_end_swallows_no_row(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text('title,brand\nred,x\n"blue hat,y\ngreen cap,z\nwhite tee,w\n', "utf-8")
    items = list(read_inputs(path, PAIR))
    assert [item.index for item in items] == [0, 1, 2, 3]
    assert items[1].value is None
    assert str(items[1].problem).startswith(
        "CSV record at line 3 (byte 18) is not valid CSV (unexpected end of data)"
    )
    assert items[1].raw == '"blue hat,y'
    assert [item.value for item in (items[0], items[2], items[3])] == [
        Pair(title="red", brand="x"),
        Pair(title="green cap", brand="z"),
        Pair(title="white tee", brand="w"),
    ]


def test_a_stray_quote_mid_file_costs_its_record_only(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text('title\n"red"shirt\nblue\n"two\nlines"\n', encoding="utf-8")
    items = list(read_inputs(path, PAIR))
    assert [item.value.title if item.value else None for item in items] == [
        None,
        "blue",
        "two\nlines",
    ]
    assert "',' expected after '\"'" in str(items[0].problem)


def test_an_unreadable_input_path_is_one_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "in.txt"
    folder.mkdir()
    with pytest.raises(JobFileError, match="does not exist"):
        read_inputs(folder, SEARCH)
