"""Scaling a file job: one process, Ray workers, provider batches. Reported, never asserted.

Two parts, each on the loopback server of ``tests/jobs/batch_server.py``:

- ``engines``: apparel-search over N lines (default 400) on the openai
  backend against the server's chat API, which waits a fixed delay per
  request (default 0.1 s), so that concurrency, not CPU, is measured. The
  plain job runner at concurrency 1 and 2 against ``--engine ray`` with 1
  and 2 workers (each a fresh process: the Ray rows include starting a
  local Ray). Items/s, peak RSS of the driver process (Ray's workers are
  other processes, not counted), and Ray's overhead per row: (Ray's time
  minus the plain run's at the same concurrency) / N. Baseline: the plain
  run at concurrency 1.
- ``batch``: the batch API for 1,000 inputs at batch size 1 and 16: HTTP
  requests the job made (upload, create, polls, downloads, and normal calls)
  and bytes uploaded, against the normal path's requests. Baseline: batch size 1.

Run: ``python benchmarks/bench_scale.py [engines|batch] [--lines N] [--delay S]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "jobs"))

from batch_server import answer, batch_server  # noqa: E402

COLOURS = ["red", "blue", "plain", "navy"]


def searches(count: int) -> list[str]:
    return [f"{COLOURS[n % 4]} shirt {n}" for n in range(count)]


def _child(args: list[str]) -> None:
    """In a fresh process: run one job, print its seconds and peak RSS as JSON."""
    url, source, out, engine, concurrency = args
    from promptkit import load_task
    from promptkit.backends.openai import OpenAIBackend
    from promptkit.jobs.runner import JobOptions, run_job

    task = load_task("apparel-search")
    backend = OpenAIBackend("fake", base_url=url)
    options = JobOptions(batch_size=1, concurrency=int(concurrency))
    started = time.perf_counter()
    if engine == "ray":
        from promptkit.integrations.ray import run_ray_job

        begun = time.perf_counter()
        import ray

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        ray_start = time.perf_counter() - begun
        run_ray_job(task, Path(source), Path(out), backend, options=options, layout="chat")
        ray.shutdown()
    else:
        ray_start = 0.0
        run_job(task, Path(source), Path(out), backend, options=options, layout="chat")
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "ray_start": ray_start, "peak_mb": peak}))


def engines(lines: int, delay: float) -> None:
    env = {**os.environ, "OPENAI_API_KEY": "sk-bench-0123456789"}
    rows = []
    with batch_server() as server, tempfile.TemporaryDirectory() as folder:
        server.delay = delay
        source = Path(folder) / "in.txt"
        source.write_text("\n".join(searches(lines)) + "\n", encoding="utf-8")
        for engine, concurrency in (("plain", 1), ("plain", 2), ("ray", 1), ("ray", 2)):
            out = Path(folder) / f"{engine}-{concurrency}.jsonl"
            child = [sys.executable, __file__, "_child", server.openai_url, str(source),
                     str(out), engine, str(concurrency)]  # fmt: skip
            done = subprocess.run(child, env=env, capture_output=True, text=True, check=True)
            rows.append((engine, concurrency, json.loads(done.stdout.splitlines()[-1])))
    base = rows[0][2]["seconds"]
    plain = {c: r["seconds"] for e, c, r in rows if e == "plain"}
    print(f"apparel-search, {lines} lines, batch size 1, {delay:g} s per request (loopback)")
    print(
        "| engine | workers | items/s | peak RSS (MB) | vs plain x1 | Ray start (s) | overhead per row (ms) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for engine, concurrency, result in rows:
        seconds = result["seconds"]
        work = seconds - result["ray_start"]
        overhead = (work - plain[concurrency]) / lines * 1000 if engine == "ray" else 0.0
        print(f"| {engine} | {concurrency} | {lines / seconds:.1f} | {result['peak_mb']:.0f} | "
              f"{base / seconds:.2f}x | {result['ray_start']:.1f} | "
              f"{overhead:.2f} |")  # fmt: skip


def batch(lines: int) -> None:
    from promptkit import load_task
    from promptkit.backends.openai import OpenAIBackend
    from promptkit.jobs.batch_api import BatchOptions, run_batch_job
    from promptkit.jobs.runner import JobOptions, run_job

    os.environ.setdefault("OPENAI_API_KEY", "sk-bench-0123456789")
    task = load_task("apparel-search")
    print(f"apparel-search, {lines} inputs, openai batch API vs normal calls (loopback)")
    print("| batch size | path | HTTP requests | bytes uploaded | requests in batches | "
          "prompt tokens / item | completion tokens / item |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for size in (1, 16):
        for path in ("normal", "batch API"):
            with batch_server() as server, tempfile.TemporaryDirectory() as folder:
                source = Path(folder) / "in.txt"
                source.write_text("\n".join(searches(lines)) + "\n", encoding="utf-8")
                out = Path(folder) / "out.jsonl"
                backend = OpenAIBackend("fake", base_url=server.openai_url)
                options = JobOptions(batch_size=size)
                if path == "normal":
                    run_job(task, source, out, backend, options=options, layout="chat")
                    uploaded = sum(len(json.dumps(body)) for body in server.normal)
                    tokens = _tokens_per_item(server.normal, lines)
                else:  # the same prompts as the normal run above, so the same tokens
                    run_batch_job(task, source, out, backend, options=options, layout="chat",
                                  batch=BatchOptions(poll=0.01, max_poll=0.01))  # fmt: skip
                    uploaded = server.uploaded
                print(f"| {size} | {path} | {server.http_requests} | {uploaded:,} | "
                      f"{server.requests_seen} | {tokens[0]:.1f} | {tokens[1]:.1f} |")  # fmt: skip


def _tokens_per_item(bodies: list[dict[str, object]], items: int) -> tuple[float, float]:
    """Prompt and completion tokens per item, estimated as promptkit does (a quarter of
    the characters): the prompts sent, and the replies the server gave them."""
    from promptkit.selection import estimate_tokens

    prompt = completion = 0
    for body in bodies:
        messages = body["messages"]
        assert isinstance(messages, list)
        prompt += estimate_tokens("".join(m["content"] for m in messages))
        users = [m["content"] for m in messages if m["role"] == "user"]
        completion += estimate_tokens(answer(users[-1]))
    return prompt / items, completion / items


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        _child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", nargs="?", choices=["engines", "batch"])
    parser.add_argument("--lines", type=int, default=None)
    parser.add_argument("--delay", type=float, default=0.1)
    args = parser.parse_args()
    if args.part in (None, "engines"):
        engines(args.lines or 400, args.delay)
    if args.part in (None, "batch"):
        batch(args.lines or 1000)


if __name__ == "__main__":
    main()
