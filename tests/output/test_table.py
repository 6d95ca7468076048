"""Table replies read back: the rows a model writes, right and wrong, through parse_batch."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel

from promptkit import Task, load_task
from promptkit.errors import OutputError
from promptkit.output.parse import Parsed, parse_batch
from promptkit.rows import write_cell, write_table
from promptkit.schema import shape_of

TASK = load_task("apparel-search")
SEARCHES = ["red t shirts long sleeve", "kids socks", "v neck top navy"]
IDS = (9, 10, 11)
HEADER = "id\tcolour\tsleeve\ttype\tneck\n"


def read(reply: str, *, cut: bool = False) -> list[Parsed | OutputError]:
    sources = [TASK.make_input(search) for search in SEARCHES]
    return parse_batch(reply, TASK, sources, ids=IDS, reply_format="table", cut=cut)


def values(results: list[Parsed | OutputError]) -> list[dict[str, object] | None]:
    return [r.value.model_dump() if isinstance(r, Parsed) else None for r in results]


RIGHT = [
    {"colour": "red", "sleeve": "long sleeve", "type": "t shirts", "neck": None},
    {"colour": None, "sleeve": None, "type": "socks", "neck": None},
    {"colour": "navy", "sleeve": None, "type": "top", "neck": "v neck"},
]


def test_rows_under_a_header_become_typed_outputs() -> None:
    reply = HEADER + "9\tred\tlong sleeve\tt shirts\t\n10\t\t\tsocks\t\n11\tnavy\t\ttop\tv neck\n"
    results = read(reply)
    assert values(results) == RIGHT
    assert all(isinstance(r, Parsed) and not r.report.changes for r in results)


def test_rows_out_of_order_and_columns_reordered_are_read_by_id_and_header() -> None:
    reply = (
        "id\ttype\tcolour\tneck\tsleeve\n"
        "11\ttop\tnavy\tv neck\t\n9\tt shirts\tred\t\tlong sleeve\n10\tsocks\t\t\t\n"
    )
    results = read(reply)
    assert values(results) == RIGHT
    assert isinstance(results[0], Parsed)
    assert "read the columns by the header's names" in str(results[0].report)


def test_a_markdown_table_is_read_too() -> None:
    reply = (
        "| id | colour | sleeve | type | neck |\n|---|---|---|---|---|\n"
        "| 9 | red | long sleeve | t shirts | |\n| 10 | | | socks | |\n"
        "| 11 | navy | | top | v neck |\n"
    )
    assert values(read(reply)) == RIGHT


def test_rows_leave_out_their_empty_cells_at_the_end_and_no_header_is_needed() -> None:
    reply = "9\tred\tlong sleeve\tt shirts\n10\t\t\tsocks\n11\tnavy\t\ttop\tv neck\n"
    results = read(reply)
    assert values(results) == RIGHT
    assert all(isinstance(r, Parsed) and not r.report.changes for r in results)


def test_extra_cells_with_text_fail_only_their_row_and_empty_ones_are_dropped() -> None:
    reply = HEADER + "9\tred\tlong\tsleeve\tt shirts\tx\n10\t\t\tsocks\t\t\t\n"
    reply += "11\tnavy\t\ttop\tv neck\n"
    first, second, third = read(reply)
    assert isinstance(first, OutputError)
    assert "5 cells after its id, not 4" in first.errors[0].message
    assert first.raw == reply
    assert values([second, third]) == RIGHT[1:]


def test_a_row_torn_by_a_newline_is_joined() -> None:
    reply = HEADER + "9\tred\tlong\nsleeve\tt shirts\t\n10\t\t\tsocks\t\n11\tnavy\t\ttop\tv neck\n"
    results = read(reply)
    assert values(results) == RIGHT
    assert isinstance(results[0], Parsed)
    assert "joined a row torn by a newline" in str(results[0].report)


def test_a_row_cut_off_at_the_end_is_cut_not_guessed() -> None:
    reply = HEADER + "9\tred\tlong sleeve\tt shirts\t\n10\t\t\tsocks\t\n11\tnavy\t\tto"
    first, second, third = read(reply, cut=True)
    assert values([first, second]) == RIGHT[:2]
    assert isinstance(third, OutputError)
    assert third.truncated


def test_a_last_row_without_its_newline_is_complete_unless_the_reply_was_cut() -> None:
    reply = HEADER + "9\tred\tlong sleeve\tt shirts\n10\t\t\tsocks\n11\tnavy"
    assert isinstance(read(reply)[2], Parsed)
    assert isinstance(read(reply, cut=True)[2], OutputError)


def test_prose_around_the_rows_is_ignored() -> None:
    reply = "Here are the rows:\n9\tred\tlong sleeve\tt shirts\n10\t\t\tsocks\n"
    reply += "11\tnavy\t\ttop\tv neck\nHope this helps!\n"
    results = read(reply)
    assert values(results) == RIGHT
    assert isinstance(results[2], Parsed)
    assert "ignored a line that is not a row" in str(results[2].report)


def test_unknown_ids_are_ignored_with_a_warning_and_a_missing_row_fails_alone() -> None:
    reply = HEADER + "1\tred\t\tparty dress\t\n9\tred\tlong sleeve\tt shirts\t\n10\t\t\tsocks\t\n"
    first, second, third = read(reply)
    assert values([first, second]) == RIGHT[:2]
    assert isinstance(first, Parsed)
    assert "ignored an item with id 1 (expected 9..11)" in str(first.report)
    assert isinstance(third, OutputError)
    assert "item 11 is missing" in str(third)


def test_a_repeated_id_fails_that_item() -> None:
    reply = HEADER + "9\tred\t\tt shirts\t\n9\tblue\t\tt shirts\t\n10\t\t\tsocks\t\n"
    first, *_ = read(reply)
    assert isinstance(first, OutputError)
    assert "appears more than once" in str(first)


def test_a_json_reply_to_a_table_prompt_is_read_as_json() -> None:
    reply = '[{"id": 9, "colour": "red"}, {"id": 10, "type": "socks"}, {"id": 11}]'
    assert [r.value.colour if isinstance(r, Parsed) else "?" for r in read(reply)] == [
        "red",
        None,
        None,
    ]


def test_cells_are_coerced_and_checked_as_json_values_are() -> None:
    reply = HEADER + "9\tRED\tlong sleeve\tt shirts\tcrew neck\n10\tnone\t\tsocks\t\n"
    first, second, _ = read(reply)
    assert isinstance(first, Parsed)
    assert isinstance(second, Parsed)
    assert first.value.neck is None  # "crew neck" is not in the search: grounded nulls it
    assert second.value.colour is None  # a null-word is null


class Order(BaseModel):
    item: str
    count: int
    paid: bool
    size: Literal["s", "m", "l"] | None = None


ORDERS = Task(
    name="orders",
    instructions="Read the order.",
    input_model="text",
    output_model=Order,
)


def test_typed_cells_read_as_numbers_booleans_and_enums() -> None:
    sources = [ORDERS.make_input("two shirts"), ORDERS.make_input("a hat")]
    reply = "id\titem\tcount\tpaid\tsize\n1\tshirt\t2\ttrue\tm\n2\t12\t1\tfalse\t\n"
    first, second = parse_batch(reply, ORDERS, sources, reply_format="table")
    assert isinstance(first, Parsed)
    assert isinstance(second, Parsed)
    assert first.value == Order(item="shirt", count=2, paid=True, size="m")
    assert second.value == Order(item="12", count=1, paid=False)  # a text column stays text


@pytest.mark.parametrize(
    "value", ["", " padded", "a\tb", '"quoted"', "line\nbreak", "a\u2028b", "plain"]
)
def test_any_string_written_as_a_cell_reads_back_as_itself(value: str) -> None:
    sources = [ORDERS.make_input("x")]
    reply = write_table([(1, {"item": value, "count": 1, "paid": True})], shape_of(Order).fields)
    (result,) = parse_batch(reply + "\n", ORDERS, sources, reply_format="table")
    assert isinstance(result, Parsed), result
    assert result.value.item == value
    assert write_cell(None) == ""
