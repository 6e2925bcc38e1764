"""The seed guide's remote-execution sample, over every executor."""

import os
import threading
from time import perf_counter

import pytest

from moalab.executor import ExecutorNotRunning

from .conftest import ALL, ALL_BUT_PROCESS, REMOTE, REMOTE_BUT_PROCESS, unique_name
from .devices import VirtualDevice


async def test_seed_sample_start_stop(kind):
    executor = kind.make()
    await executor.start_executor()
    try:
        photo_beam_device = VirtualDevice(name=unique_name("photobeam_device"), executor=executor)
        motor_device = VirtualDevice(name=unique_name("motor_device"), executor=executor)
        await executor.ensure_remote_instance(photo_beam_device)
        await executor.ensure_remote_instance(motor_device)
        updates = []
        motor_device.fbind("on_data_update", lambda obj, arg: updates.append(obj.state))

        before = perf_counter()
        await motor_device.write_state(True)
        # the callback ran here with the far side's return value
        assert motor_device.state is True
        assert updates == [True]
        if kind != "process":  # perf_counter is per process
            assert before <= motor_device.timestamp <= perf_counter()
        assert photo_beam_device.state is None

        await motor_device.write_state(False)
        assert motor_device.state is False
        assert updates == [True, False]
    finally:
        await executor.stop_executor()


@pytest.mark.parametrize("kind", ALL_BUT_PROCESS, indirect=True)
async def test_seed_sample_async_with(kind):
    async with kind.make() as executor:
        device = VirtualDevice(name=unique_name("motor_device"), executor=executor)
        await executor.ensure_remote_instance(device)
        await device.write_state(True)
        assert device.state is True


@pytest.mark.parametrize("remote_kind", REMOTE_BUT_PROCESS, indirect=True)
async def test_ensure_remote_instance_is_idempotent(remote_kind):
    async with remote_kind.make() as executor:
        device = VirtualDevice(name=unique_name("motor_device"), executor=executor)
        assert await executor.ensure_remote_instance(device) is True
        assert await executor.ensure_remote_instance(device) is False
        await device.write_state(True)
        assert device.state is True


async def test_call_runs_on_the_far_side(new_device):
    device = await new_device()
    pid, thread = await device.where()
    assert (pid, thread) != (os.getpid(), threading.get_ident())


@pytest.mark.parametrize("kind", ALL, indirect=True)
async def test_call_before_start_and_after_stop_fails(kind):
    executor = kind.make()
    device = VirtualDevice(name=unique_name("motor_device"), executor=executor)
    with pytest.raises(ExecutorNotRunning):
        await device.write_state(True)
    async with executor:
        await executor.ensure_remote_instance(device)
        await device.write_state(True)
    with pytest.raises(ExecutorNotRunning):
        await device.write_state(False)
    assert device.state is True


@pytest.mark.parametrize("kind", REMOTE, indirect=True)
async def test_executor_restarts(kind):
    executor = kind.make()
    for state in (True, False):
        async with executor:
            device = VirtualDevice(name=unique_name("motor_device"), executor=executor)
            await executor.ensure_remote_instance(device)
            await device.write_state(state)
            assert device.state is state
