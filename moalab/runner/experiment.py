"""Run a stage tree beside its device pumps and executors."""

from collections.abc import Iterable, Sequence
from contextlib import AsyncExitStack
from typing import Any

import trio

from ..core.clock import clock_reader
from ..core.nursery import open_nursery
from ..device.device import Device
from ..stage.runstate import RunState
from ..stage.stage import MoaStage
from .stuck import fail_when_stuck

__all__ = ("run_experiment", "has_pump")


def has_pump(device: Any) -> bool:
    """Whether ``device`` defines a ``pump_state`` loop of its own."""
    pump = getattr(type(device), "pump_state", None)
    return pump is not None and pump is not Device.pump_state


async def run_experiment(
    root: MoaStage,
    devices: Iterable[Any] = (),
    executors: Sequence[Any] = (),
    task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED,
    namespace: str | None = None,
) -> None:
    """Run ``root`` to its end while the ``devices``' pumps run; then stop the pumps.

    ``executors`` (async context managers, e.g. :class:`~moalab.ThreadExecutor`)
    are started first and stopped last, except one already running (its caller
    started it, its caller stops it: it keeps running after the run, in its own
    namespace); while the link of one with
    ``on_lost='pause'`` is down, the tree is paused. Devices without a
    ``pump_state`` of their own are not pumped; every :class:`Device` reads the
    run's clock in :meth:`Device.now`, from any thread. An exception in the
    tree or a pump stops everything and propagates with its own type. In
    virtual time a run that can never go on raises :class:`~moalab.NothingToWaitFor`
    (``moalab.runner.stuck`` says when). ``task_status.started()`` is called once
    the root stage has started. ``namespace`` (a run's): each executor's objects
    live there unless it was given one (``executor.use_namespace``) or was already
    running.
    """
    devices = tuple(devices)
    async with AsyncExitStack() as stack:
        read_clock = clock_reader()
        for device in devices:
            if isinstance(device, Device):
                device.use_clock(read_clock)
                stack.callback(device.use_clock, None)
        for executor in executors:
            # one its caller started, the caller stops (and its namespace stays)
            if not getattr(executor, "running", False):
                # any async context manager may serve as an executor: only ours have
                # namespaces
                use_namespace = getattr(executor, "use_namespace", None)
                if namespace is not None and use_namespace is not None:
                    use_namespace(namespace)
                await stack.enter_async_context(executor)
            if getattr(executor, "on_lost", None) == "pause":
                listener = _PauseWhileLinkDown(root, executor)
                executor.add_link_listener(listener)
                stack.callback(executor.remove_link_listener, listener)
        async with open_nursery() as nursery:
            nursery.start_soon(fail_when_stuck, root, name=f"stuck watch {root.name}")
            for device in devices:
                if has_pump(device):
                    nursery.start_soon(device.pump_state, name=f"pump {device.name}")
            try:
                await root.run_stage(task_status=task_status)
            finally:
                nursery.cancel_scope.cancel()


class _PauseWhileLinkDown:
    """A link listener pausing ``root`` while the link of ``executor`` is down; it
    resumes only a pause of its own making."""

    def __init__(self, root: MoaStage, executor: Any) -> None:
        self.root = root
        url = getattr(executor, "url", None)  # remote executors name their server
        self.by = f"lost link: {type(executor).__name__}{f'({url})' if url else ''}"
        self.paused_it = False

    def __call__(self, up: bool) -> None:
        if not up and self.root.run_state is RunState.RUNNING:
            self.root.pause(by=self.by)
            self.paused_it = True
        elif up and self.paused_it:
            self.paused_it = False
            if self.root.run_state is RunState.PAUSED:
                self.root.resume()
