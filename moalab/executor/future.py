"""Future: a one-shot result that one trio task waits for, set from the same trio thread."""

from collections.abc import Callable
from typing import Any

import outcome
import trio

__all__ = ("Future",)


class Future:
    """Holds the :class:`outcome.Outcome` of an operation for the task awaiting it.

    :meth:`set` (trio thread only; first call wins) and :meth:`wait` may come in
    either order. Cheaper than a :class:`trio.Event` plus a result slot: the
    waiting task is rescheduled directly with the outcome.
    """

    __slots__ = ("_outcome", "_task")

    def __init__(self) -> None:
        self._outcome: outcome.Outcome | None = None
        self._task: trio.lowlevel.Task | None = None

    @property
    def done(self) -> bool:
        return self._outcome is not None

    def set(self, result: outcome.Outcome) -> None:
        if self._outcome is not None:
            return
        self._outcome = result
        task, self._task = self._task, None
        if task is not None:
            trio.lowlevel.reschedule(task, result)

    async def wait(self, on_abort: Callable[[], Any] | None = None) -> Any:
        """Return the value (or raise the error); if cancelled first, call ``on_abort``."""
        if self._outcome is not None:
            await trio.lowlevel.checkpoint()
            return self._outcome.unwrap()
        self._task = trio.lowlevel.current_task()

        def abort(_: Any) -> trio.lowlevel.Abort:
            self._task = None
            if on_abort is not None:
                on_abort()
            return trio.lowlevel.Abort.SUCCEEDED

        return await trio.lowlevel.wait_task_rescheduled(abort)
