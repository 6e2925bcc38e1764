"""When the far side dies, calls in flight and later calls fail with ConnectionLost."""

import signal

import pytest
import trio

from moalab.executor import ExecutorNotRunning
from moalab.executor.errors import ConnectionLost
from moalab.executor.process import ProcessExecutor
from moalab.executor.websocket import WebSocketExecutor

from ..conftest import running_server
from .devices import Probe


async def check_loss(executor, kill) -> None:
    device = Probe(name="probe", executor=executor)
    await executor.ensure_remote_instance(device)
    failed = []

    async def long_call():
        with pytest.raises(ConnectionLost) as info:
            await device.async_sleep(60)
        failed.append(info.value)

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(long_call)
            await trio.sleep(0.2)
            kill()
    assert len(failed) == 1
    with pytest.raises((ConnectionLost, ExecutorNotRunning)):
        await device.echo(1)


async def test_websocket_server_killed():
    with running_server() as server:
        async with WebSocketExecutor("127.0.0.1", server.port) as executor:
            await check_loss(executor, lambda: server.process.send_signal(signal.SIGKILL))


async def test_process_child_killed():
    async with ProcessExecutor() as executor:
        await check_loss(executor, lambda: executor.process.send_signal(signal.SIGKILL))
