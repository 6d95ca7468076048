"""`promptkit eval` and `promptkit render --selector`: selection shown, configurations compared."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FakeOpenAI, Reply, serve_openai

from promptkit import compile_prompt, load_task
from promptkit.cli import main


def test_render_shows_the_selected_examples(capsys: pytest.CaptureFixture[str]) -> None:
    search = "black long sleve tshirt mens"
    code = main(["render", "apparel-search", "-i", search, "--shots", "5", "--selector", "diverse"])
    assert code == 0
    expected = compile_prompt(load_task("apparel-search"), search, shots=5, selector="diverse")
    out = capsys.readouterr().out
    assert out == expected.render_text()
    similar = compile_prompt(load_task("apparel-search"), search, shots=5).render_text()
    assert out != similar  # the task's own default selector is similar (after its 3 pinned)


def test_render_random_selection_follows_the_seed(capsys: pytest.CaptureFixture[str]) -> None:
    outputs = []
    for seed in ("1", "1", "2"):
        args = ["render", "apparel-search", "-i", "red dress", "--selector", "random"]
        assert main([*args, "--seed", seed]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
    assert outputs[0] != outputs[2]


def test_render_refuses_an_unknown_selector(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "apparel-search", "-i", "x", "--selector", "nearest"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("promptkit: error: ")
    assert "nearest" in err


# -- promptkit eval, against an OpenAI-compatible server on loopback ---------------

ANSWERS = {
    "red t shirts long sleeve 10yrs boy": {
        "colour": "red",
        "sleeve": "long sleeve",
        "type": "t-shirts",
    },
    "gifts for dad": {},
    "navy crewneck sweater": {"colour": "navy", "type": "sweater", "neck": "crew neck"},
}
ROWS = [
    {
        "search": "red t shirts long sleeve 10yrs boy",
        "colour": "red",
        "sleeve": "long sleeve",
        "type": "t shirts",
        "neck": None,
    },
    {"search": "gifts for dad", "colour": None, "sleeve": None, "type": None, "neck": None},
    {
        "search": "navy crewneck sweater",
        "colour": "navy",
        "sleeve": None,
        "type": "sweater",
        "neck": "crewneck",
    },
]


def few_shot_right(body: dict[str, Any]) -> Reply:
    """Zero-shot it invents a colour, few-shot it answers right; a table prompt gets rows."""
    table = table_reply(body)
    if table is not None:
        return Reply(table, prompt_tokens=10, completion_tokens=5)
    searches = shown_searches(body)
    search, few_shot = searches[-1], len(searches) > 1
    answer = ANSWERS[search] if few_shot else {"colour": "black", "type": "shirt"}
    return Reply(json.dumps(answer), prompt_tokens=10, completion_tokens=5)


def shown_searches(body: dict[str, Any]) -> list[str]:
    """The searches of a request (apparel-search's inline layout): examples, then the input."""
    text = "\n".join(message["content"] for message in body["messages"])
    return [
        json.loads(line[len("Search: ") :])
        for line in text.splitlines()
        if line.startswith("Search: ")
    ]


TABLE_HEADER = "id\tcolour\tsleeve\ttype\tneck"


def table_reply(body: dict[str, Any]) -> str | None:
    """The right rows for a table prompt's last numbered search; None for a JSON prompt."""
    text = "\n".join(message["content"] for message in body["messages"])
    if TABLE_HEADER not in text:
        return None
    number, _, search = text.splitlines()[-1].partition("\t")
    answer = ANSWERS[search]
    cells = [answer.get(key) or "" for key in ("colour", "sleeve", "type", "neck")]
    return TABLE_HEADER + "\n" + "\t".join([number, *cells]) + "\n"


@pytest.fixture
def chat_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with serve_openai(few_shot_right) as server:
        yield server


@pytest.fixture
def dev(tmp_path: Path) -> Path:
    path = tmp_path / "dev.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in ROWS), encoding="utf-8")
    return path


def eval_args(server: FakeOpenAI, *args: str) -> list[str]:
    host, port = server.server_address[:2]
    return [
        "eval",
        "apparel-search",
        *args,
        "--backend",
        "openai",
        "--model",
        "test",
        "--base-url",
        f"http://{host}:{port}/v1",
    ]


def test_eval_compares_zero_and_few_shot_on_the_same_items(
    chat_server: FakeOpenAI, dev: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.html"
    args = eval_args(chat_server, "--data", str(dev), "--shots", "0,3", "--json")
    assert main([*args, "--report", str(report)]) == 0
    data = json.loads(capsys.readouterr().out)
    zero, few = data["configurations"]
    assert [zero["name"], few["name"]] == ["0-shot", "3-shot similar"]
    assert [item["input"] for item in zero["items"]] == [item["input"] for item in few["items"]]
    # Zero-shot invents a colour for every search; the task's grounded check nulls it.
    assert all('"colour": "black"' in item["raw"] for item in zero["items"])
    assert [item["output"]["colour"] for item in zero["items"]] == [None, None, None]
    assert zero["summary"]["fields"]["colour"]["hallucinated"] == 0
    assert zero["summary"]["micro"]["f1"] < 0.5
    assert few["summary"]["micro"]["f1"] == 1.0
    assert few["summary"]["all_correct"] == 1.0
    assert few["summary"]["prompt_tokens"] == 10
    assert len(chat_server.requests) == 6
    page = report.read_text(encoding="utf-8")
    assert page.count("<svg") == 4  # four fields, both configurations on each chart
    assert "navy crewneck sweater" in page  # a zero-shot failure, with its raw reply
    assert "{&quot;colour&quot;: &quot;black&quot;" in page


def test_eval_compares_reply_formats_in_one_command(
    chat_server: FakeOpenAI, dev: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = eval_args(chat_server, "--data", str(dev), "--shots", "3", "--selector", "first")
    assert main([*args, "--json", "--reply-format", "json,table"]) == 0
    data = json.loads(capsys.readouterr().out)
    json_run, table_run = data["configurations"]
    assert [json_run["name"], table_run["name"]] == ["3-shot", "3-shot table"]
    assert json_run["summary"]["micro"]["f1"] == table_run["summary"]["micro"]["f1"] == 1.0
    assert data["metadata"]["reply formats"] == "json,table"
    tables = chat_server.requests[len(ROWS) :]
    assert all("response_format" not in body for body in tables)
    assert all("response_format" in body for body in chat_server.requests[: len(ROWS)])


def test_eval_refuses_an_unknown_reply_format(
    chat_server: FakeOpenAI, dev: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = eval_args(chat_server, "--data", str(dev), "--reply-format", "json,csv")
    assert main(args) == 2
    assert "'csv' is not a reply format: use json or table" in capsys.readouterr().err


def test_eval_prints_a_comparison_table(
    chat_server: FakeOpenAI, dev: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = eval_args(chat_server, "--data", str(dev), "--shots", "0,2", "--selector", "similar")
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "0-shot" in out
    assert "2-shot similar" in out
    assert "micro F1" in out


def test_eval_cross_validates_on_the_task_examples(
    chat_server: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    args = eval_args(chat_server, "--cross-validate", "--shots", "2", "--limit", "3", "--json")
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["data"] == "own examples and pool (leave-one-out)"
    assert data["configurations"][0]["summary"]["items"] == 3
    for request in chat_server.requests:
        *shown, query = shown_searches(request)
        assert len(shown) == 2
        assert query not in shown


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--shots", "0,x"], "comma-separated"),
        ([], "give either --data PATH or --cross-validate"),
        (["--cross-validate", "--backend", "nope"], "unknown backend"),
    ],
)
def test_eval_usage_errors_are_one_line(
    args: list[str], message: str, dev: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if args and args[0] == "--shots":
        args = [*args, "--data", str(dev)]
    assert main(["eval", "apparel-search", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("promptkit: error: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_eval_reports_a_bad_data_row_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"search": "x", "color": "red"}\n', encoding="utf-8")
    assert main(["eval", "apparel-search", "--data", str(path)]) != 0
    err = capsys.readouterr().err
    assert "bad.jsonl:1" in err
    assert "'color'" in err


# -- what eval shows people --------------------------------------------------------------


@pytest.mark.parametrize("width", [80, 110])
def test_eval_table_fits_the_terminal_and_names_what_it_left_out(
    chat_server: FakeOpenAI,
    dev: Path,
    width: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    assert main(eval_args(chat_server, "--data", str(dev), "--shots", "0,2")) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= width
    assert "task: apparel-search" in out
    assert "selector: similar" in out
    assert "shots: 0,2" in out
    assert "left out to fit:" in out
    assert "micro F1" in out
    assert "+1.000" in out  # the delta of 2-shot against 0-shot
    assert "n/a" in out  # zero-shot predicted no sleeve: its precision is not 1.00
    monkeypatch.setenv("COLUMNS", "300")
    assert main(eval_args(chat_server, "--data", str(dev), "--shots", "0,2")) == 0
    assert "left out" not in capsys.readouterr().out


def test_eval_prints_a_line_per_configuration_when_piped(
    chat_server: FakeOpenAI, dev: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(eval_args(chat_server, "--data", str(dev), "--shots", "0,2", "--json")) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2
    assert err[0].startswith("promptkit: 0-shot (1 of 2): 3 items in ")
    assert err[1].endswith("micro F1 1.000")


def test_eval_progress_on_a_terminal_shows_configurations_times_items() -> None:
    import io

    from rich.console import Console

    from promptkit.cli.evaluate import EvalProgress
    from promptkit.evaluation.comparison import Configuration

    out = io.StringIO()
    configurations = [Configuration(0), Configuration(3)]
    with EvalProgress(Console(file=out, force_terminal=True, width=150), configurations, 4) as bar:
        bar.item(configurations[0], 0)
        bar.item(configurations[0], 1)
    text = out.getvalue()
    assert "0-shot (configuration 1 of 2)" in text
    assert "2/8" in text
    assert "left" in text
