"""CLI conventions: --version, -h, -o, - for stdin and stdout, file.py, plain help, our errors.

Every documented exit code of docs/cli.md has a test here: 0, 1, 2 and 130.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FakeOpenAI

import promptkit
from promptkit import Prompt, compile_prompt, load_task
from promptkit.cli import main

COMMANDS = ("tasks", "check", "render", "run", "eval", "config")

ONE_TASK = """
from pydantic import BaseModel
from promptkit import Example, Task

class Colour(BaseModel):
    colour: str | None = None

colour = Task(name="colour", instructions="Name the colour.", input_model="search",
              output_model=Colour, examples=[Example("red shirt", {"colour": "red"})])
"""


def promptkit_cli(
    *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "promptkit", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("promptkit: error: ")
    assert "Traceback" not in err
    assert "Value error" not in err
    return lines[0]


def openai_args(server: FakeOpenAI) -> list[str]:
    return ["--backend", "openai", "--model", "m", "--base-url", server.url]


# -- version and help ---------------------------------------------------------------------


def test_version_flag_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"promptkit {promptkit.__version__}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", promptkit.__version__)


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_short_and_long_help(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([flag]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage: promptkit [OPTIONS] COMMAND [ARGS]...")
    assert "--version" in out
    for command in COMMANDS:
        assert f"  {command} " in out


@pytest.mark.parametrize("command", COMMANDS)
def test_help_names_values_plainly(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "-h"]) == 0
    out = capsys.readouterr().out
    assert not re.search(r"<[a-z]", out), out  # no <list[str]>, <int range>, <path>, <str>
    assert "{TASK}" not in out
    if command not in ("tasks", "config"):
        assert f"Usage: promptkit {command} [OPTIONS] TASK" in out


def test_help_of_run_shows_the_value_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "-h"]) == 0
    out = capsys.readouterr().out
    for shown in (
        "-i, --input TEXT",
        "--input-file PATH",
        "-o, --output PATH",
        "--shots N",
        "--layout [chat|inline|completion]",
        "--backend [local|openai|anthropic]",
        "--model NAME",
        "--base-url URL",
        "--log PATH",
    ):
        assert shown in out


# -- standard input and output --------------------------------------------------------------


def test_render_reads_lines_of_text_from_standard_input() -> None:
    result = promptkit_cli(
        "render", "apparel-search", "--input-file", "-", "--format", "json", stdin="red top\n\n"
    )
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    expected = compile_prompt(load_task("apparel-search"), "red top")
    assert Prompt.from_dict(json.loads(line)) == expected


def test_render_reads_jsonl_from_standard_input() -> None:
    rows = '{"search": "blue jeans"}\n{"search": "green hat"}\n'
    result = promptkit_cli(
        "render", "apparel-search", "--input-file", "-", "--format", "json", stdin=rows
    )
    assert result.returncode == 0, result.stderr
    task = load_task("apparel-search")
    assert [Prompt.from_dict(json.loads(line)) for line in result.stdout.splitlines()] == [
        compile_prompt(task, "blue jeans"),
        compile_prompt(task, "green hat"),
    ]


def test_empty_or_bad_standard_input_is_one_line_naming_it() -> None:
    result = promptkit_cli("render", "apparel-search", "--input-file", "-", stdin="")
    assert result.returncode == 2
    assert "standard input holds no inputs" in one_line_error(result.stderr)
    result = promptkit_cli("render", "apparel-search", "--input-file", "-", stdin='{"q": 1}\n')
    assert result.returncode == 2
    assert "standard input, input 1" in one_line_error(result.stderr)


def test_run_pipes_standard_input_to_standard_output(fake_openai: FakeOpenAI) -> None:
    result = promptkit_cli(
        "run", "apparel-search", *openai_args(fake_openai), "--input-file", "-", "-o", "-",
        stdin="red shirt\nblue hat\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["input"] for r in records] == ["red shirt", "blue hat"]
    assert records[0]["output"]["colour"] == "red"
    assert not Path("-").exists()


def test_short_output_flag_writes_the_records(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    code = main(
        ["run", "apparel-search", *openai_args(fake_openai), "-i", "red shirt", "-o", str(out)]
    )
    assert code == 0
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert record["output"] == {"colour": "red", "sleeve": None, "type": "shirt", "neck": None}


def test_a_file_job_reads_standard_input(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    result = promptkit_cli(
        "run", "apparel-search", *openai_args(fake_openai), "--input-file", "-",
        "--output", str(out), "--no-cache", stdin="red a\nred b\nblue c\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["index"] for r in records] == [0, 1, 2]


# -- task files ----------------------------------------------------------------------------


def test_check_and_render_take_a_file_with_one_task_without_attr(tmp_path: Path) -> None:
    path = tmp_path / "my_task.py"
    path.write_text(ONE_TASK)
    result = promptkit_cli("check", str(path))
    assert (result.returncode, result.stdout) == (0, "colour: ok (1 examples)\n")
    result = promptkit_cli("render", "my_task.py", "-i", "blue hat", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert 'Search: "blue hat"' in result.stdout


def test_a_file_with_two_tasks_asks_for_the_attr(tmp_path: Path) -> None:
    path = tmp_path / "two.py"
    path.write_text(ONE_TASK + "\nother = Task(name='other', instructions='x', "
                    "input_model='search', output_model=Colour)\n")  # fmt: skip
    result = promptkit_cli("check", str(path))
    assert result.returncode == 2
    assert "colour, other; name one as" in one_line_error(result.stderr)


# -- our own words ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--selector", "simlar"], "no selector 'simlar'; did you mean 'similar'? choose first"),
        (["--layout", "chatt"], "no layout 'chatt'; did you mean 'chat'?"),
        (["--schema-style", "json"], "no schema style 'json'"),
        (["--format", "xml"], "no format 'xml'; choose text, json"),
        (["--shots", "-1"], "--shots': expected a whole number of 0 or more, got '-1'"),
        (["--shots", "many"], "expected a whole number of 0 or more, got 'many'"),
        (["--batch-size", "0"], "expected a whole number of 1 or more, got '0'"),
    ],
)
def test_bad_values_are_refused_in_our_words(
    args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", "apparel-search", "-i", "x", *args]) == 2
    assert expected in one_line_error(capsys.readouterr().err)


def test_more_shots_than_examples_warns_and_says_how_many_are_used(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["render", "apparel-search", "-i", "red top", "--shots", "1000"]) == 0
    captured = capsys.readouterr()
    examples = len(load_task("apparel-search").candidates)  # its own, then its pool's
    assert captured.err == (
        f"promptkit: warning: --shots 1000, but apparel-search has {examples} examples; "
        f"using {examples}\n"
    )
    assert (
        captured.out
        == compile_prompt(load_task("apparel-search"), "red top", shots=1000).render_text()
    )
    assert main(["render", "apparel-search", "-i", "red top", "--shots", str(examples)]) == 0
    assert capsys.readouterr().err == ""


def test_eval_warns_when_leave_one_out_leaves_fewer_examples(
    fake_openai: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    examples = len(load_task("apparel-search").candidates)  # its own, then its pool
    args = ["eval", "apparel-search", *openai_args(fake_openai), "--cross-validate", "--limit", "1"]
    assert main([*args, "--shots", f"0,{examples}", "--json"]) == 0
    err = capsys.readouterr().err
    assert f"--shots {examples}, but apparel-search has {examples - 1} examples" in err


# -- exit codes, as docs/cli.md documents them ------------------------------------------------


def test_exit_0_when_every_input_succeeds(fake_openai: FakeOpenAI) -> None:
    assert main(["run", "apparel-search", *openai_args(fake_openai), "-i", "red top"]) == 0


def test_exit_1_when_check_finds_problems(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text(ONE_TASK.replace('{"colour": "red"}', '{"colour": 3}'))
    result = promptkit_cli("check", str(path))  # a file of one task, no :attr
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("colour: 1 problem(s)\n  - example 0 output, field 'colour'")


def test_exit_1_when_an_input_fails(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    # The server answers {} to non-red searches; a task that requires a colour fails on them.
    path = tmp_path / "strict.py"
    path.write_text(ONE_TASK.replace("colour: str | None = None", "colour: str"))
    result = promptkit_cli("run", str(path), *openai_args(fake_openai), "-i", "blue hat",
                           "--reasks", "0")  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["error"]["type"] == "OutputError"
    assert result.stderr == "promptkit: 1 of 1 inputs failed\n"


def test_exit_1_when_the_backend_fails_at_run_time(fake_openai: FakeOpenAI) -> None:
    fake_openai.server_close()  # nothing listens any more: a connection error after retries
    result = promptkit_cli(
        "run", "apparel-search", "--backend", "openai", "--base-url", fake_openai.url, "-i", "x"
    )
    assert result.returncode == 1, result.stderr
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "BackendError"
    assert "connection" in error["message"].lower()
    assert result.stderr == "promptkit: 1 of 1 inputs failed\n"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "apparel-search", "-i", "x", "--model", "/nonexistent.gguf"], "no model file"),
        (["run", "no-such-task", "-i", "x"], "no task named 'no-such-task'"),
        (["run", "apparel-search", "-i", "x", "--backend", "cohere"], "unknown backend"),
        (["run", "apparel-search", "-i", "x", "--nonsense"], "No such option"),
        (["render", "apparel-search"], "give at least one --input"),
        (["eval", "apparel-search", "--data", "/nonexistent.jsonl"], "cannot read labelled data"),
    ],
)
def test_exit_2_for_usage_errors(
    args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    assert expected in one_line_error(capsys.readouterr().err)


def test_a_missing_model_file_names_the_flag() -> None:
    result = promptkit_cli("run", "apparel-search", "-i", "x", "--model", "/nonexistent.gguf")
    assert result.returncode == 2
    assert one_line_error(result.stderr) == (
        "promptkit: error: Invalid value for --model: no model file at '/nonexistent.gguf'"
    )


def test_exit_130_when_interrupted(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    fake_openai.hang = True
    data = tmp_path / "data.jsonl"
    data.write_text('{"search": "red top", "colour": "red"}\n')
    process = subprocess.Popen(
        [sys.executable, "-m", "promptkit", "eval", "apparel-search", *openai_args(fake_openai),
         "--data", str(data), "--shots", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
    )  # fmt: skip
    try:
        assert fake_openai.received.wait(60), "the request never reached the server"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == 130, err
    assert "Traceback" not in err
