"""scalars: written numbers, booleans, dates, times and durations, read whole or not at all."""

from __future__ import annotations

import decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from promptkit.output.enums import NO_MATCH
from promptkit.output.scalars import (
    read_number,
    to_bool,
    to_date,
    to_datetime,
    to_decimal,
    to_duration,
    to_float,
    to_int,
    to_str,
    to_time,
)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("12", "12"),
        ("-2,000.00", "-2000.00"),
        ("12,111", "12111"),
        ("1,234,567.5", "1234567.5"),
        ("12.111,123", "12111.123"),
        ("12,50", "12.50"),
        ("82_461_110", "82461110"),
        ("1_234.5_6", "1234.56"),
        ("+7", "7"),
        (".25", "0.25"),
        ("1.", "1"),
        ("1e3", "1E+3"),
        ("$1,234.50", "1234.50"),
        ("\u22123.5", "-3.5"),
        (" 42 ", "42"),
        ("12.11.", "12.11"),  # a sentence's full stop
    ],
)
def test_a_written_number_is_read_whole(text, number):
    assert read_number(text) == decimal.Decimal(number)


@pytest.mark.parametrize(
    "text",
    ["10-20", "1.1.1", "12abc", "1,2,3", "", "1/0", "nan", "1 cup butter", "5 million", "Room 101"],
)
def test_what_is_not_one_number_is_not_read(text):
    assert read_number(text) is None


def test_fractions_read_as_their_value():
    assert to_float("1/5") == 0.2
    assert to_float("-3/4") == -0.75
    assert to_int("4/2") == 2
    assert to_int("1/3") is NO_MATCH
    assert to_float("1e999") is NO_MATCH  # finite as text, infinite as a float


@pytest.mark.parametrize(
    ("value", "expected"),
    [(36, 36), (36.0, 36), ("36", 36), ("1,036", 1036), ("12,111", 12111), (" 7 ", 7)],
)
def test_ints(value, expected):
    assert to_int(value) == expected


@pytest.mark.parametrize("value", [True, 36.5, "36.5", "12,50", "many", float("inf"), None])
def test_not_ints(value):
    assert to_int(value) is NO_MATCH


@given(st.integers(-(10**12), 10**12))
def test_an_int_written_with_thousands_separators_reads_back(number):
    assert to_int(f"{number:,}") == number
    assert to_int(f"{number:_}") == number


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_float_written_as_text_reads_back(number):
    assert to_float(repr(number)) == number


def test_decimals_keep_their_digits():
    assert to_decimal("12.50") == "12.50"
    assert to_decimal(12.5) == "12.5"
    assert to_decimal("1,234.50") == "1234.50"
    assert to_decimal("twelve") is NO_MATCH


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("yes", True),
        ("No.", False),
        ("TRUE", True),
        (0, False),
        ("off", False),
        ("Answer: **True**", True),
        ("The answer is true", True),
        ("False.\n\nThe statement is wrong, 4 not 5", False),
    ],
)
def test_bools(value, expected):
    assert to_bool(value) is expected


@pytest.mark.parametrize(
    "value",
    [
        "true or false",
        "Not true",
        "nothing is true",
        "cannot be true",
        "x != true",
        "partially true",
        "True North",
        "a false positive",
        "No. The claim is true for adults only.",
        "I cannot confirm the statement is true",
        "I doubt that is true",
        "Whether it is true",
        "Some people claim it is true",
        "unknown",
    ],
)
def test_prose_that_names_both_negates_or_qualifies_is_no_bool(value):
    assert to_bool(value) is NO_MATCH


def test_strings_from_numbers_and_booleans():
    assert to_str(12) == "12"
    assert to_str(1.5) == "1.5"
    assert to_str(True) == "true"
    assert to_str(None) is NO_MATCH


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2024-03-05", "2024-03-05"),
        ("March 5, 2024", "2024-03-05"),
        ("Mar. 5 2024", "2024-03-05"),
        ("5th March 2024", "2024-03-05"),
        ("5 of march, 2024", "2024-03-05"),
        ("2024/03/05", "2024-03-05"),
        ("25/12/2024", "2024-12-25"),
        ("12/25/2024", "2024-12-25"),
        ("2024-03-05T10:30:00", "2024-03-05"),
    ],
)
def test_dates_written_the_common_ways(text, iso):
    assert to_date(text) == iso


@pytest.mark.parametrize("text", ["03/05/2024", "February 30, 2024", "soon", "2024-13-01"])
def test_dates_that_are_not_one_date(text):
    assert to_date(text) is NO_MATCH


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("2024-03-05T10:30:00", "2024-03-05T10:30:00"),
        ("2024-03-05", "2024-03-05T00:00:00"),
        ("March 5, 2024 at 10:30 AM", "2024-03-05T10:30:00"),
        ("March 5, 2024", "2024-03-05T00:00:00"),
    ],
)
def test_datetimes(text, iso):
    assert to_datetime(text) == iso


@pytest.mark.parametrize(
    ("text", "iso"),
    [("10:30", "10:30:00"), ("10:30 AM", "10:30:00"), ("3pm", "15:00:00"), ("12 a.m.", "00:00:00")],
)
def test_times(text, iso):
    assert to_time(text) == iso


@pytest.mark.parametrize("text", ["13 pm", "25:00", "noonish"])
def test_not_times(text):
    assert to_time(text) is NO_MATCH


@pytest.mark.parametrize(
    ("value", "iso"),
    [
        ("1h 30m", "PT1H30M"),
        ("90 minutes", "PT1H30M"),
        ("2 days", "P2D"),
        ("1 day, 2 hours", "P1DT2H"),
        (90, "PT1M30S"),
        (-5, "-PT5S"),
        (0, "PT0S"),
    ],
)
def test_durations(value, iso):
    assert to_duration(value) == iso


@pytest.mark.parametrize("value", ["a while", "3 fortnights", "PT1H", True])
def test_not_durations_to_convert(value):
    assert to_duration(value) is NO_MATCH
