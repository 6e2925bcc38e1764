"""Methods declared ``apply_executor(blocking=False)``: a server (WebSocket and REST)
and a process executor's child run them in their trio thread, unless calls of the
same client on the object wait or run in its thread; the default stays there. The
thread executors run them in the caller's trio thread, unless calls of the object
wait or run in their thread."""

import threading
from collections.abc import AsyncIterator

import pytest
import trio

from moalab.core.errors import InvalidArgument
from moalab.executor import AsyncThreadExecutor, ThreadExecutor, apply_executor
from moalab.executor.errors import ExecutorNotRunning
from moalab.executor.process import ProcessExecutor
from moalab.executor.rest import RestExecutor
from moalab.executor.websocket import WebSocketExecutor

from ..conftest import running_server
from .conftest import unique_name
from .devices import ProbeError
from .nonblocking_devices import Pin

WORKER_PREFIX = "moalab-object-"  # the name of an object's worker thread


@pytest.fixture(scope="module")
def pin_server():
    with running_server("--allow", "tests.executor.nonblocking_devices") as server:
        yield server


@pytest.fixture(params=["websocket", "process", "rest"])
async def pin(request) -> AsyncIterator[Pin]:
    if request.param == "process":
        executor = ProcessExecutor()
    else:
        port = request.getfixturevalue("pin_server").port
        cls = WebSocketExecutor if request.param == "websocket" else RestExecutor
        executor = cls("127.0.0.1", port)
    async with executor:
        device = Pin(name=unique_name("pin"), executor=executor)
        await executor.ensure_remote_instance(device)
        yield device


async def test_a_nonblocking_method_runs_in_the_trio_thread(pin):
    thread, in_trio = await pin.where()
    assert in_trio and not thread.startswith(WORKER_PREFIX), (thread, in_trio)


async def test_the_default_still_runs_in_the_worker_thread(pin):
    thread, in_trio = await pin.where_by_default()
    assert thread.startswith(WORKER_PREFIX) and not in_trio, (thread, in_trio)


async def test_a_nonblocking_method_that_raises_fails_its_call_only(pin):
    with pytest.raises(ProbeError, match="failed on purpose"):
        await pin.fail()
    assert await pin.write("after") == "after"
    assert await pin.get_calls() == ["after"]


# each REST call is its own HTTP request: concurrent ones have no order
@pytest.mark.parametrize("pin", ["websocket", "process"], indirect=True)
async def test_a_nonblocking_call_waits_for_the_calls_before_it(pin):
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pin.slow_write, "slow", 0.3)
            await trio.sleep(0.1)  # the slow call goes out first (and is in the thread)
            nursery.start_soon(pin.write, "quick")
    # the order they ran in on the far side (two replies in one frame wake their
    # callers in either order)
    assert await pin.get_calls() == ["slow", "quick"]
    # nothing queued any more: the next one runs in the trio thread again
    assert (await pin.where())[1]


def test_an_async_method_refuses_blocking_false():
    with pytest.raises(InvalidArgument, match="only sync methods"):
        @apply_executor(blocking=False)
        async def read(self):
            return 1


# ------------------------------------------------ the thread executors, in this process

@pytest.fixture(params=["thread", "async_thread"])
async def local_pin(request) -> AsyncIterator[Pin]:
    executor = ThreadExecutor() if request.param == "thread" else AsyncThreadExecutor()
    async with executor:
        yield Pin(name=unique_name("pin"), executor=executor)


async def test_a_thread_executor_runs_a_nonblocking_method_in_the_callers_thread(local_pin):
    assert await local_pin.where() == (threading.current_thread().name, True)


async def test_a_thread_executor_still_runs_the_default_in_its_thread(local_pin):
    thread, _ = await local_pin.where_by_default()
    assert thread != threading.current_thread().name


async def test_a_thread_executors_nonblocking_call_waits_for_the_objects_calls(local_pin):
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(local_pin.slow_write, "slow", 0.2)
            await trio.sleep(0.05)  # the slow call runs in the thread
            await local_pin.write("quick")  # run at once, it would come first
    assert await local_pin.get_calls() == ["slow", "quick"]
    assert await local_pin.where() == (threading.current_thread().name, True)


async def test_a_thread_executors_nonblocking_call_is_a_checkpoint(local_pin):
    with trio.CancelScope() as scope:
        scope.cancel()
        await local_pin.write("cancelled")  # not made: cancelled before it
    assert scope.cancelled_caught
    with pytest.raises(ProbeError, match="failed on purpose"):
        await local_pin.fail()
    assert await local_pin.get_calls() == []


async def test_a_stopped_thread_executor_refuses_a_nonblocking_call():
    executor = ThreadExecutor()
    with pytest.raises(ExecutorNotRunning, match="not started"):
        await Pin(name=unique_name("pin"), executor=executor).write("x")
