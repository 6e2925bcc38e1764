"""Methods declared ``apply_executor(blocking=False)``: a server (WebSocket and REST)
and a process executor's child run them in their trio thread, unless calls of the
same client on the object wait or run in its thread; the default stays there."""

from collections.abc import AsyncIterator

import pytest
import trio

from moalab.core.errors import InvalidArgument
from moalab.executor import apply_executor
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
