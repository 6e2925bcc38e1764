"""A one-shot outcome for a waiting trio task, and the outbox other threads send such
outcomes through.

:class:`Future` is set in the trio thread; a thread that is not the trio run's
hands the outcome over with :meth:`Outbox.send` (``outbox.send(future.set,
result)``), which wakes the trio thread once for every outcome ready by then.
"""

import collections
from collections.abc import Callable
from typing import Any, TypeVar

import outcome
import trio

__all__ = ("Future", "Outbox", "Outboxes")

T = TypeVar("T")


_HANDED_OVER = outcome.Value(None)
"""A future's outcome once handed to its waiting task: it is done, holding nothing."""


class Future:
    """Holds the :class:`outcome.Outcome` of an operation for the task awaiting it.

    :meth:`set` (trio thread only; first call wins) and :meth:`wait` (once) may come
    in either order. Cheaper than a :class:`trio.Event` plus a result slot: the
    waiting task is rescheduled directly with the outcome, which the future then no
    longer holds (a kept future keeps no result alive).
    """

    __slots__ = ("_on_abort", "_outcome", "_task")

    def __init__(self) -> None:
        self._outcome: outcome.Outcome | None = None
        self._task: trio.lowlevel.Task | None = None
        self._on_abort: Callable[[], Any] | None = None

    @property
    def done(self) -> bool:
        return self._outcome is not None

    def set(self, result: outcome.Outcome) -> None:
        if self._outcome is not None:
            return
        task, self._task = self._task, None
        if task is None:
            self._outcome = result  # for the wait to come, or for nobody (given up)
        else:
            self._outcome = _HANDED_OVER
            trio.lowlevel.reschedule(task, result)

    async def wait(self, on_abort: Callable[[], Any] | None = None) -> Any:
        """Return the value (or raise the error); if cancelled first, call ``on_abort``
        (an outcome set later is kept, and nobody is woken by it)."""
        if self._outcome is not None:
            await trio.lowlevel.checkpoint()
            return self._outcome.unwrap()
        self._task = trio.lowlevel.current_task()
        self._on_abort = on_abort
        return await trio.lowlevel.wait_task_rescheduled(self._abort)

    def _abort(self, _: Any) -> trio.lowlevel.Abort:
        self._task = None
        if self._on_abort is not None:
            self._on_abort()
        return trio.lowlevel.Abort.SUCCEEDED


class Outbox:
    """Calls from any thread into one trio run, made there in the order sent.

    :meth:`send` never blocks and takes no lock: one call ready while the run has
    not yet taken the previous ones joins them, one wake-up of the trio thread for
    the lot (each is still made as soon as the trio thread gets to it). Once the
    run has finished, calls are dropped: nobody is left to receive them.
    """

    __slots__ = ("_calls", "_scheduled", "_token")

    def __init__(self, token: trio.lowlevel.TrioToken | None = None) -> None:
        """For the trio run of ``token`` (by default the current one)."""
        self._token = token if token is not None else trio.lowlevel.current_trio_token()
        self._calls: collections.deque[tuple[Callable[[Any], Any], Any]] = collections.deque()
        self._scheduled = False

    def send(self, fn: Callable[[T], Any], arg: T) -> None:
        """Have ``fn(arg)`` called in the trio thread (from any thread; ``fn`` must not
        raise)."""
        # without a lock: deque appends and pops are atomic, and the flag is cleared
        # before the calls are taken, so a race costs at most one wake-up too many,
        # never a call left behind
        self._calls.append((fn, arg))
        if self._scheduled:
            return
        self._scheduled = True
        try:
            self._token.run_sync_soon(self._run)
        except trio.RunFinishedError:
            self._scheduled = False
            self._calls.clear()

    def _run(self) -> None:
        self._scheduled = False
        calls = self._calls
        for _ in range(len(calls)):  # those sent later come with their own wake-up
            fn, arg = calls.popleft()
            fn(arg)


class Outboxes(dict[trio.lowlevel.TrioToken, Outbox]):
    """The :class:`Outbox` of each trio run a thread sends to, by token, made on first
    use. For one sending thread (or loop) only."""

    def __missing__(self, token: trio.lowlevel.TrioToken) -> Outbox:
        outbox = self[token] = Outbox(token)
        return outbox
