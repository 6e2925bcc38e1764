"""Executor: where a device's decorated methods run, and how the choice is made."""

import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from typing import Any

import trio

from ..core.dispatch import call_callback
from ..core.errors import InvalidArgument
from .clock import LOCAL_CLOCK, LocalClock, RemoteClock
from .errors import ExecutorTimeout

__all__ = ("Executor",)

class Executor:
    """Runs calls of decorated device methods somewhere: a thread, a process, a server.

    Start and stop it with ``async with executor:`` or :meth:`start_executor` /
    :meth:`stop_executor`. ``timeout`` (seconds, or None) bounds every call: a call
    that overruns raises :class:`ExecutorTimeout` in the caller at once. An async
    method is then cancelled where it awaits; a sync method cannot be interrupted: the
    call is abandoned, the method runs on in its worker until it returns, and the
    object's next calls wait behind it.
    """

    supports_coroutine = False
    """Whether async methods can run here."""

    clock: LocalClock | RemoteClock = LOCAL_CLOCK
    """The far side's clock as seen from here (see :mod:`moalab.executor.clock`): the
    identity when it is this machine's clock, else a fitted model."""

    def __init__(self, timeout: float | None = None) -> None:
        if timeout is not None and not timeout > 0:
            raise InvalidArgument(f"timeout={timeout!r} is not accepted: give seconds > 0 or None")
        self.timeout = timeout

    @property
    def running(self) -> bool:
        """Whether the executor is started and not stopped since (a run leaves an
        executor its caller started running: see :func:`~moalab.run_experiment`)."""
        return False

    async def start_executor(self) -> None:
        """Start the executor (threads, processes or connections)."""

    async def stop_executor(self) -> None:
        """Stop the executor; calls still in flight are cancelled."""

    async def __aenter__(self) -> "Executor":
        await self.start_executor()
        return self

    async def __aexit__(self, *exc: object) -> None:
        with trio.CancelScope(shield=True):
            await self.stop_executor()

    async def execute(self, obj: Any, fn: Callable[..., Any], args: tuple = (),
                      kwargs: dict | None = None, callback: Any = None,
                      timeout: float | None = None) -> Any:
        """Run ``fn(obj, *args, **kwargs)`` here, call ``obj``'s ``callback`` with the
        result in the calling task, and return the result.

        ``timeout`` overrides the executor's for this call. Cancelling the calling
        task (e.g. with :func:`trio.fail_after`), or the timeout passing, returns at
        once and cancels an async ``fn`` where it awaits; a sync ``fn`` cannot be
        interrupted: it runs on in its worker until it returns, and the next calls on
        ``obj`` wait for it. Raises what ``fn`` raised (from a far side: as a
        :class:`~moalab.RemoteError` unless its type is known here),
        :class:`~moalab.ExecutorTimeout` when the timeout passes,
        :class:`~moalab.executor.errors.ExecutorNotRunning` before the executor is
        started or after it stopped.
        """
        timeout = timeout or self.timeout
        if timeout is None:  # most calls: no context manager (it costs ~1 us a call)
            result = await self._execute(obj, fn, args, kwargs or {})
        else:
            with self._timeout(obj, fn, timeout):
                result = await self._execute(obj, fn, args, kwargs or {})
        if callback is not None:
            call_callback(obj, callback, result)
        return result

    def execute_generator(self, obj: Any, fn: Callable[..., Any], args: tuple = (),
                          kwargs: dict | None = None, callback: Any = None
                          ) -> AbstractAsyncContextManager[AsyncIterator[Any]]:
        """Run the generator ``fn(obj, *args, **kwargs)`` here; an async context
        manager yielding an async iterator of its items (``callback`` is called with
        each). Leaving the block stops the generator. Raises as :meth:`execute` does."""
        raise NotImplementedError

    async def _execute(self, obj: Any, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        raise NotImplementedError

    @staticmethod
    @contextmanager
    def _timeout(obj: Any, fn: Callable[..., Any], timeout: float) -> Iterator[None]:
        with trio.move_on_after(timeout) as scope:
            yield
        if scope.cancelled_caught:
            name = getattr(obj, "name", "") or type(obj).__name__
            if inspect.iscoroutinefunction(fn):
                fate = "it was cancelled where it awaited"
            else:  # a thread cannot be interrupted: the worker is not redesigned for it
                fate = (f"the call was abandoned: a sync method still runs in its worker "
                        f"until it returns, and calls on {name} wait for it")
            raise ExecutorTimeout(
                f"{name}.{fn.__name__} did not finish within {timeout} s; {fate}")

    def use_namespace(self, name: str) -> None:
        """Put the objects this executor creates in namespace ``name`` (a run's), where
        it has namespaces (see ``RemoteExecutor.use_namespace``): a no-op here, a local
        executor's objects being its own."""

    async def ensure_remote_instance(self, obj: Any) -> None:
        """Make sure ``obj`` exists where its methods run (a no-op for local executors)."""

    async def delete_remote_instance(self, obj: Any) -> None:
        """Delete the far-side instance of ``obj`` (a no-op for local executors)."""

    async def get_echo_clock(self) -> tuple[float, float, float, float]:
        """Time a round trip: ``(t0, t1, t2, t3)``: local send, far receive, far send,
        local receive (the experiment clock of each side)."""
        raise NotImplementedError

    def to_local(self, remote_ts: float) -> float:
        """A time ``remote_ts`` on the far side's clock, on this process's experiment
        clock; e.g. a timestamp a remote method returned. ``clock.uncertainty()`` says
        how far off it may be."""
        return self.clock.to_local(remote_ts)

    def to_remote(self, local_ts: float) -> float:
        """A time ``local_ts`` on the experiment clock, on the far side's clock."""
        return self.clock.to_remote(local_ts)
