"""Run a stage tree beside its device pumps and executors."""

from collections.abc import Iterable, Sequence
from contextlib import AsyncExitStack
from typing import Any

import trio

from ..core.nursery import open_nursery
from ..device.device import Device
from ..stage.stage import MoaStage

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
) -> None:
    """Run ``root`` to its end while the ``devices``' pumps run; then stop the pumps.

    ``executors`` (async context managers, e.g. :class:`~moalab.ThreadExecutor`)
    are started first and stopped last. Devices without a ``pump_state`` of
    their own are not pumped. An exception in the tree or a pump stops
    everything and propagates with its own type. ``task_status.started()`` is
    called once the root stage has started.
    """
    async with AsyncExitStack() as stack:
        for executor in executors:
            await stack.enter_async_context(executor)
        async with open_nursery() as nursery:
            for device in devices:
                if has_pump(device):
                    nursery.start_soon(device.pump_state, name=f"pump {device.name}")
            try:
                await root.run_stage(task_status=task_status)
            finally:
                nursery.cancel_scope.cancel()
