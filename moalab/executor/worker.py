"""A dedicated worker thread that runs sync functions for trio tasks.

Each call is queued to the thread; its outcome goes back through the caller's
trio run's :class:`~moalab.executor.future.Outbox`, which costs about half the
latency of :func:`trio.to_thread.run_sync` (no thread pool hand-off, no extra
trio task). Calls run one at a time in the order they were submitted.
"""

import queue
import threading
from collections.abc import Callable
from typing import Any

import outcome
import trio

from .errors import ExecutorNotRunning
from .future import Future, Outboxes

__all__ = ("WorkerThread", "Job")

_STOP = object()


class Job(Future):
    """A call queued to a :class:`WorkerThread`, and the future of its outcome.

    Its outcome goes to ``deliver`` (called in the submitting trio thread), or
    by default to the job itself: ``await job.wait()``. Abandoning it (cancelling the
    wait) before the call started skips the call; once running it finishes and
    its outcome is dropped. :attr:`finished` turns True (in the worker thread) once
    the call has returned or been skipped.
    """

    __slots__ = ("fn", "args", "kwargs", "token", "deliver", "abandoned", "finished")

    def __init__(self, fn: Callable[..., Any], args: tuple, kwargs: dict,
                 deliver: Callable[[outcome.Outcome], None] | None = None) -> None:
        super().__init__()
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.token = trio.lowlevel.current_trio_token()
        self.deliver = deliver
        self.abandoned = self.finished = False

    def _run(self) -> outcome.Outcome | None:
        """Make the call (unless abandoned); its outcome, to deliver (worker thread)."""
        result: outcome.Outcome | None = None
        if not self.abandoned:
            # any error, even in binding the arguments, becomes the outcome and never
            # reaches (and ends) the thread
            try:
                result = outcome.Value(self.fn(*self.args, **self.kwargs))
            except BaseException as exc:
                result = outcome.Error(exc)
        # a finished job may be kept (as an object's last call): not its arguments
        self.fn = self.args = self.kwargs = None
        self.finished = True
        return result

    def _deliver(self, result: outcome.Outcome) -> None:
        """In the submitting trio thread: hand the outcome to ``deliver``."""
        if not self.abandoned:
            self.deliver(result)

    def abandon(self) -> None:
        self.abandoned = True

    # wait() is Future's: the call's value (or its error raised), for a job submitted
    # without ``deliver``; cancelled, the job is abandoned (by _abort, one call less
    # than passing wait an on_abort)
    def _abort(self, _: Any) -> trio.lowlevel.Abort:
        self._task = None
        self.abandoned = True
        return trio.lowlevel.Abort.SUCCEEDED


class WorkerThread:
    """A daemon thread running submitted sync functions in order.

    Start it with :meth:`start` (or ``with``); :meth:`stop` lets queued calls
    finish and joins the thread.
    """

    def __init__(self, name: str = "moalab-worker") -> None:
        self.name = name
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopped: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self._thread.start()

    def stop(self, join: bool = True, timeout: float | None = None) -> bool:
        """Let the queued calls finish, then end the thread; with ``join``, wait for
        that, at most ``timeout`` seconds (None: as long as it takes; see :meth:`join`).

        Returns whether the thread has ended; False: it still runs a call, and ends
        (a daemon thread) once its calls return. Call from any thread but this one's
        own calls (which return at once, the thread ending after them).
        """
        thread, self._thread = self._thread, None
        if thread is None:
            return self.join(0)
        self._stopped = thread
        self._queue.put(_STOP)
        return self.join(timeout) if join else not thread.is_alive()

    def join(self, timeout: float | None = None) -> bool:
        """Wait, at most ``timeout`` seconds, for a stopped thread to end; return whether
        it has (True for a thread never started)."""
        thread = self._stopped
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    def __enter__(self) -> "WorkerThread":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        get = self._queue.get
        outboxes = Outboxes()
        while True:
            job = get()
            if job is _STOP:
                return
            result = job._run()
            if result is not None:
                # set, not abandoned-checked: an abandoned job's waiter is gone already
                outboxes[job.token].send(job.set if job.deliver is None else job._deliver,
                                         result)

    def submit(self, fn: Callable[..., Any], args: tuple = (), kwargs: dict | None = None,
               deliver: Callable[[outcome.Outcome], None] | None = None) -> Job:
        """Queue ``fn(*args, **kwargs)`` now (from a trio thread); return its job."""
        if self._thread is None:
            raise ExecutorNotRunning(f"worker thread {self.name!r} is not started")
        job = Job(fn, args, kwargs or {}, deliver)
        self._queue.put(job)
        return job

    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` in the thread and return (or raise) its outcome."""
        await trio.lowlevel.checkpoint_if_cancelled()
        return await self.submit(fn, args, kwargs).wait()
