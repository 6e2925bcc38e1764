"""Ending a virtual-time run that can never go on: :func:`fail_when_stuck`.

On a virtual clock (trio's ``MockClock``: a dry run, ``--speed``) time moves to
the next pending deadline. A run whose tasks all wait while no deadline is
pending waits for ever, unless something outside it wakes it: a thread
(``trio.to_thread``, an executor's worker, a GPIO pin's callbacks), a process
or server over a socket, or the host loop of a notebook. Such a run is *stuck*
when, for :data:`IDLE_GRACE` seconds of real time on end:

* no task can run and no deadline is pending (trio's run statistics);
* no task waits on a thread, a socket or a subprocess, or in an executor or
  a GPIO pin (read from the code each task awaits in);
* no stage is paused (a resume may come);
* it is not a guest run on a host loop (a notebook's cells may change the tree).

A thread the run cannot see (a device's own thread handing values in with
``run_sync_soon``) is covered only for the grace period.
"""

import math
import threading
from time import perf_counter

import trio
from trio._core._run import GLOBAL_RUN_CONTEXT  # trio exports no "is this a guest run"

from ..core.clock import clock_kind
from ..core.errors import NothingToWaitFor
from ..stage.gate import GateStage
from ..stage.runstate import deepest_active
from ..stage.stage import MoaStage

__all__ = ("fail_when_stuck", "IDLE_GRACE")

IDLE_GRACE = 1.0
"""Real seconds a virtual-time run must stay idle before it is declared stuck."""

# a task awaiting code of these modules may be woken from outside the run
_OUTSIDE_WAKERS = (
    "trio._threads", "trio._core._io_", "trio._subprocess", "moalab.executor",
    "moalab.device.gpio",
)
_ENTRY_QUEUE_TASK = "<TrioToken.run_sync_soon task>"  # trio's name for it


class _IdleWatch(trio.abc.Instrument):
    """Sets :attr:`idle` once the run has had no runnable task, no pending deadline
    and no task woken (but ``ignored``) for :data:`IDLE_GRACE` real seconds."""

    def __init__(self, ignored: set[trio.lowlevel.Task]) -> None:
        self.ignored = ignored
        self.users = 0  # the fail_when_stuck tasks sharing it
        self.token = trio.lowlevel.current_trio_token()
        self.idle = trio.Event()
        self.told = False  # idle.set is on its way
        self.idle_since: float | None = None
        self.timer: threading.Timer | None = None

    def rearm(self) -> None:
        self.idle = trio.Event()
        self.told = False
        self.idle_since = None

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()

    def task_scheduled(self, task: trio.lowlevel.Task) -> None:
        if task not in self.ignored:
            self.idle_since = None

    def before_io_wait(self, timeout: float) -> None:
        if self.told:
            return
        stats = trio.lowlevel.current_statistics()
        if (stats.tasks_runnable or stats.run_sync_soon_queue_size
                or stats.seconds_to_next_deadline != math.inf):
            self.idle_since = None
            return
        t = perf_counter()
        if self.idle_since is None:
            self.idle_since = t
        left = self.idle_since + IDLE_GRACE - t
        if left <= 0:
            # set from the run's own queue: not from inside the run loop's I/O step
            self.told = True
            self.token.run_sync_soon(self.idle.set)
        elif timeout > left and (self.timer is None or not self.timer.is_alive()):
            # a clock that does not autojump sleeps until woken: wake it to look again
            self.timer = threading.Timer(left, self._wake_run)
            self.timer.daemon = True
            self.timer.start()

    def _wake_run(self) -> None:
        try:
            self.token.run_sync_soon(lambda: None)
        except trio.RunFinishedError:
            pass


# one watch per trio run, shared by the runs in it: an instrument per run made every
# scheduling step of a RunGroup cost as many looks as it had runs (40 runs: 2x slower)
_WATCH: trio.lowlevel.RunVar["_IdleWatch | None"] = trio.lowlevel.RunVar(
    "moalab_idle_watch", default=None)


def _join_watch(me: trio.lowlevel.Task) -> _IdleWatch:
    watch = _WATCH.get()
    if watch is None:
        watch = _IdleWatch({task for task in _all_tasks() if task.name == _ENTRY_QUEUE_TASK})
        trio.lowlevel.add_instrument(watch)
        _WATCH.set(watch)
    watch.ignored.add(me)
    watch.users += 1
    return watch


def _leave_watch(watch: _IdleWatch, me: trio.lowlevel.Task) -> None:
    watch.ignored.discard(me)
    watch.users -= 1
    if not watch.users:
        trio.lowlevel.remove_instrument(watch)
        watch.close()
        _WATCH.set(None)


def _all_tasks() -> list[trio.lowlevel.Task]:
    tasks, stack = [], [trio.lowlevel.current_root_task()]
    while stack:
        task = stack.pop()
        tasks.append(task)
        for nursery in task.child_nurseries:
            stack.extend(nursery.child_tasks)
    return tasks


def _woken_from_outside(task: trio.lowlevel.Task) -> bool:
    """Whether ``task`` awaits something a thread, socket or process may deliver."""
    return any(frame.f_globals.get("__name__", "").startswith(_OUTSIDE_WAKERS)
               for frame, _ in task.iter_await_frames())


def _describe(stage: MoaStage) -> str:
    if isinstance(stage, GateStage) and stage.device is not None:
        device = getattr(stage.device, "name", None) or type(stage.device).__name__
        return f"{stage.path!r} (for {device}.{stage.state_prop})"
    return repr(stage.path)


async def fail_when_stuck(root: MoaStage) -> None:
    """Raise :class:`NothingToWaitFor` once the run of ``root`` is stuck (see the
    module docstring); run it beside the tree and cancel it when the tree ends.

    Returns at once on a real clock and in a guest run. Runs in the run's trio
    thread; while it runs, an instrument looks at the run before each I/O wait.
    """
    if clock_kind() == "real" or GLOBAL_RUN_CONTEXT.runner.is_guest:
        return
    me = trio.lowlevel.current_task()
    watch = _join_watch(me)
    try:
        while True:
            idle = watch.idle
            await idle.wait()
            paused = any(stage.paused for stage in root.iterate_stages())
            if not paused and not any(_woken_from_outside(task) for task in _all_tasks()
                                      if task not in watch.ignored):
                break
            if watch.idle is idle:  # another run's watcher may have rearmed it already
                watch.rearm()
    finally:
        _leave_watch(watch, me)
    waiting = ", ".join(_describe(stage) for stage in deepest_active(root)) or repr(root.path)
    raise NothingToWaitFor(
        f"the virtual-time run of {root.name!r} can never go on: no task can run, no timer "
        "is pending and no thread, process or socket may wake it, while these stages wait: "
        f"{waiting}. A device nothing updates? Give it to the run's devices so it is "
        "pumped, or update it from a stage"
    )
