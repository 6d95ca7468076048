"""``promptkit run``: a task on each input, one record per input; file jobs."""

from __future__ import annotations

import copy
import dataclasses
import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console

from promptkit.cli.app import (
    BackendOpt,
    BaseUrlOpt,
    BatchSizeOpt,
    DialectOpt,
    InputFileOpt,
    InputOpt,
    LayoutOpt,
    LogOpt,
    ModelOpt,
    ModeOpt,
    PoolOpt,
    ReplyFormatOpt,
    SeedOpt,
    SelectorOpt,
    ShotsOpt,
    TaskArg,
    TokenBudgetOpt,
    app,
    choice_option,
    input_path,
    number,
    open_backend,
    read_cli_inputs,
    warn_shots,
    with_pool,
)
from promptkit.compiler import CompileOptions
from promptkit.redaction import Redactor, client_secrets
from promptkit.registry import load_task
from promptkit.task import Task


@app.command("run")
def run_(
    ctx: typer.Context,
    task: TaskArg,
    input_: InputOpt = None,
    input_file: InputFileOpt = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            help="Write the records here (- or none: standard output).",
        ),
    ] = None,
    backend: BackendOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    mode: ModeOpt = None,
    dialect: DialectOpt = None,
    shots: ShotsOpt = None,
    layout: LayoutOpt = None,
    reply_format: ReplyFormatOpt = None,
    batch_size: BatchSizeOpt = None,
    selector: SelectorOpt = None,
    seed: SeedOpt = None,
    token_budget: TokenBudgetOpt = None,
    pool: PoolOpt = None,
    max_tokens: Annotated[
        int | None,
        typer.Option(metavar="N", parser=number(1), help="Output token budget (default 500)."),
    ] = None,
    reasks: Annotated[
        int, typer.Option(metavar="N", parser=number(0), help="Correction requests per input.")
    ] = 2,
    concurrency: Annotated[
        int, typer.Option(metavar="N", parser=number(1), help="Batches in flight at once.")
    ] = 1,
    rpm: Annotated[
        float | None,
        typer.Option(metavar="N", parser=number(1, float), help="Requests per minute, at most."),
    ] = None,
    tpm: Annotated[
        float | None,
        typer.Option(metavar="N", parser=number(1, float), help="Tokens per minute, at most."),
    ] = None,
    cache: Annotated[
        Path | None,
        typer.Option(metavar="PATH", help="Response cache (default ~/.cache/promptkit/)."),
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Bypass the cache.")] = False,
    resume: Annotated[bool, typer.Option(help="Finish the run --output checkpoints.")] = False,
    prices: Annotated[
        Path | None, typer.Option(metavar="PATH", help="JSON prices per million tokens by model.")
    ] = None,
    batch_api: Annotated[
        bool, typer.Option("--batch-api", help="Send a file job as provider batches: half price.")
    ] = False,
    batch_poll: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            parser=number(0.01, float),
            help="Seconds to the first poll of a batch (grows to 60).",
        ),
    ] = 10.0,
    engine: Annotated[
        Literal["local", "ray"],
        choice_option("engine", ("local", "ray"), "Run a file job here, or on Ray workers."),
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS", help="The Ray cluster for --engine ray (default: a local Ray)."
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            parser=number(0.001, float),
            help="Seconds one HTTP request may take (default 60).",
        ),
    ] = None,
    max_retries: Annotated[
        int | None,
        typer.Option(
            metavar="N", parser=number(0), help="Retries of a failed HTTP request (default 2)."
        ),
    ] = None,
    log: LogOpt = None,
) -> None:
    """Run a task on each input; write one JSON record per input, one per line.

    Records: index, input, output (or null), error (null or type, message,
    raw reply), attempts, usage. Exit 1 when any input failed. With
    --input-file and --output the run is a file job (docs/jobs.md): streamed,
    cached, concurrent, resumable; a .csv output has one column per field.
    --batch-api sends it as provider batches, --engine ray spreads it over
    Ray workers (docs/scale.md).
    """
    from promptkit.backends import GenerationParams, RetryPolicy
    from promptkit.execution import iter_results

    loaded = with_pool(load_task(task), pool)
    warn_shots(loaded, shots)
    compiling = CompileOptions(shots=shots, layout=layout, selector=selector, seed=seed,
                               token_budget=token_budget, reply_format=reply_format)  # fmt: skip
    retry = RetryPolicy()
    if timeout is not None:
        retry = dataclasses.replace(retry, timeout=timeout)
    if max_retries is not None:
        retry = dataclasses.replace(retry, max_retries=max_retries)
    output = None if output is not None and str(output) == "-" else output  # - is stdout
    named, input_file = input_file, ctx.with_resource(input_path(input_file))
    chosen = ctx.with_resource(
        open_backend(backend, model, base_url, log, mode=mode, dialect=dialect, retry=retry)
    )
    params = GenerationParams(max_tokens=max_tokens) if max_tokens else None
    if input_file is not None and output is not None and not input_:
        from promptkit.jobs.runner import JobOptions, default_cache_path

        options = JobOptions(batch_size or 1, concurrency, rpm, tpm, resume)
        cache_path = None if no_cache else cache or default_cache_path()
        if batch_api or engine == "ray":
            from promptkit.cli.batches import run_scaled_file

            task_ref = task if pool is None else None  # a --pool task travels pickled
            run_scaled_file(loaded, task_ref, input_file, output, chosen, options, cache_path,
                            prices,
                            batch_api=batch_api, poll=batch_poll, engine=engine,
                            ray_address=ray_address, params=params, reasks=reasks,
                            **compiling)  # fmt: skip
            return
        _run_file(loaded, input_file, output, chosen, options, cache_path, prices,
                  params=params, reasks=reasks, **compiling)  # fmt: skip
        return
    if resume or concurrency > 1 or rpm or tpm or batch_api or engine != "local":
        raise typer.BadParameter(
            "--resume, --concurrency, --rpm, --tpm, --batch-api and --engine need a file job"
        )
    if output is not None and output.suffix.lower() == ".csv":
        raise typer.BadParameter("--output .csv needs --input-file (a file job); use .jsonl")
    values = list(read_cli_inputs(loaded, input_ or [], input_file, named=named))
    results = iter_results(
        loaded,
        values,
        backend=chosen,
        params=params,
        reasks=reasks,
        batch_size=batch_size,
        **compiling,
    )
    failed = 0
    redactor = Redactor.of(client_secrets(chosen))
    with output.open("w", encoding="utf-8") if output else _stdout() as handle:
        for result in results:
            record = result.to_record()
            record["error"] = redactor.error(record["error"])
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            handle.flush()
            failed += not result.ok
    if failed:
        print(f"promptkit: {failed} of {len(values)} inputs failed", file=sys.stderr)
        raise typer.Exit(1)


def _run_file(
    task: Task,
    source: Path,
    output: Path,
    backend: Any,
    options: Any,
    cache_path: Path | None,
    prices: Path | None,
    **run_options: Any,
) -> None:
    """Run a file job with a progress bar on a terminal; print the summary; exit 1 on failures.

    A file problem is a usage error (exit 2); a backend failure and Ctrl-C (exit 130) keep
    the records written and say to resume.
    """
    from promptkit.errors import BackendError
    from promptkit.jobs.files import count_inputs
    from promptkit.jobs.progress import Reporter, load_prices, price_for
    from promptkit.jobs.runner import run_job

    console = Console(stderr=True)
    resume = f"the records finished are kept in {str(output)!r}: run again with --resume to finish"
    try:
        price = price_for(load_prices(prices), backend.name) if prices else None
        total = count_inputs(source) if console.is_terminal and source.is_file() else None
        with Reporter(console, total) as reporter:
            summary = run_job(task, source, output, backend, options=options,
                              cache_path=cache_path, price=price, reporter=reporter,
                              **run_options)  # fmt: skip
    except BackendError as error:
        again = copy.copy(error)
        again.args = (f"{error}; {resume}",)
        raise again from None
    except KeyboardInterrupt:
        print(f"promptkit: interrupted; {resume}", file=sys.stderr)
        raise typer.Exit(130) from None
    reporter.summary(summary)
    if summary.failed:
        print(f"promptkit: {summary.failed} of {summary.items} inputs failed; see {output}",
              file=sys.stderr)  # fmt: skip
        raise typer.Exit(1)


def _stdout() -> Any:
    import contextlib

    return contextlib.nullcontext(sys.stdout)
