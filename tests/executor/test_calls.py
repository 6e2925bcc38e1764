"""Calls through every executor: results, callbacks, errors, timeouts, cancellation,
concurrency and order."""

import os
import threading

import pytest
import trio

from moalab.core.errors import InvalidArgument
from moalab.executor import ExecutorContext, ExecutorTimeout, NotAllowed, RemoteError
from moalab.executor.websocket import WebSocketExecutor

from .conftest import (
    ALL,
    ALL_BUT_PROCESS,
    ASYNC_BUT_PROCESS,
    REMOTE,
    REMOTE_BUT_PROCESS,
    SERVED,
    kinds_and_methods,
    unique_name,
    wait_until,
)
from .devices import Probe, ProbeError
from .proxy import open_delay_proxy


async def test_sync_call_result_and_callback(new_device):
    device = await new_device()
    result = await device.echo(1, "two", [3.5], key={"a": None})
    assert result == [[1, "two", [3.5]], {"key": {"a": None}}]
    assert device.results_seen == [result]


async def test_async_call(new_async_device):
    device = await new_async_device()
    assert await device.async_add(2, 3.5) == 5.5


async def test_thread_executor_refuses_async_methods():
    from moalab.executor import ThreadExecutor

    async with ThreadExecutor() as executor:
        device = Probe(name="probe", executor=executor)
        with pytest.raises(InvalidArgument, match="AsyncThreadExecutor"):
            await device.async_add(1, 2)


@pytest.mark.parametrize("kind", ALL_BUT_PROCESS, indirect=True)
async def test_executor_context(kind):
    async with kind.make() as executor:
        device = Probe(name=unique_name())
        await executor.ensure_remote_instance(device)
        here = [os.getpid(), threading.get_ident()]
        assert await device.where() == here  # no executor: a direct call
        with ExecutorContext(executor) as entered:
            assert entered is executor
            assert await device.where() != here
            assert await device.echo(7) == [[7], {}]
        assert await device.where() == here


@pytest.mark.parametrize("kind", ["thread", "dummy"], indirect=True)
async def test_own_executor_wins_over_context(kind):
    async with kind.make() as executor:
        device = await _device_on(executor)
        other = Probe(name=unique_name())
        with ExecutorContext(_NeverUsed()):
            assert await device.where() != [os.getpid(), threading.get_ident()]
            with pytest.raises(AssertionError, match="never used"):
                await other.where()


class _NeverUsed:
    async def execute(self, *args, **kwargs):
        raise AssertionError("never used")


async def _device_on(executor, cls=Probe):
    device = cls(name=unique_name(), executor=executor)
    await executor.ensure_remote_instance(device)
    return device


# ------------------------------------------------------------------ exceptions

async def test_exception_keeps_its_type(kind, new_device):
    device = await new_device()
    with pytest.raises(ValueError, match="bad value 42") as info:
        await device.fail_value("bad value 42")
    if kind in REMOTE:
        far_side, = [note for note in info.value.__notes__ if "Raised on the far side" in note]
        if kind in SERVED:  # a moalab-server keeps its tracebacks in its log
            assert info.value.remote_traceback == "" and "log" in far_side
        else:
            assert "fail_value" in info.value.remote_traceback and "fail_value" in far_side
    with pytest.raises(ProbeError, match="custom") as info:
        await device.fail_custom("custom")
    if kind in REMOTE and kind not in SERVED:
        assert "ProbeError" in info.value.remote_traceback
    # the executor still works after an error
    assert await device.echo(1) == [[1], {}]


@pytest.mark.parametrize("remote_kind", REMOTE_BUT_PROCESS, indirect=True)
async def test_unknown_exception_type_becomes_remote_error(remote_kind, new_remote_device):
    device = await new_remote_device()
    with pytest.raises(RemoteError, match="a type the caller cannot import") as info:
        await device.fail_unknown()
    assert "LocalOnlyError" in info.value.remote_type
    # a moalab-server sends no traceback
    assert ("fail_unknown" in info.value.remote_traceback) == (remote_kind not in SERVED)


@pytest.mark.parametrize("remote_kind", REMOTE_BUT_PROCESS, indirect=True)
async def test_refused_methods(new_remote_device, remote_executor):
    device = await new_remote_device()

    def __init__(self):  # noqa: N807 - a dunder name sent as a method
        pass

    for fn in (Probe.not_exposed, Probe._private.__wrapped__, __init__):
        with pytest.raises(NotAllowed):
            await remote_executor.execute(device, fn)
    # a generator method called as a plain call is refused too
    with pytest.raises(NotAllowed, match="generator"):
        await remote_executor.execute(device, Probe.count.__wrapped__, (3,))
    assert await device.echo(1) == [[1], {}]


# -------------------------------------------------------------------- timeouts

async def test_executor_timeout(async_kind):
    async with async_kind.make(timeout=0.3) as executor:
        device = await _device_on(executor)
        with trio.fail_after(10):
            with pytest.raises(ExecutorTimeout, match="async_sleep"):
                await device.async_sleep(30)
        await wait_until(lambda: _stat(device, "async_cancelled", 1))
        assert (await device.get_stats())["async_finished"] == 0
        assert await device.async_add(1, 1) == 2


@pytest.mark.parametrize("async_kind", ASYNC_BUT_PROCESS, indirect=True)
async def test_per_call_timeout(async_executor, new_async_device):
    device = await new_async_device()
    with trio.fail_after(10):
        with pytest.raises(ExecutorTimeout):
            await async_executor.execute(device, Probe.async_sleep.__wrapped__, (30,),
                                         timeout=0.3)
    await wait_until(lambda: _stat(device, "async_cancelled", 1))
    # a call within its timeout returns normally
    assert await async_executor.execute(device, Probe.async_sleep.__wrapped__, (0.01,),
                                        timeout=20) == 0.01


async def test_sync_timeout_on_thread_executor():
    from moalab.executor import ThreadExecutor

    async with ThreadExecutor(timeout=0.2) as executor:
        device = Probe(name="probe", executor=executor)
        with pytest.raises(ExecutorTimeout):
            await device.sleep(0.6)
        # a sync call cannot be interrupted: the queue goes on once it has finished
        await trio.sleep(0.6)
        assert await device.echo(1) == [[1], {}]


@pytest.mark.parametrize("kind", ALL, indirect=True)
async def test_a_sync_method_timed_out_says_it_runs_on_and_the_next_call_waits(kind):
    # the message said "it was cancelled": a sync method cannot be, on any executor
    async with kind.make(timeout=0.3) as executor:
        device = await _device_on(executor)
        with trio.fail_after(10):
            with pytest.raises(ExecutorTimeout) as raised:
                await device.sleep(1.2)
            message = str(raised.value)
            assert f"{device.name}.sleep did not finish within 0.3 s" in message
            assert "cancelled" not in message
            assert "abandoned" in message and "still runs" in message, message
            assert f"calls on {device.name} wait for it" in message, message
            start = trio.current_time()
            assert await executor.execute(device, Probe.echo.__wrapped__, (1,),
                                          timeout=10) == [[1], {}]
            assert trio.current_time() - start > 0.4  # behind the sleep's last 0.9 s


def test_timeout_must_be_positive():
    from moalab.executor import ThreadExecutor

    with pytest.raises(InvalidArgument, match="timeout"):
        ThreadExecutor(timeout=0)


async def _peek(device, key, expected):
    return (await device.peek_stats())[key] == expected


async def _stat(device, key, expected):
    return (await device.get_stats())[key] == expected


# ---------------------------------------------------------------- cancellation

async def test_cancelling_the_caller_cancels_the_far_side(new_async_device):
    device = await new_async_device()
    with trio.move_on_after(0.3) as scope:
        await device.async_sleep(30)
    assert scope.cancelled_caught
    await wait_until(lambda: _stat(device, "async_cancelled", 1))
    stats = await device.get_stats()
    assert stats["async_started"] == 1 and stats["async_finished"] == 0


# an AsyncThreadExecutor runs sync calls at once: it has no queue to skip from
@pytest.mark.parametrize("kind", [kind for kind in ALL if kind != "async_thread"], indirect=True)
async def test_cancelled_queued_call_is_skipped(kind, new_device):
    device = await new_device()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(device.sleep, 0.5)
        await wait_until(lambda: device.stats["sync_started"] == 1 if kind == "thread"
                         else _peek(device, "sync_started", 1))
        with trio.move_on_after(0.05):
            await device.record("skipped")  # queued behind the sleep, then abandoned
    await device.record("done")
    assert await device.get_calls() == ["done"]


# ------------------------------------------------------------ concurrency, order

async def test_calls_on_different_objects_overlap(remote_executor):
    devices = [await _device_on(remote_executor) for _ in range(8)]
    start = trio.current_time()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            for device in devices:
                nursery.start_soon(device.sleep, 0.5)
    elapsed = trio.current_time() - start
    assert elapsed < 0.5 * 8 / 2, f"8 calls of 0.5 s took {elapsed:.2f} s: they did not overlap"


async def test_async_calls_overlap(async_executor):
    devices = [await _device_on(async_executor) for _ in range(8)]
    start = trio.current_time()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            for device in devices:
                nursery.start_soon(device.async_sleep, 0.5)
    elapsed = trio.current_time() - start
    assert elapsed < 0.5 * 8 / 2, f"8 calls of 0.5 s took {elapsed:.2f} s: they did not overlap"


# each REST call is its own HTTP request: concurrent ones have no order
@kinds_and_methods(tuple(kind for kind in ALL if kind != "rest"), ("record", "async_record"))
async def test_calls_on_one_object_keep_their_order(kind, new_device, method):
    device = await new_device()
    issued = []

    async def call(i):
        issued.append(i)  # no checkpoint between this and the call going out
        await getattr(device, method)(i)

    async with trio.open_nursery() as nursery:
        for i in range(40):
            nursery.start_soon(call, i)
    assert sorted(issued) == list(range(40))
    assert await device.get_calls() == issued


@pytest.mark.parametrize("kind", ALL, indirect=True)
async def test_array_results_arrive_as_arrays(kind, new_device):
    import numpy as np

    device = await new_device()
    # 400 kB: a process child's frame this large is received straight into its buffer
    result = await device.ramp(100_000)
    assert isinstance(result, np.ndarray) and result.dtype == np.float32  # REST too: msgpack
    np.testing.assert_array_equal(result, np.arange(100_000, dtype=np.float32))


@pytest.mark.parametrize("kind", ALL_BUT_PROCESS, indirect=True)
async def test_numpy_arrays_travel(kind, new_device):
    import numpy as np

    device = await new_device()
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    (received,), _ = await device.echo(array)
    if kind == "rest":  # arguments travel as JSON: the device gets a list, and echoes it
        assert received == array.tolist()
    else:
        assert isinstance(received, np.ndarray) and received.dtype == np.float32
        np.testing.assert_array_equal(received, array)


async def test_a_call_cancelled_while_its_request_is_written_leaves_the_link_whole(
        moalab_server):
    """A caller cancelled in the middle of writing its request (a 12 MB argument to a
    rig that stopped reading) must not leave half a WebSocket message on the stream:
    once the rig reads again the link is up and the next call is answered (the link
    used to break, and die of silence seconds later)."""
    async with open_delay_proxy(moalab_server.port) as proxy:
        executor = WebSocketExecutor("127.0.0.1", proxy.port, heartbeat=(0.5, 2.5))
        downs = []
        executor.add_link_listener(lambda up: up or downs.append(trio.current_time()))
        async with executor:
            device = await _device_on(executor)
            proxy.black_hole()
            with trio.move_on_after(0.5) as scope:  # the write is blocked half way
                await device.echo(os.urandom(12 << 20))
            assert scope.cancelled_caught
            proxy.restore()
            with trio.fail_after(5):
                assert await device.echo(1) == [[1], {}]
            await trio.sleep(3)  # past the heartbeat's dead time: a broken link is seen
            assert downs == [] and executor.connected
