"""Executors on local threads: ThreadExecutor and AsyncThreadExecutor."""

import inspect
import threading
import types
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from time import perf_counter
from typing import Any

import outcome
import trio

from ..core.errors import InvalidArgument
from .errors import ExecutorNotRunning
from ..core.dispatch import is_nonblocking, read_items
from .executor import Executor
from .future import Future, Outboxes
from .ordering import ArrivalOrder, Turn
from .stream import ItemBuffer, ThreadStream, fill_from_async
from .worker import WorkerThread

__all__ = ("ThreadExecutor", "AsyncThreadExecutor")


def _is_async(fn: Callable[..., Any]) -> bool:
    """:func:`inspect.iscoroutinefunction`, at a tenth of its cost for a plain function
    (a decorated method's, checked on every call)."""
    if type(fn) is types.FunctionType:
        return bool(fn.__code__.co_flags & inspect.CO_COROUTINE)
    return inspect.iscoroutinefunction(fn)


class _LastCalls(dict[int, Any]):
    """Each object's last call handed to an executor's thread (by ``id(obj)``): a job
    whose ``finished`` turns True there once the call has returned or been skipped.

    An entry left by an object since gone holds a finished job only (its arguments
    dropped), which is what a new object with that id must see: none of its calls
    waiting.
    """

    def idle(self, obj: Any) -> bool:
        """Whether none of ``obj``'s calls are queued or running in the thread."""
        last = self.get(id(obj))
        if last is None:
            return True
        if last.finished:
            del self[id(obj)]
            return True
        return False


async def _run_here(fn: Callable[..., Any], obj: Any, args: tuple, kwargs: dict) -> Any:
    """``fn(obj, *args, **kwargs)`` (declared ``blocking=False``) in the caller's trio
    thread, a checkpoint as a call in the thread is: a cancelled caller does not make it,
    and other tasks get to run once it has returned."""
    await trio.lowlevel.checkpoint_if_cancelled()
    result = fn(obj, *args, **kwargs)
    await trio.lowlevel.cancel_shielded_checkpoint()
    return result


class ThreadExecutor(Executor):
    """Runs sync device methods in one dedicated worker thread, in call order.

    A method declared ``apply_executor(blocking=False)`` runs at once in the caller's
    trio thread instead, unless calls of its object are queued or running in the
    thread (then it waits its turn there, so one object's calls keep their order).
    Generator methods run each in a thread of their own, so a running stream
    does not hold up calls. A sync call past its timeout runs on in the worker: the
    calls behind it, of every object of the executor, wait for it.
    """

    def __init__(self, name: str = "moalab-thread", timeout: float | None = None) -> None:
        super().__init__(timeout)
        self._worker = WorkerThread(name)
        self._last_calls = _LastCalls()

    @property
    def running(self) -> bool:
        """Whether the worker thread is started and not stopped since."""
        return self._worker.running

    async def start_executor(self) -> None:
        self._worker.start()

    async def stop_executor(self) -> None:
        await trio.to_thread.run_sync(self._worker.stop)
        self._last_calls.clear()

    async def _execute(self, obj: Any, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        if _is_async(fn):
            raise InvalidArgument(
                f"{type(obj).__name__}.{fn.__name__} is async; ThreadExecutor runs only sync "
                "methods: use AsyncThreadExecutor"
            )
        # not started: on to submit, which says so
        if is_nonblocking(fn) and self._worker.running and self._last_calls.idle(obj):
            return await _run_here(fn, obj, args, kwargs)
        await trio.lowlevel.checkpoint_if_cancelled()
        job = self._last_calls[id(obj)] = self._worker.submit(fn, (obj, *args), kwargs)
        return await job.wait()

    @asynccontextmanager
    async def execute_generator(self, obj: Any, fn: Callable[..., Any], args: tuple = (),
                                kwargs: dict | None = None, callback: Any = None
                                ) -> AsyncIterator[AsyncIterator[Any]]:
        if not self._worker.running:
            raise ExecutorNotRunning("ThreadExecutor is not started: use `async with executor`")
        async with ThreadStream(fn, (obj, *args), kwargs) as buffer:
            async with read_items(obj, callback, buffer) as items:
                yield items

    async def get_echo_clock(self) -> tuple[float, float, float, float]:
        t0 = perf_counter()
        t1, t2 = await self._worker.run(lambda: (perf_counter(), perf_counter()))
        return t0, t1, t2, perf_counter()


class _LoopJob:
    """A call run as a task in the executor's trio loop, its outcome sent back to the
    caller's :attr:`future`; :attr:`finished` turns True there once it has ended."""

    __slots__ = ("args", "caller_token", "finished", "fn", "future", "kwargs", "scope", "turn")

    def __init__(self, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.caller_token = trio.lowlevel.current_trio_token()
        self.future = Future()
        self.scope = trio.CancelScope()
        self.turn: Turn | None = None  # taken in the executor's loop, in call order
        self.finished = False

    def _call(self) -> Any:
        # inside the capture: even an error binding the arguments becomes the outcome
        return self.fn(*self.args, **self.kwargs)

    async def run(self, outboxes: Outboxes) -> None:
        """Run the call as a task, once its turn has come."""
        try:
            with self.scope:
                await self.turn.wait()
                if inspect.iscoroutinefunction(self.fn):
                    result = await outcome.acapture(self._call)
                else:
                    result = outcome.capture(self._call)
        finally:
            self._finish()
        if not self.scope.cancelled_caught:  # else the caller gave up: nobody waits
            outboxes[self.caller_token].send(self.future.set, result)

    def run_now(self, outboxes: Outboxes) -> None:
        """Make a sync call at once, its turn having come (no task for it)."""
        result = outcome.capture(self._call)
        self._finish()
        outboxes[self.caller_token].send(self.future.set, result)

    def _finish(self) -> None:
        # a finished job may be kept (as an object's last call): not its arguments
        self.fn = self.args = self.kwargs = None
        self.finished = True


class AsyncThreadExecutor(Executor):
    """Runs device methods, async ones included, as tasks of a trio loop in a worker
    thread. Cancelling the caller cancels the task there.

    A method declared ``apply_executor(blocking=False)`` runs at once in the caller's
    trio thread instead, unless its object's last call there has not yet finished (then
    it takes its turn there: calls start in call order).
    """

    supports_coroutine = True

    def __init__(self, name: str = "moalab-async-thread", timeout: float | None = None) -> None:
        super().__init__(timeout)
        self.name = name
        self._thread: threading.Thread | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None
        self._stop: trio.Event | None = None
        self._start_order: ArrivalOrder | None = None  # these two used in its loop only
        self._outboxes: Outboxes | None = None
        self._last_calls = _LastCalls()

    @property
    def running(self) -> bool:
        """Whether the worker thread and its trio loop are started and not stopped since."""
        return self._thread is not None

    async def start_executor(self) -> None:
        if self._thread is not None:
            return
        self._start_order, self._outboxes = ArrivalOrder(), Outboxes()
        ready = threading.Event()

        async def main() -> None:
            self._token = trio.lowlevel.current_trio_token()
            self._stop = trio.Event()
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                ready.set()
                await self._stop.wait()
                nursery.cancel_scope.cancel()

        self._thread = threading.Thread(target=trio.run, args=(main,), name=self.name,
                                        daemon=True)
        self._thread.start()
        await trio.to_thread.run_sync(ready.wait)

    async def stop_executor(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._token.run_sync_soon(self._stop.set)
            await trio.to_thread.run_sync(thread.join)
        self._last_calls.clear()

    def _check_running(self) -> None:
        if self._thread is None:
            raise ExecutorNotRunning(
                "AsyncThreadExecutor is not started: use `async with executor`"
            )

    async def _execute(self, obj: Any, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        self._check_running()
        if is_nonblocking(fn) and self._last_calls.idle(obj):
            return await _run_here(fn, obj, args, kwargs)
        await trio.lowlevel.checkpoint_if_cancelled()
        job = self._last_calls[id(obj)] = _LoopJob(fn, (obj, *args), kwargs)
        token = self._token
        token.run_sync_soon(self._start_job, job)
        return await job.future.wait(lambda: token.run_sync_soon(job.scope.cancel))

    def _start_job(self, job: _LoopJob) -> None:
        # in the executor's loop, in call order
        if not _is_async(job.fn) and self._start_order.all_started():
            job.run_now(self._outboxes)  # a task would only take two loop rounds more
            return
        job.turn = self._start_order.take()
        self._nursery.start_soon(job.run, self._outboxes)

    @asynccontextmanager
    async def execute_generator(self, obj: Any, fn: Callable[..., Any], args: tuple = (),
                                kwargs: dict | None = None, callback: Any = None
                                ) -> AsyncIterator[AsyncIterator[Any]]:
        self._check_running()
        if not inspect.isasyncgenfunction(fn):
            async with ThreadStream(fn, (obj, *args), kwargs) as buffer:
                async with read_items(obj, callback, buffer) as items:
                    yield items
            return
        buffer = ItemBuffer()
        generator = fn(obj, *args, **(kwargs or {}))
        self._token.run_sync_soon(self._nursery.start_soon, fill_from_async, generator, buffer)
        try:
            async with read_items(obj, callback, buffer) as items:
                yield items
        finally:
            buffer.stop()

    async def get_echo_clock(self) -> tuple[float, float, float, float]:
        t0 = perf_counter()
        t1, t2 = await self._execute(None, lambda _: (perf_counter(), perf_counter()), (), {})
        return t0, t1, t2, perf_counter()
