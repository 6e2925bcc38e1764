"""ArrivalOrder: tasks start in the order their calls arrived.

Trio runs the tasks that became runnable together in either order (it reverses a
batch half the time), so calls started with ``start_soon`` one after the other
may begin their work in another order. A call takes a :class:`Turn` when it
arrives (synchronously, in arrival order) and its task awaits ``turn.wait()``
before the work.
"""

from typing import Any

import trio

__all__ = ("ArrivalOrder", "Turn")


class Turn:
    """A place in an :class:`ArrivalOrder`: awaiting it returns once every earlier
    turn's task has started (or given up).

    Await :meth:`wait` once, from the trio thread it was taken in. It does not yield when
    the earlier turns have started: a checkpoint only if the task is cancelled or
    has to wait. Cancelled while waiting, it raises ``trio.Cancelled`` and its
    place passes on by itself: the next turn waits for the earlier ones only.
    """

    __slots__ = ("_given_up", "_next", "_previous", "_started", "_waiter")

    def __init__(self, previous: "Turn | None") -> None:
        self._previous = previous  # None once it has started
        self._next: Turn | None = None  # the turn taken after this one
        self._started = False
        self._given_up = False
        self._waiter: trio.lowlevel.Task | None = None  # this turn's task, parked
        if previous is not None:
            previous._next = self

    async def wait(self) -> None:
        """Return when this turn's task may start (see the class)."""
        if self._previous is None:
            try:
                await trio.lowlevel.checkpoint_if_cancelled()
            finally:
                self._start()
            return
        self._waiter = trio.lowlevel.current_task()

        def abort(_: Any) -> trio.lowlevel.Abort:
            self._waiter = None
            self._given_up = True
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)
        self._start()

    def _start(self) -> None:
        """Mark this turn started and let the next go: wake its task if it waits, or
        pass on through turns given up (a loop, not a recursion)."""
        turn = self
        while True:
            turn._started, turn._previous = True, None  # no chain of started turns kept
            following, turn._next = turn._next, None
            if following is None:
                return
            following._previous = None
            if not following._given_up:
                waiter, following._waiter = following._waiter, None
                if waiter is not None:
                    trio.lowlevel.reschedule(waiter)
                return
            turn = following


class ArrivalOrder:
    """Hands out :class:`Turn` s in arrival order: their tasks start in that order.

    Call :meth:`take` when a call arrives, in the trio thread; every turn taken
    must be awaited (a turn never awaited holds up all later ones).
    """

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: Turn | None = None

    def all_started(self) -> bool:
        """Whether every turn taken has started: a call arriving now may start at once,
        without taking one."""
        return self._last is None or self._last._started

    def take(self) -> Turn:
        """The next place in the order."""
        last = self._last
        self._last = turn = Turn(last if last is not None and not last._started else None)
        return turn
