"""The promptkit command, run as a real subprocess: output, exit codes, one-line errors."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

from promptkit import ExamplePool, Prompt, Task, compile_batch, compile_prompt, load_task


def promptkit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "promptkit", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code, result.stderr
    assert result.stderr.startswith("promptkit: error: ")
    assert text in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_tasks_lists_bundled_tasks_with_descriptions() -> None:
    result = promptkit("tasks")
    assert result.returncode == 0
    rows = dict(line.split("\t") for line in result.stdout.splitlines())
    assert rows["apparel-search"].startswith("Structure a shopping search")
    assert "search-intent" in rows


def test_render_prints_exactly_the_compiled_prompt_when_piped() -> None:
    result = promptkit(
        "render", "apparel-search", "--shots", "3", "--input", "tan coloured women blouse"
    )
    assert result.returncode == 0, result.stderr
    expected = compile_prompt(load_task("apparel-search"), "tan coloured women blouse", shots=3)
    assert result.stdout == expected.render_text()


def test_render_json_is_the_prompt_for_tools() -> None:
    result = promptkit(
        "render",
        "apparel-search",
        "-i",
        "a",
        "-i",
        "b",
        "-i",
        "c",
        "--batch-size",
        "2",
        "--layout",
        "chat",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    prompts = [Prompt.from_dict(json.loads(line)) for line in result.stdout.splitlines()]
    task = load_task("apparel-search")
    assert prompts == [
        compile_batch(task, ["a", "b"], layout="chat"),
        compile_batch(task, ["c"], layout="chat"),
    ]


def test_render_reads_txt_and_jsonl_input_files(tmp_path: Path) -> None:
    txt = tmp_path / "searches.txt"
    txt.write_text("red top\n\nblue jeans\n")
    jsonl = tmp_path / "searches.jsonl"
    jsonl.write_text('{"search": "green hat"}\n')
    result = promptkit(
        "render", "apparel-search", "--input-file", str(txt), "--shots", "0", "--format", "json"
    )
    contents = [json.loads(line)["messages"][0]["content"] for line in result.stdout.splitlines()]
    assert [content.rsplit("\n", 1)[-1] for content in contents] == [
        'Search: "red top"',
        'Search: "blue jeans"',
    ]
    result = promptkit("render", "apparel-search", "--input-file", str(jsonl), "--shots", "0")
    assert result.stdout.rstrip().endswith('Search: "green hat"')


def test_render_reads_csv_with_the_batch_run_reader(tmp_path: Path) -> None:
    table = tmp_path / "searches.csv"
    table.write_text("search,note\nred top,a\n")
    result = promptkit("render", "apparel-search", "--input-file", str(table), "--shots", "0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith('Search: "red top"')
    missing = tmp_path / "other.csv"
    missing.write_text("query\nred top\n")
    assert_one_line_error(
        promptkit("render", "apparel-search", "--input-file", str(missing)), 2, "search"
    )


def test_render_layout_and_schema_style_flags() -> None:
    result = promptkit(
        "render",
        "search-intent",
        "-i",
        "x",
        "--layout",
        "completion",
        "--schema-style",
        "jsonschema",
        "--shots",
        "1",
    )
    assert result.returncode == 0
    assert result.stdout.startswith("--- text ---\n")
    assert '{"type":"object","properties":{"intent"' in result.stdout


def test_check_passes_a_good_task() -> None:
    result = promptkit("check", "apparel-search")
    assert result.returncode == 0
    assert result.stdout.startswith("apparel-search: ok (")


def test_check_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text(
        "from promptkit import Example, Task\n"
        "from pydantic import BaseModel\n"
        "class Out(BaseModel):\n    size: int\n    label: str\n"
        "broken = Task(name='broken', instructions='x', input_model='q', output_model=Out,\n"
        "    examples=[Example('a', {'size': 'big', 'label': 'x'}), Example('b', {'size': 1})])\n"
    )
    result = promptkit("check", f"{path}:broken")
    assert result.returncode == 1
    assert "broken: 2 problem(s)" in result.stderr
    assert "example 0 output, field 'size'" in result.stderr
    assert "example 1 output, field 'label': Field required" in result.stderr


def test_unknown_task_is_a_usage_error() -> None:
    assert_one_line_error(promptkit("render", "no-such-task", "-i", "x"), 2, "no task named")


def test_missing_input_is_a_usage_error() -> None:
    assert_one_line_error(promptkit("render", "apparel-search"), 2, "--input")


def test_bad_flag_value_is_a_usage_error() -> None:
    assert_one_line_error(
        promptkit("render", "apparel-search", "--layout", "table", "-i", "x"), 2, "layout"
    )
    assert_one_line_error(
        promptkit("render", "apparel-search", "--shots", "-1", "-i", "x"), 2, "shots"
    )


def test_input_file_of_unknown_kind_or_bad_json(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    assert_one_line_error(
        promptkit("render", "apparel-search", "--input-file", str(bad)), 2, "not JSON"
    )
    wrong = tmp_path / "inputs.jsonl"
    wrong.write_text('{"query": "x"}\n')
    assert_one_line_error(
        promptkit("render", "apparel-search", "--input-file", str(wrong)), 2, "search"
    )


def test_render_selects_from_a_pool_file_with_the_selector_seed_and_budget_given(
    tmp_path: Path,
) -> None:
    pool = tmp_path / "pool.jsonl"
    rows = [
        {"search": "navy crew neck jumper", "colour": "navy", "type": "jumper", "neck": "crewneck"},
        {"search": "kids wellies", "type": "wellies"},
        {"search": "navy blazer", "colour": "navy", "type": "blazer"},
    ]
    pool.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    args = ["--shots", "2", "--selector", "random", "--seed", "3", "--token-budget", "400"]
    result = promptkit("render", "apparel-search", "-i", "navy jumper", "--pool", str(pool), *args)
    assert result.returncode == 0, result.stderr
    task = load_task("apparel-search")
    pooled = Task(**{**{f: getattr(task, f) for f in ("name", "instructions", "input_model",
                                                       "output_model", "checks")},
                     "strategy": dataclasses.replace(task.strategy, pinned=0),  # none pinned
                     "pool": ExamplePool(pool)})  # fmt: skip
    expected = compile_prompt(pooled, "navy jumper", shots=2, selector="random", seed=3,
                              token_budget=400)  # fmt: skip
    assert result.stdout == expected.render_text()
    assert "girls 16 party dress" not in result.stdout  # the task's own examples are not used


def test_a_bad_pool_file_is_a_usage_error_naming_its_line(tmp_path: Path) -> None:
    pool = tmp_path / "pool.jsonl"
    pool.write_text('{"search": "a"}\n{"search": "b", "neck": "polo neck"}\n', encoding="utf-8")
    result = promptkit("run", "apparel-search", "-i", "x", "--pool", str(pool))
    assert_one_line_error(result, 2, f"pool {pool}:2 output, field 'neck'")


def test_render_with_a_table_reply_format_shows_rows() -> None:
    result = promptkit(
        "render", "apparel-search", "--shots", "2", "--input", "red top", "--reply-format", "table"
    )
    expected = compile_prompt(load_task("apparel-search"), "red top", shots=2, reply_format="table")
    assert result.stdout == expected.render_text()
    assert "id\tcolour\tsleeve\ttype\tneck" in result.stdout
    assert "id\tsearch\n3\tred top" in result.stdout
