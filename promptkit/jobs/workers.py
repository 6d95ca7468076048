"""The worker threads of a file run, which stop at once: start nothing new, wait for nothing.

A ``ThreadPoolExecutor`` is the wrong tool for a run that must stop on a
fatal error or Ctrl-C: idle workers go on taking queued batches, and its
``__exit__`` (and an exit hook) join every thread, so one call hanging on a
dead server holds the whole process. :class:`Workers` are daemon threads
sharing a queue and a stop event. The first error a batch raises stops them:
queued batches are cancelled unstarted, calls in flight are abandoned (their
threads end with the process; the backend wrapper refuses to send anything
more, :class:`~promptkit.jobs.packing.JobBackend`), and :meth:`Workers.result`
raises the error in the main thread at once, however long the abandoned
calls would have taken.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any, TypeVar

from promptkit.jobs.limits import JobStopped

T = TypeVar("T")

_SLICE = 0.25  # seconds the main thread waits before it looks for a pending Ctrl-C again
_NAME = "promptkit-job"


def abandoned() -> bool:
    """Whether a stopped run left worker threads in calls (a run that ends joins its own)."""
    return any(thread.name.startswith(_NAME) for thread in threading.enumerate())


class Workers:
    """``count`` daemon threads running submitted calls until stopped.

    Args:
        count: threads.
        stop: set when the run stops (by the first error, or :meth:`halt`); the backend
            wrapper watches it too.
    """

    def __init__(self, count: int, stop: threading.Event) -> None:
        self.stop = stop
        self.error: BaseException | None = None
        self._halted: Future[None] = Future()
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None]
        self._queue = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"{_NAME}-{n}", daemon=True)
            for n in range(count)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, call: Callable[[], T]) -> Future[T]:
        """Queue ``call``; return the future of its result."""
        future: Future[T] = Future()
        self._queue.put((future, call))
        return future

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            future, call = job
            if self.stop.is_set():
                future.cancel()
                continue
            if not future.set_running_or_notify_cancel():
                continue
            try:
                value = call()
            except BaseException as error:  # a thread's error must reach the main thread
                self.halt(error)
                future.set_exception(error)
            else:
                future.set_result(value)

    def halt(self, error: BaseException | None = None) -> None:
        """Stop: start nothing new; remember the first error (not a :class:`JobStopped`)."""
        with self._lock:
            if self.error is None and error is not None and not isinstance(error, JobStopped):
                self.error = error
            self.stop.set()
            if not self._halted.done():
                self._halted.set_result(None)

    def result(self, future: Future[T]) -> T:
        """Wait for ``future``; raise the error that stopped the run as soon as it stops.

        Raises:
            BaseException: the first error any call raised, unless ``future`` succeeded.
            JobStopped: the run was halted without an error while this waited.
        """
        either: list[Future[Any]] = [future, self._halted]
        # In slices: a Ctrl-C that the kernel hands to a worker thread is only raised
        # here when the main thread next runs Python code.
        while not wait(either, timeout=_SLICE, return_when=FIRST_COMPLETED).done:
            pass
        if future.done() and not future.cancelled() and future.exception() is None:
            return future.result()
        if self.error is not None:
            raise self.error
        if not future.done() or future.cancelled():
            raise JobStopped
        return future.result()

    def close(self) -> None:
        """End the threads: idle ones at once; after :meth:`halt`, busy ones are not waited for."""
        for _ in self._threads:
            self._queue.put(None)
        if not self.stop.is_set():
            for thread in self._threads:
                thread.join()
