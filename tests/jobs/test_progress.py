"""Progress display, the summary table and prices."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from promptkit.errors import JobFileError
from promptkit.jobs.progress import (
    JobSummary,
    Meter,
    Price,
    Reporter,
    cost,
    duration,
    load_prices,
    price_for,
)

SUMMARY = JobSummary(
    items=10, succeeded=9, failed=1, resumed=4, cached=2, calls=3,
    prompt_tokens=1200, completion_tokens=300, elapsed=2.0, cost=0.0125,
)  # fmt: skip


def test_piped_output_draws_no_bar_but_prints_the_summary() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=80)
    with Reporter(console, total=10) as reporter:
        reporter.skip(4)
        reporter.advance(6, 1, 1500)
    assert out.getvalue() == ""
    reporter.summary(SUMMARY)
    text = out.getvalue()
    for expected in ("failed", "from an earlier run", "backend calls", "1200", "0.0125", "3.00"):
        assert expected in text


def test_a_terminal_gets_a_progress_bar() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160)
    with Reporter(console, total=10) as reporter:
        reporter.advance(3, 1, 99)
    assert "3/10" in out.getvalue()
    assert "1 failed" in out.getvalue()


def test_items_per_second_counts_only_this_run() -> None:
    assert SUMMARY.items_per_second == pytest.approx(3.0)


def test_prices_by_full_name_then_model(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(
        '{"gpt-4o-mini": {"prompt": 0.15, "completion": 0.6},'
        ' "openai:gpt-4o": {"prompt": 2.5, "completion": 10}}',
        encoding="utf-8",
    )
    prices = load_prices(path)
    assert price_for(prices, "openai:gpt-4o-mini") == Price(0.15, 0.6)
    assert price_for(prices, "openai:gpt-4o") == Price(2.5, 10.0)
    assert price_for(prices, "local:gemma") is None
    assert cost(Price(0.15, 0.6), 1_000_000, 500_000) == pytest.approx(0.45)


def test_a_bad_price_table_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text('{"m": {"prompt": 1}}', encoding="utf-8")
    with pytest.raises(JobFileError, match="per million tokens"):
        load_prices(path)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_rate_counts_from_the_start_so_a_first_burst_is_not_thousands_per_second() -> None:
    clock = Clock()
    meter = Meter(30, window=30.0, clock=clock)
    clock.now += 16.0  # a model loads, then a packed batch of four lands at once
    meter.add(4)
    assert meter.rate() == pytest.approx(0.25)
    assert meter.remaining() == pytest.approx(26 / 0.25)
    assert meter.average() == pytest.approx(0.25)


def test_the_rate_follows_a_moving_window_and_the_average_the_whole_run() -> None:
    clock = Clock()
    meter = Meter(None, window=10.0, clock=clock)
    for _ in range(10):  # slow at first: one item every 10 s
        clock.now += 10.0
        meter.add(1)
    for _ in range(20):  # then two items a second
        clock.now += 0.5
        meter.add(1)
    assert meter.rate() == pytest.approx(2.0, rel=0.1)
    assert meter.average() == pytest.approx(30 / 110)
    assert meter.remaining() is None  # no total


def test_duration_is_minutes_and_seconds() -> None:
    assert duration(None) == "-:--"
    assert duration(65.4) == "1:05"
    assert duration(3725) == "1:02:05"


class Spent:
    prompt_tokens = 0
    completion_tokens = 0
    cache_hits = 5


def test_an_attached_backend_counts_cache_hits_not_tokens() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200)
    with Reporter(console, total=5) as reporter:
        reporter.attach(Spent())
        reporter.advance(5, 0, 5000)  # the records' usage: what the cached replies once cost
    text = out.getvalue()
    assert "5 cached" in text
    assert "0 tokens" in text
    assert "5000 tokens" not in text


def test_the_bar_ends_on_the_summary_clock() -> None:
    reporter = Reporter(Console(file=io.StringIO(), force_terminal=False))
    with reporter:
        started = reporter.started
    assert reporter.meter.started == started
