"""Ray Data: map_task, processor_hooks with Ray's HTTP request processor, run_ray_job.

One local Ray (2 CPUs) is shared by every test of the module: it takes seconds to
start on this machine. The backend is the openai one against a loopback server
(:mod:`batch_server`), or a backend class defined here, sent to the workers by value.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promptkit import load_task
from promptkit.backends.base import Completion, GenerationParams
from promptkit.backends.openai import OpenAIBackend
from promptkit.jobs.runner import JobOptions, run_job
from promptkit.prompt import Prompt

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "jobs"))
import batch_server as fake
from batch_server import BatchServer, answer, attributes, batch_server

pytestmark = [
    pytest.mark.integration,
    # Ray Data warns about its own deprecated settings while it reads them; not ours.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray"),
]

TASK = load_task("apparel-search")
SEARCHES = ["red shirt", "blue hat", "plain socks", "navy coat ~boom", "green cap"] * 4


@pytest.fixture(scope="module")
def ray_session() -> Iterator[Any]:
    if os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
        pytest.importorskip("ray", reason="pip install 'promptkit[ray]'")
    import ray  # in CI the dev extra installs it: a missing Ray fails there

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    # Backends defined in this file reach the workers by value, not by module name.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.cloudpickle.register_pickle_by_value(fake)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def server() -> Iterator[BatchServer]:
    os.environ.setdefault("OPENAI_API_KEY", "sk-test-ray-0123456789")
    with batch_server() as running:
        yield running


class Boom:
    """A backend that raises on a search holding ``~boom`` and answers the others."""

    name = "boom"
    layout = "chat"

    def complete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        text = prompt.messages[-1].content
        if "~boom" in text:
            raise ValueError("the worker broke on this row")
        return Completion(answer(text), prompt_tokens=10, completion_tokens=5)

    async def acomplete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        return self.complete(prompt, params)


def test_map_task_gives_every_row_once_with_outputs_and_errors(ray_session: Any) -> None:
    from promptkit.integrations.ray import map_task

    rows = [{"search": s, "row": n} for n, s in enumerate(SEARCHES)] + [{"search": None, "row": 99}]
    dataset = ray_session.data.from_items(rows)
    mapped = map_task(dataset, TASK, backend=Boom, batch_size=3, rows_per_batch=7,
                      concurrency=2, num_cpus=0.5, shots=2)  # fmt: skip
    got = sorted(mapped.take_all(), key=lambda row: row["row"])
    assert [row["row"] for row in got] == [row["row"] for row in rows]
    for row in got[:-1]:
        if "~boom" in row["search"]:
            assert row["type"] is None
            assert row["error"]["type"] == "ValueError"
            assert "broke on this row" in row["error"]["message"]
        else:
            assert row["error"] is None
            assert row["type"] == attributes(row["search"])["type"]
    assert got[-1]["error"]["type"] == "InputError"


def test_processor_hooks_with_rays_http_request_processor(
    ray_session: Any, server: BatchServer
) -> None:
    from ray.data.llm import HttpRequestProcessorConfig, build_processor

    from promptkit.integrations.ray import processor_hooks

    preprocess, postprocess = processor_hooks(
        TASK, model="fake", base_url=server.openai_url, layout="chat", shots=2
    )
    config = HttpRequestProcessorConfig(
        url=f"{server.openai_url}/chat/completions", concurrency=1, batch_size=4
    )
    processor = build_processor(config, preprocess=preprocess, postprocess=postprocess)
    rows = [{"search": s, "row": n} for n, s in enumerate(SEARCHES[:5])]
    got = sorted(processor(ray_session.data.from_items(rows)).take_all(), key=lambda r: r["row"])
    assert [row["row"] for row in got] == list(range(5))
    for row in got:
        assert row["error"] is None
        assert row["colour"] == attributes(row["search"]).get("colour")
        assert set(row) == {"search", "row", "colour", "sleeve", "type", "neck", "error"}
    sent = [body for body in server.normal if body.get("response_format")]
    assert sent
    assert sent[-1]["response_format"]["type"] == "json_schema"


def test_processor_hooks_for_vllm_ask_for_the_reply_schema() -> None:
    from promptkit.integrations.ray_llm import processor_hooks

    preprocess, postprocess = processor_hooks(TASK, engine="vllm", shots=1)
    request = preprocess({"search": "red shirt"})
    assert request["messages"][-1]["role"] == "user"
    schema = request["sampling_params"]["structured_outputs"]["json"]
    assert set(schema["properties"]) == {"colour", "sleeve", "type", "neck"}
    done = postprocess({**request, "generated_text": '{"colour": "red", "type": "shirt"}'})
    assert done == {"search": "red shirt", "colour": "red", "sleeve": None, "type": "shirt",
                    "neck": None, "error": None}  # fmt: skip
    bad = postprocess({**request, "generated_text": "no idea"})
    assert bad["error"]["type"] == "OutputError"
    assert bad["error"]["raw"] == "no idea"


def test_run_ray_job_writes_the_records_of_a_plain_run(
    ray_session: Any, server: BatchServer, tmp_path: Path
) -> None:
    from promptkit.integrations.ray import run_ray_job

    source = tmp_path / "in.txt"
    source.write_text("\n".join(SEARCHES) + "\n", encoding="utf-8")
    options = JobOptions(batch_size=3, concurrency=2)
    summary = run_ray_job(TASK, source, tmp_path / "ray.jsonl", Boom, options=options, shots=2)
    plain = tmp_path / "plain.jsonl"
    with pytest.raises(ValueError, match="broke"):  # in one process the exception is raised
        run_job(TASK, source, plain, Boom(), options=options, shots=2)
    got = [json.loads(line) for line in (tmp_path / "ray.jsonl").read_text().splitlines()]
    assert [r["index"] for r in got] == list(range(len(SEARCHES)))
    failed = [r for r in got if r["error"] is not None]
    assert [r["input"] for r in failed] == [s for s in SEARCHES if "~boom" in s]
    assert all(r["error"]["type"] == "ValueError" for r in failed)
    assert summary.failed == len(failed)
    assert summary.calls > 0


def test_run_ray_job_on_an_http_backend_resumes(
    ray_session: Any, server: BatchServer, tmp_path: Path
) -> None:
    from promptkit.integrations.ray import run_ray_job

    source = tmp_path / "in.txt"
    source.write_text("\n".join(f"red shirt {n}" for n in range(30)) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    backend = OpenAIBackend("fake", base_url=server.openai_url)
    run_ray_job(TASK, source, out, backend, options=JobOptions(2, 2), layout="chat")
    lines = out.read_text().splitlines()
    out.write_text("\n".join(lines[:11]) + "\n" + lines[11][:20], encoding="utf-8")  # torn
    again = run_ray_job(TASK, source, out, backend, options=JobOptions(2, 2, resume=True),
                        layout="chat")  # fmt: skip
    got = [json.loads(line) for line in out.read_text().splitlines()]
    first = [json.loads(line) for line in lines]
    assert [r["index"] for r in got] == list(range(30))
    assert got[:11] == first[:11]
    # Packed differently from index 11 on, so tokens are shared out differently.
    assert [r["output"] for r in got] == [r["output"] for r in first]
    assert again.resumed == 11
