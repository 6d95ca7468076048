"""Run a task: compile, call the backend, parse, re-ask on failure; a typed result per input.

::

    prompt --backend--> reply --parse--> output                      (most calls end here)
                          |
                          +-- not valid --> reply + precise errors --backend--> ...   (re-ask)
                          +-- cut off by the token limit --> more tokens, or a smaller batch

A re-ask sends the model its own reply and every problem found in it
(:func:`promptkit.output.reask.reask_messages`), at most ``reasks`` times. In a
batch, only the items that failed are asked again. A reply cut off by the
token limit is never re-asked as it was: a single input is sent again with
a doubled budget (up to ``max_tokens_cap``), and a batch keeps its complete
items and sends the rest again in halves.

The orchestration is written once, as generators that yield each request
and receive its completion, and driven by a sync or an async loop; this is
the only module of the run path that does I/O, through the backend it is given.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

from pydantic import BaseModel

from promptkit.backends.base import Backend, Completion, GenerationParams, Usage
from promptkit.compiler import CompileOptions, check_options, compile_batch, compile_prompt
from promptkit.errors import BackendError, OutputError
from promptkit.output.actions import Action, Report
from promptkit.output.echo import copied_example
from promptkit.output.parse import Parsed, parse_batch, parse_with_report
from promptkit.output.reask import batch_correction, reask_messages, reask_prompt
from promptkit.prompt import Prompt
from promptkit.result import Attempt, Reason, Result
from promptkit.task import OutT, Task

if TYPE_CHECKING:
    import asyncio

T = TypeVar("T")

Request = tuple[Prompt, GenerationParams]
Flow = Generator[Request, Completion, T]


@dataclass(frozen=True, slots=True)
class _Plan:
    """Everything a run decides once: how to compile, what to send, how hard to try."""

    task: Task
    params: GenerationParams
    reasks: int
    max_tokens_cap: int
    compile_options: CompileOptions

    def single(self, item: BaseModel) -> Prompt:
        return compile_prompt(self.task, item, **self.compile_options)

    def batch(self, items: Sequence[BaseModel]) -> Prompt:
        return compile_batch(self.task, items, **self.compile_options)

    def more_tokens(self, params: GenerationParams) -> GenerationParams | None:
        if params.max_tokens >= self.max_tokens_cap:
            return None
        return params.replace(max_tokens=min(self.max_tokens_cap, params.max_tokens * 2))


# -- public API ------------------------------------------------------------------


def run(
    task: Task[Any, OutT],
    value: Any,
    *,
    backend: Backend | None = None,
    params: GenerationParams | None = None,
    reasks: int = 2,
    max_tokens_cap: int | None = None,
    **options: Unpack[CompileOptions],
) -> Result[OutT]:
    """Run one input and return its :class:`Result` (``result.value`` is the typed output).

    Args:
        task: the task.
        value: the input: a string for a one-field input, a mapping, or an input model.
        backend: where calls go; the embedded local model when unset.
        params, reasks, max_tokens_cap: see :func:`run_many`.
        **options: compile options (:class:`promptkit.CompileOptions`).
    """
    return run_many(task, [value], backend=backend, params=params, reasks=reasks,
                    batch_size=1, max_tokens_cap=max_tokens_cap, **options)[0]  # fmt: skip


def run_many(
    task: Task[Any, OutT],
    values: Iterable[Any],
    *,
    backend: Backend | None = None,
    params: GenerationParams | None = None,
    reasks: int = 2,
    batch_size: int | None = None,
    max_tokens_cap: int | None = None,
    **options: Unpack[CompileOptions],
) -> list[Result[OutT]]:
    """Run many inputs, in order, one result each; failures are results too, never raised.

    Args:
        task: the task.
        values: the inputs.
        backend: where calls go; the embedded local model when unset.
        params: generation settings; the task's ``generation`` if it has one, else the defaults.
        reasks: correction requests allowed per input after the first reply.
        batch_size: inputs per call; the task's strategy when unset.
        max_tokens_cap: the largest token budget a cut-off reply may be retried with
            (four times the starting budget when unset).
        **options: compile options (:class:`promptkit.CompileOptions`: ``shots``,
            ``layout``, ``selector``...); the task's strategy for each one left out.
            The layout defaults to the backend's (a base model needs ``completion``),
            else the task's.
    """
    return list(
        iter_results(
            task,
            values,
            backend=backend,
            params=params,
            reasks=reasks,
            batch_size=batch_size,
            max_tokens_cap=max_tokens_cap,
            **options,
        )
    )


def iter_results(
    task: Task[Any, OutT],
    values: Iterable[Any],
    *,
    backend: Backend | None = None,
    params: GenerationParams | None = None,
    reasks: int = 2,
    batch_size: int | None = None,
    max_tokens_cap: int | None = None,
    **options: Unpack[CompileOptions],
) -> Iterator[Result[OutT]]:
    """Like :func:`run_many`, yielding each batch's results as soon as they are known.

    A backend error that no retry can fix (a bad key, an unknown model) ends
    the calls: the inputs after it get that error without being sent.
    """
    backend = backend if backend is not None else default_backend()
    plan = _plan(task, backend, params, reasks, max_tokens_cap, options)
    size = batch_size or task.strategy.batch_size
    fatal: BackendError | None = None
    for start, items in _chunks(task, values, size):
        if fatal is not None:
            yield from (_failed(start + n, item, fatal, ()) for n, item in enumerate(items))
            continue
        done = _drive(_solve(plan, items, start), backend)
        fatal = _fatal(done)
        yield from done


async def arun(
    task: Task[Any, OutT],
    value: Any,
    *,
    backend: Backend | None = None,
    params: GenerationParams | None = None,
    reasks: int = 2,
    max_tokens_cap: int | None = None,
    **options: Unpack[CompileOptions],
) -> Result[OutT]:
    """Async form of :func:`run`."""
    results = await arun_many(task, [value], backend=backend, params=params, reasks=reasks,
                              batch_size=1, max_tokens_cap=max_tokens_cap, **options)  # fmt: skip
    return results[0]


async def arun_many(
    task: Task[Any, OutT],
    values: Iterable[Any],
    *,
    backend: Backend | None = None,
    params: GenerationParams | None = None,
    reasks: int = 2,
    batch_size: int | None = None,
    max_tokens_cap: int | None = None,
    concurrency: int = 4,
    **options: Unpack[CompileOptions],
) -> list[Result[OutT]]:
    """Async form of :func:`run_many`, with up to ``concurrency`` calls in flight."""
    import asyncio  # here, not at module top: asyncio brings concurrent.futures and logging

    if concurrency < 1:
        raise ValueError(f"concurrency must be 1 or more, not {concurrency}")
    backend = backend if backend is not None else default_backend()
    plan = _plan(task, backend, params, reasks, max_tokens_cap, options)
    size = batch_size or task.strategy.batch_size
    gate = asyncio.Semaphore(concurrency)

    async def one(start: int, items: list[BaseModel]) -> list[Result[OutT]]:
        return await _adrive(_solve(plan, items, start), backend, gate)

    chunks = list(_chunks(task, values, size))
    done = await asyncio.gather(*(one(start, items) for start, items in chunks))
    return [result for group in done for result in group]


def default_backend() -> Backend:
    """Return the embedded local backend (loaded on its first call)."""
    from promptkit.backends.local import LocalBackend

    return LocalBackend()


# -- the flows -------------------------------------------------------------------


def _solve(plan: _Plan, items: list[BaseModel], start: int) -> Flow[list[Result[Any]]]:
    if len(items) == 1:
        return (yield from _solve_one(plan, items[0], start, plan.single(items[0])))
    return (yield from _solve_batch(plan, items, start, plan.batch(items), "first"))


def _call(request: Request) -> Flow[Completion | BackendError]:
    try:
        return (yield request)
    except BackendError as error:
        return error


def _solve_one(
    plan: _Plan, item: BaseModel, index: int, prompt: Prompt, reason: Reason = "first"
) -> Flow[list[Result[Any]]]:
    """Ask for one input until it parses, the re-asks run out, or the budget cannot grow."""
    params, sent, reasks_left = plan.params, prompt, plan.reasks
    attempts: list[Attempt] = []
    usage = Usage()
    while True:
        reply = yield from _call((sent, params))
        if isinstance(reply, BackendError):
            attempts.append(Attempt(reason, sent, params, None, reply))
            return [_failed(index, item, reply, attempts, usage)]
        usage += reply.usage
        error = _parse_one(plan.task, reply, item, prompt)
        if isinstance(error, Parsed):
            attempts.append(Attempt(reason, sent, params, reply))
            return [Result(index, item, error.value, None, error.report, tuple(attempts), usage)]
        attempts.append(Attempt(reason, sent, params, reply, error))
        if reply.truncated or error.truncated:
            bigger = plan.more_tokens(params)
            if bigger is None:
                return [_failed(index, item, _cut_off(error, params), attempts, usage)]
            params, sent, reason = bigger, prompt, "more tokens"
            continue
        if reasks_left == 0:
            return [_failed(index, item, error, attempts, usage)]
        reasks_left -= 1
        if prompt.reply_format == "table":
            correction = batch_correction([error], [0], prompt)
        else:
            correction = reask_messages(error)
        sent = reask_prompt(prompt, reply.text, correction, plan.task)
        reason = "reask"


def _solve_batch(
    plan: _Plan, items: list[BaseModel], start: int, prompt: Prompt, reason: Reason
) -> Flow[list[Result[Any]]]:
    """Ask for a batch; then re-ask only its failing items, and split it if it was cut off."""
    count = len(items)
    attempts: list[list[Attempt]] = [[] for _ in items]
    usage = [Usage() for _ in items]
    outcomes: list[Parsed | OutputError | BackendError | None] = [None] * count
    params, sent, reasks_left, pending = plan.params, prompt, plan.reasks, list(range(count))
    while pending:
        reply = yield from _call((sent, params))
        if isinstance(reply, BackendError):
            for n in pending:
                attempts[n].append(Attempt(reason, sent, params, None, reply))
                outcomes[n] = reply
            break
        parsed = parse_batch(reply.text, plan.task, items, ids=prompt.item_ids,
                             reply_format=prompt.reply_format, cut=reply.truncated)  # fmt: skip
        for n, share in zip(pending, _shares(reply.usage, len(pending)), strict=True):
            failure = parsed[n]
            error = failure if isinstance(failure, OutputError) else None
            attempts[n].append(Attempt(reason, sent, params, reply, error))
            usage[n] += share
            outcomes[n] = parsed[n]
        failing = [n for n in pending if isinstance(outcomes[n], OutputError)]
        cut = reply.truncated or any(_truncated(outcomes[n]) for n in failing)
        if cut and len(failing) > 1:
            return (yield from _split(plan, items, start, outcomes, attempts, usage, failing))
        if cut:
            bigger = plan.more_tokens(params)
            if bigger is None:
                break
            params, reason = bigger, "more tokens"
        elif reasks_left == 0:
            break
        else:
            reasks_left, reason = reasks_left - 1, "reask"
        pending = failing
        correction = batch_correction(outcomes, failing, prompt)
        sent = reask_prompt(prompt, reply.text, correction, plan.task)
    results = [
        _result(start + n, item, outcomes[n], attempts[n], usage[n], params)
        for n, item in enumerate(items)
    ]
    for n, item in enumerate(items):
        outcome = outcomes[n]
        copied = None
        if isinstance(outcome, Parsed):
            copied = copied_example(outcome.value, item, prompt.example_outputs)
        if copied is None:
            continue
        # The model answered the item with an example's answer that its input does not
        # support: ask for it alone, where there is no batch of examples to copy from.
        alone = yield from _solve_one(plan, item, start + n, plan.single(item), "copy")
        message = (
            f"the batch reply gave item {prompt.item_ids[n]} the answer of example "
            f"{copied + 1}, which its input does not support; asked again alone"
        )
        results[n] = _flagged(results[n], alone[0], Action("warning", (), message))
    return results


def _flagged(before: Result[Any], alone: Result[Any], warning: Action) -> Result[Any]:
    """The result of an item asked again alone, its batch attempts and the warning kept."""
    actions = (warning, *(alone.report.actions if alone.report is not None else ()))
    report = Report(actions, alone.report.truncated) if alone.report is not None else None
    return dataclasses.replace(
        alone,
        report=report,
        attempts=before.attempts + alone.attempts,
        usage=before.usage + alone.usage,
    )


def _split(
    plan: _Plan,
    items: list[BaseModel],
    start: int,
    outcomes: list[Parsed | OutputError | BackendError | None],
    attempts: list[list[Attempt]],
    usage: list[Usage],
    failing: list[int],
) -> Flow[list[Result[Any]]]:
    """Keep a cut-off batch's complete items and send the others again in two halves."""
    results = [
        _result(start + n, item, outcomes[n], attempts[n], usage[n], plan.params)
        for n, item in enumerate(items)
    ]
    half = (len(failing) + 1) // 2
    for part in (failing[:half], failing[half:]):
        subset = [items[n] for n in part]
        if len(subset) == 1:
            again = yield from _solve_one(plan, subset[0], 0, plan.single(subset[0]), "split")
        else:
            again = yield from _solve_batch(plan, subset, 0, plan.batch(subset), "split")
        for n, result in zip(part, again, strict=True):
            before = results[n]
            results[n] = dataclasses.replace(
                result,
                index=start + n,
                attempts=before.attempts + result.attempts,
                usage=before.usage + result.usage,
            )
    return results


# -- helpers -----------------------------------------------------------------------


def _plan(
    task: Task[Any, Any],
    backend: Backend,
    params: GenerationParams | None,
    reasks: int,
    max_tokens_cap: int | None,
    options: CompileOptions,
) -> _Plan:
    check_options(dict(options))
    if reasks < 0:
        raise ValueError(f"reasks must be 0 or more, not {reasks}")
    chosen = params or task.generation
    cap = max_tokens_cap or 4 * chosen.max_tokens
    compile_options = CompileOptions(**options)
    compile_options["layout"] = options.get("layout") or backend.layout
    return _Plan(task, chosen, reasks, max(cap, chosen.max_tokens), compile_options)


def _chunks(task: Task, values: Iterable[Any], size: int) -> Iterable[tuple[int, list[BaseModel]]]:
    if size < 1:
        raise ValueError(f"batch_size must be 1 or more, not {size}")
    chunk: list[BaseModel] = []
    start = 0
    for index, value in enumerate(values):
        if not chunk:
            start = index
        chunk.append(task.make_input(value))
        if len(chunk) == size:
            yield start, chunk
            chunk = []
    if chunk:
        yield start, chunk


def _parse_one(
    task: Task, reply: Completion, item: BaseModel, prompt: Prompt
) -> Parsed | OutputError:
    if prompt.reply_format == "table":  # a batch of one
        ids, cut = prompt.item_ids, reply.truncated
        return parse_batch(reply.text, task, [item], ids=ids, reply_format="table", cut=cut)[0]
    try:
        parsed = parse_with_report(reply.text, task, source=item)
    except OutputError as error:
        return error
    if parsed.report.truncated and reply.truncated:
        # Fields lost to the cut would read as "not named": not an answer.
        return OutputError(
            "the reply was cut off by the token limit; fields it lost would be wrong as nulls",
            raw=reply.text,
            truncated=True,
        )
    return parsed


def _cut_off(error: OutputError, params: GenerationParams) -> OutputError:
    return OutputError(
        f"the reply was cut off at the token limit ({params.max_tokens} tokens) and the limit "
        "may not grow further; raise max_tokens_cap or shorten the prompt",
        raw=error.raw,
        errors=error.errors,
        truncated=True,
    )


def _truncated(outcome: object) -> bool:
    return isinstance(outcome, OutputError) and outcome.truncated


def _shares(usage: Usage, count: int) -> list[Usage]:
    """Split one call's usage evenly among the items it served (remainders to the first)."""

    def split(total: int) -> list[int]:
        base, extra = divmod(total, count)
        return [base + (1 if n < extra else 0) for n in range(count)]

    columns = zip(
        split(usage.prompt_tokens),
        split(usage.completion_tokens),
        split(usage.cached_tokens),
        strict=True,
    )
    return [Usage(prompt, completion, cached, 1) for prompt, completion, cached in columns]


def _result(
    index: int,
    item: BaseModel,
    outcome: Parsed | OutputError | BackendError | None,
    attempts: list[Attempt],
    usage: Usage,
    params: GenerationParams,
) -> Result[Any]:
    if isinstance(outcome, Parsed):
        return Result(index, item, outcome.value, None, outcome.report, tuple(attempts), usage)
    if outcome is None:
        outcome = OutputError("no reply was parsed for this item", raw="")
    elif isinstance(outcome, OutputError) and outcome.truncated:
        outcome = _cut_off(outcome, params)
    return _failed(index, item, outcome, attempts, usage)


def _failed(
    index: int,
    item: BaseModel,
    error: OutputError | BackendError,
    attempts: Sequence[Attempt],
    usage: Usage | None = None,
) -> Result[Any]:
    return Result(index, item, None, error, None, tuple(attempts), usage or Usage())


def _fatal(results: list[Result[Any]]) -> BackendError | None:
    """A backend error no retry can fix (a bad key, an unknown model) ends the run."""
    for result in results:
        if isinstance(result.error, BackendError) and not result.error.retryable:
            return result.error
    return None


# -- drivers -----------------------------------------------------------------------


def _drive(flow: Flow[T], backend: Backend) -> T:
    try:
        request = next(flow)
        while True:
            try:
                reply: Completion | BackendError = backend.complete(*request)
            except BackendError as error:
                reply = error
            request = flow.throw(reply) if isinstance(reply, BackendError) else flow.send(reply)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def _adrive(flow: Flow[T], backend: Backend, gate: asyncio.Semaphore) -> T:
    try:
        request = next(flow)
        while True:
            try:
                async with gate:
                    reply: Completion | BackendError = await backend.acomplete(*request)
            except BackendError as error:
                reply = error
            request = flow.throw(reply) if isinstance(reply, BackendError) else flow.send(reply)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
