"""When the far side dies, calls in flight and later calls fail with ConnectionLost."""

import signal
import time

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


async def _accept_and_say_nothing(listener: trio.SocketListener, held: list) -> None:
    while True:
        held.append(await listener.accept())  # kept open, never answered


@pytest.mark.parametrize("clock", ["real", "autojump"])
async def test_a_handshake_nobody_answers_fails_within_the_dead_time(clock, request):
    """A server that accepts the TCP connection but never answers (a link black-holed
    after the SYN): the start fails once the dead time passes, in real time, even on a
    virtual clock (which would otherwise jump a trio deadline at once)."""
    if clock == "autojump":
        request.getfixturevalue("autojump_clock")
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    held: list = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_accept_and_say_nothing, listeners[0], held)
        executor = WebSocketExecutor(port=port, heartbeat=(0.2, 1.0), reconnect=False,
                                     clock_sync=None)
        started = time.perf_counter()
        with pytest.raises(ConnectionLost, match="no answer within 1 s"):
            await executor.start_executor()
        elapsed = time.perf_counter() - started
        nursery.cancel_scope.cancel()
    assert held, "the client never connected"
    assert 0.9 < elapsed < 5
