"""Scheduler rounds of a sequential call: the caller's task steps, counted by a trio
Instrument, against a real child process and a real moalab-server."""

import pytest
import trio

from ..conftest import TaskSteps

CALLS = 50

# steps of the calling task per call: the wait for the reply, nothing more (before: 4
# and 4; websocket 2 with trio-websocket, whose send lock took one more)
MOST_STEPS = {"process": 1, "websocket": 1}


@pytest.mark.parametrize("remote_kind", ["process", "websocket"], indirect=True)
async def test_a_sequential_call_takes_its_caller_few_scheduler_rounds(remote_kind,
                                                                       new_remote_device):
    device = await new_remote_device()
    for _ in range(5):  # warmed up: the connection's first frames are past
        await device.echo(1)
    counter = TaskSteps(trio.lowlevel.current_task())
    trio.lowlevel.add_instrument(counter)
    try:
        for i in range(CALLS):
            assert await device.echo(i) == [[i], {}]
    finally:
        trio.lowlevel.remove_instrument(counter)
    assert counter.steps / CALLS <= MOST_STEPS[remote_kind] + 0.1
