"""Ray Data: a typed task over a Dataset, and file jobs spread over Ray workers.

::

    Dataset --map_batches(TaskMapper, concurrency=N)--> input columns + output fields + error
    input file --run_items (in order, resumable)--> solve --> one actor per worker --> records

:func:`map_task` runs a task over every row of a Ray Dataset with
``Dataset.map_batches`` and a callable class, so that each actor builds its
backend once (a local model is loaded once per worker) and keeps it. Rows
of one Ray batch are packed into prompts of ``batch_size`` inputs and go
through the run layer as in any run (parse, repair, re-ask). Every row
comes out once: its columns, the output's fields as columns, and ``error``
(``type``, ``message``, ``raw``) where it failed, including a row that is
not a valid input and a row on which the backend raised.

:func:`run_ray_job` is the file job of ``promptkit run --engine ray``: the
same reader, in-order writer, cache and resume as :func:`promptkit.jobs.runner.run_job`,
with each batch of inputs solved by one of ``concurrency`` Ray actors.
Without an address a local Ray is started on this machine; with one
(``ray://head:10001``, or ``auto`` inside a cluster) the actors run on the
cluster and the driver only reads, schedules and writes.

:func:`processor_hooks` (in :mod:`promptkit.integrations.ray_llm`) gives the
``preprocess`` and ``postprocess`` that ``ray.data.llm.build_processor`` takes.
"""

from __future__ import annotations

import dataclasses
import queue
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from promptkit.backends.base import Backend
from promptkit.errors import BackendError, ExtraNotInstalled, validation_problems
from promptkit.integrations.ray_llm import output_columns, processor_hooks
from promptkit.jobs.packing import Outcome, Solve, job_backend, make_solver
from promptkit.jobs.progress import JobSummary, Price, Reporter, cost
from promptkit.jobs.runner import JobOptions, run_file
from promptkit.registry import load_task
from promptkit.task import Task

if TYPE_CHECKING:
    import pandas
    import ray.data

__all__ = ["TaskMapper", "map_task", "processor_hooks", "run_ray_job"]

BackendSource = Backend | Callable[[], Backend]
"""A backend, or a function each worker calls once to build its own."""


def _ray() -> Any:
    try:
        import ray
    except ImportError as error:
        raise ExtraNotInstalled("the Ray integration needs Ray Data", "ray") from error
    return ray


def _built(backend: BackendSource) -> Backend:
    """The backend itself, or what a factory (a function, a backend class) builds."""
    if isinstance(backend, Backend) and not isinstance(backend, type):
        return backend
    built: Backend = backend()
    return built


def _failure(error: BaseException) -> dict[str, Any]:
    return {"type": type(error).__name__, "message": str(error), "raw": getattr(error, "raw", None)}


def solve_each(solve: Solve, values: Sequence[BaseModel]) -> list[Outcome]:
    """Solve ``values``; if that raises, solve each alone, so only the failing one fails.

    A :class:`BackendError` is raised (the backend failed for good, as in any run);
    any other exception becomes the failure of the input it was raised on.
    """
    try:
        return list(solve(values))
    except BackendError:
        raise
    except Exception as error:
        if len(values) == 1:
            return [Outcome(None, _failure(error), 1)]
    return [outcome for value in values for outcome in solve_each(solve, [value])]


# -- a Dataset ------------------------------------------------------------------------


class TaskMapper:
    """The callable class :func:`map_task` gives ``map_batches``: one backend per actor.

    Args:
        task: the task, or its reference (``apparel-search``, ``module:attr``, ``file.py:attr``).
        backend: a backend, or a function that builds one (called once per actor).
        batch_size: inputs packed into one prompt (the task's when unset).
        cache_path: a response cache every actor shares (a path all workers can reach).
        **options: passed on to :func:`promptkit.jobs.packing.make_solver`
            (``params``, ``shots``, ``layout``, ``reasks``...).
    """

    def __init__(
        self,
        task: Task | str,
        backend: BackendSource,
        batch_size: int | None = None,
        cache_path: Path | None = None,
        **options: Any,
    ) -> None:
        self.task = load_task(task) if isinstance(task, str) else task
        self.batch_size = batch_size or self.task.strategy.batch_size
        self._context = job_backend(_built(backend), cache_path=cache_path)
        self.backend = self._context.__enter__()
        self.solve = make_solver(self.task, self.backend, **options)
        self._inputs = list(self.task.input_model_class.model_fields)
        self._outputs = output_columns(self.task)

    def __call__(self, batch: pandas.DataFrame) -> pandas.DataFrame:
        """Return the batch with the output fields and ``error`` as columns, row for row."""
        rows = batch.to_dict("records")
        outcomes: list[Outcome | None] = [None] * len(rows)
        valid: list[tuple[int, BaseModel]] = []
        for number, row in enumerate(rows):
            try:
                shown = {name: row[name] for name in self._inputs if name in row}
                valid.append((number, self.task.make_input(shown)))
            except ValidationError as error:
                problem = f"invalid input: {'; '.join(validation_problems(error))}"
                outcomes[number] = Outcome(None, {"type": "InputError", "message": problem,
                                                  "raw": None}, 0)  # fmt: skip
        for start in range(0, len(valid), self.batch_size):
            chunk = valid[start : start + self.batch_size]
            try:
                solved = solve_each(self.solve, [value for _, value in chunk])
            except BackendError as error:  # a Dataset has no resume: the rows fail, not the job
                solved = [Outcome(None, _failure(error), 1) for _ in chunk]
            for (number, _), outcome in zip(chunk, solved, strict=True):
                outcomes[number] = outcome
        out = batch.copy()
        for name, column in self._outputs.items():
            out[column] = [_field(outcome, name) for outcome in outcomes]
        out["error"] = [outcome.error if outcome else None for outcome in outcomes]
        return out

    def __del__(self) -> None:
        context = getattr(self, "_context", None)
        if context is not None:
            context.__exit__(None, None, None)


def _field(outcome: Outcome | None, name: str) -> Any:
    if outcome is None or outcome.output is None:
        return None
    return outcome.output.get(name)


def map_task(
    dataset: ray.data.Dataset,
    task: Task | str,
    *,
    backend: BackendSource,
    batch_size: int | None = None,
    rows_per_batch: int = 64,
    concurrency: int = 1,
    num_cpus: float = 1,
    cache_path: Path | None = None,
    **strategy: Any,
) -> ray.data.Dataset:
    """Run ``task`` over every row of ``dataset``: its columns, the output fields, ``error``.

    Args:
        dataset: rows holding the task's input fields as columns (other columns are kept).
        task: the task, or its reference.
        backend: a backend, or a function each actor calls once to build its own
            (``LocalBackend`` loads its model once per actor).
        batch_size: inputs packed into one prompt, within each Ray batch.
        rows_per_batch: rows in each batch Ray hands an actor.
        concurrency: actors (each with its own backend).
        num_cpus: CPUs each actor reserves (0.25 for an HTTP backend, 1 or more for a local model).
        cache_path: a response cache shared by the actors.
        **strategy: ``params``, ``shots``, ``layout``, ``reasks``, ``selector``... as in
            :func:`promptkit.run_many`.
    """
    return dataset.map_batches(
        TaskMapper,
        fn_constructor_kwargs={
            "task": task,
            "backend": backend,
            "batch_size": batch_size,
            "cache_path": cache_path,
            **strategy,
        },
        batch_size=rows_per_batch,
        batch_format="pandas",
        compute=_ray().data.ActorPoolStrategy(size=concurrency),
        num_cpus=num_cpus,
    )


# -- a file job -----------------------------------------------------------------------


class _Solver:
    """A Ray actor's state: the task, a backend with cache and limits, the solver."""

    def __init__(
        self,
        task: Task | str,
        backend: BackendSource,
        cache_path: Path | None,
        limits: tuple[float | None, float | None],
        options: Mapping[str, Any],
    ) -> None:
        self.task = load_task(task) if isinstance(task, str) else task
        self._context = job_backend(
            _built(backend), cache_path=cache_path, rpm=limits[0], tpm=limits[1]
        )
        self.backend = self._context.__enter__()
        self._solve = make_solver(self.task, self.backend, **options)

    def solve(self, rows: list[Any]) -> list[Outcome]:
        return solve_each(self._solve, [self.task.make_input(row) for row in rows])

    def stats(self) -> tuple[int, int, int, int]:
        job = self.backend
        return job.calls, job.cache_hits, job.prompt_tokens, job.completion_tokens


class _Workers:
    """A pool of solver actors; each batch takes an idle one, and a dead one is replaced."""

    def __init__(self, ray: Any, count: int, num_cpus: float, arguments: tuple[Any, ...]) -> None:
        self._ray = ray
        actor_class = ray.remote(num_cpus=num_cpus)(_Solver)
        self._make: Callable[[], Any] = lambda: actor_class.remote(*arguments)
        self._idle: queue.Queue[Any] = queue.Queue()
        self.actors = [self._make() for _ in range(count)]
        for actor in self.actors:
            self._idle.put(actor)

    def solve(self, values: Sequence[BaseModel]) -> Sequence[Outcome]:
        rows = [value.model_dump(mode="json") for value in values]
        actor = self._idle.get()
        try:
            return list(self._ray.get(actor.solve.remote(rows)))
        except self._ray.exceptions.RayTaskError as error:
            if isinstance(error.cause, BackendError):
                raise error.cause from None
            raise  # solve_each turned every other failure into outcomes already
        except self._ray.exceptions.RayActorError as error:
            self.actors.remove(actor)
            actor = self._make()
            self.actors.append(actor)
            if len(values) > 1:
                return [one for value in values for one in self.solve([value])]
            return [Outcome(None, _failure(error), 1)]
        finally:
            self._idle.put(actor)

    def close(self) -> None:
        """End the actors, giving their CPUs back to Ray."""
        for actor in self.actors:
            self._ray.kill(actor)

    def stats(self) -> tuple[int, int, int, int]:
        counts = self._ray.get([actor.stats.remote() for actor in self.actors])
        calls, hits, prompt, completion = (sum(column) for column in zip(*counts, strict=True))
        return calls, hits, prompt, completion


def run_ray_job(
    task: Task,
    input_path: Path,
    output_path: Path,
    backend: BackendSource,
    *,
    task_ref: str | None = None,
    options: JobOptions | None = None,
    cache_path: Path | None = None,
    price: Price | None = None,
    reporter: Reporter | None = None,
    address: str | None = None,
    num_cpus: float = 1,
    **run_options: Any,
) -> JobSummary:
    """Run a file job with its batches solved on ``options.concurrency`` Ray actors.

    The driver reads the inputs, schedules and writes in input order (the output is
    the checkpoint, ``resume`` as in any file job); each actor builds its own
    backend and opens the response cache at ``cache_path`` (shared by actors on one
    machine; give a path every node reaches on a cluster). Rate limits are shared
    out: each actor gets ``rpm / concurrency`` and ``tpm / concurrency``.

    Args:
        task: the task (the driver reads and writes with it).
        task_ref: how workers find the task (``apparel-search``, ``module:attr``,
            ``file.py:attr``); the task object is sent to them when unset.
        address: a Ray cluster (``ray://head:10001``, ``auto``); a local Ray when unset.
        num_cpus: CPUs each actor reserves.
        Others: as :func:`promptkit.jobs.runner.run_job`.

    Raises:
        JobFileError: an input or output file cannot be used.
        BackendError: the backend failed for good; finished records stay written.
    """
    ray = _ray()
    options = options or JobOptions()
    if not ray.is_initialized():
        if address is None:
            ray.init(num_cpus=max(2, options.concurrency), include_dashboard=False,
                     log_to_driver=False)  # fmt: skip
        else:
            ray.init(address=address, log_to_driver=False)
    share = options.concurrency
    limits = (_share(options.rpm, share), _share(options.tpm, share))
    arguments = (_reference(task_ref) or task, backend, cache_path, limits, run_options)
    workers = _Workers(ray, options.concurrency, num_cpus, arguments)
    try:
        summary = run_file(task, input_path, output_path, workers.solve, options=options,
                           reporter=reporter)  # fmt: skip
        calls, hits, prompt_tokens, completion_tokens = workers.stats()
    finally:
        workers.close()
    spent = cost(price, prompt_tokens, completion_tokens) if price is not None else None
    return dataclasses.replace(summary, calls=calls, cached=hits, cost=spent)


def _share(limit: float | None, parts: int) -> float | None:
    return None if limit is None else limit / parts


def _reference(ref: str | None) -> str | None:
    """A task reference a worker elsewhere can load: a task file's path made absolute."""
    if ref is None or ".py:" not in ref:
        return ref
    path, _, attr = ref.rpartition(":")
    return f"{Path(path).resolve()}:{attr}"
