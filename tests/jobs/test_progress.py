"""Progress display, the summary table and prices."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from promptkit.errors import JobFileError
from promptkit.jobs.progress import JobSummary, Price, Reporter, cost, load_prices, price_for

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
