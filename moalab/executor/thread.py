"""Executors on local threads: ThreadExecutor and AsyncThreadExecutor."""

import inspect
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from time import perf_counter
from typing import Any

import outcome
import trio

from ..core.errors import InvalidArgument
from .errors import ExecutorNotRunning
from ..core.dispatch import read_items
from .executor import Executor
from .future import Future, Outboxes
from .ordering import ArrivalOrder, Turn
from .stream import ItemBuffer, ThreadStream, fill_from_async
from .worker import WorkerThread

__all__ = ("ThreadExecutor", "AsyncThreadExecutor")


class ThreadExecutor(Executor):
    """Runs sync device methods in one dedicated worker thread, in call order.

    Generator methods run each in a thread of their own, so a running stream
    does not hold up calls.
    """

    def __init__(self, name: str = "moalab-thread", timeout: float | None = None) -> None:
        super().__init__(timeout)
        self._worker = WorkerThread(name)

    async def start_executor(self) -> None:
        self._worker.start()

    async def stop_executor(self) -> None:
        await trio.to_thread.run_sync(self._worker.stop)

    async def _execute(self, obj: Any, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        if inspect.iscoroutinefunction(fn):
            raise InvalidArgument(
                f"{type(obj).__name__}.{fn.__name__} is async; ThreadExecutor runs only sync "
                "methods: use AsyncThreadExecutor"
            )
        return await self._worker.run(fn, obj, *args, **kwargs)

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
    caller's :attr:`future`."""

    __slots__ = ("args", "caller_token", "fn", "future", "kwargs", "scope", "turn")

    def __init__(self, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.caller_token = trio.lowlevel.current_trio_token()
        self.future = Future()
        self.scope = trio.CancelScope()
        self.turn: Turn | None = None  # taken in the executor's loop, in call order

    def _call(self) -> Any:
        # inside the capture: even an error binding the arguments becomes the outcome
        return self.fn(*self.args, **self.kwargs)

    async def run(self, outboxes: Outboxes) -> None:
        with self.scope:
            await self.turn.wait()
            if inspect.iscoroutinefunction(self.fn):
                result = await outcome.acapture(self._call)
            else:
                result = outcome.capture(self._call)
        if not self.scope.cancelled_caught:  # else the caller gave up: nobody waits
            outboxes[self.caller_token].send(self.future.set, result)


class AsyncThreadExecutor(Executor):
    """Runs device methods, async ones included, as tasks of a trio loop in a worker
    thread. Cancelling the caller cancels the task there."""

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

    def _check_running(self) -> None:
        if self._thread is None:
            raise ExecutorNotRunning(
                "AsyncThreadExecutor is not started: use `async with executor`"
            )

    async def _execute(self, obj: Any, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        self._check_running()
        await trio.lowlevel.checkpoint_if_cancelled()
        job = _LoopJob(fn, (obj, *args), kwargs)
        token = self._token
        token.run_sync_soon(self._start_job, job)
        return await job.future.wait(lambda: token.run_sync_soon(job.scope.cancel))

    def _start_job(self, job: _LoopJob) -> None:
        # in the executor's loop, in call order
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
