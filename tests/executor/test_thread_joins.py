"""Threads are joined by whoever started them: a ThreadStream's producer by the end
of its stream, the objects' worker threads by the registry's close (a delete never
waits: the thread ends after its queued calls); each bounded, so a device blocked for
ever does not hang the end."""

import logging
import threading
import time

import trio

from moalab.executor import registry as registry_module
from moalab.executor import stream as stream_module
from moalab.executor.registry import ObjectRegistry
from moalab.executor.stream import ThreadStream

PROBE = "tests.executor.devices:Probe"


def _threads() -> set[threading.Thread]:
    # trio's own thread cache (its idle threads end by themselves) is not ours
    return {t for t in threading.enumerate() if not t.name.startswith("Trio thread")}


def _slow_items(interval: float, closed: list[bool]):
    try:
        while True:
            time.sleep(interval)
            yield interval
    finally:
        closed.append(True)


async def test_a_thread_stream_joins_its_thread_at_its_end():
    before = _threads()
    closed: list[bool] = []
    async with ThreadStream(_slow_items, (0.3, closed)) as buffer:
        assert await buffer.receive_batch() == [0.3]
    # the generator was between two items: the end waited for it to close
    assert closed == [True]
    assert _threads() - before == set()


async def test_a_cancelled_thread_stream_joins_its_thread_too():
    before = _threads()
    closed: list[bool] = []
    with trio.move_on_after(0.1):
        async with ThreadStream(_slow_items, (0.3, closed)) as buffer:
            await buffer.receive_batch()
    assert closed == [True]
    assert _threads() - before == set()


async def test_a_generator_blocked_longer_is_logged_and_left_to_end(caplog):
    before = _threads()
    closed: list[bool] = []
    start = time.perf_counter()
    with caplog.at_level(logging.WARNING, "moalab.executor.stream"):
        async with ThreadStream(_slow_items, (stream_module.STOP_TIMEOUT + 3, closed)):
            pass
    waited = time.perf_counter() - start
    assert 0.9 * stream_module.STOP_TIMEOUT <= waited < stream_module.STOP_TIMEOUT + 2.5
    assert "_slow_items did not stop within" in caplog.text
    with trio.fail_after(10):  # it ends at its next item
        while _threads() - before:
            await trio.sleep(0.05)
    assert closed == [True]


async def test_a_remote_objects_stream_joins_its_thread():
    registry = ObjectRegistry(allow=["tests.executor"])
    try:
        remote, _ = registry.create("probe", PROBE)
        before = _threads()
        async with remote.stream("endless", [0, 0.3]) as items:
            await items.receive_batch()
        assert _threads() - before == set()
        assert remote.obj.stats["gen_closed"] == 1  # its thread has ended
    finally:
        registry.close()


async def test_deleting_an_object_closes_it_at_once_and_its_thread_ends_after_its_calls():
    before = _threads()
    registry = ObjectRegistry(allow=["tests.executor"])
    remote, _ = registry.create("probe", PROBE)
    order: list[str] = []
    remote.obj.close = lambda: order.append("close")
    jobs = [remote.worker.submit(lambda: (time.sleep(0.2), order.append("call"))[1])
            for _ in range(2)]
    await trio.sleep(0.05)  # the first call runs, the second waits in the queue
    start = time.perf_counter()
    registry.delete("probe")
    assert time.perf_counter() - start < 0.1  # the trio thread waits for no call
    assert registry.objects == {} and order == ["close"]  # its pins are free now
    for job in jobs:
        await job.wait()
    assert order == ["close", "call", "call"]  # the queued calls ran all the same
    assert remote.join(5)
    assert _threads() - before == set()


async def test_closing_a_registry_with_an_object_blocked_in_a_call_is_bounded_and_logged(
        caplog):
    before = _threads()
    registry = ObjectRegistry(allow=["tests.executor"])
    remote, _ = registry.create("probe", PROBE)
    blocked = registry_module.CLOSE_TIMEOUT + 3
    job = remote.worker.submit(remote.method("sleep", "call"), (remote.obj, blocked))
    await trio.sleep(0.05)
    start = time.perf_counter()
    with caplog.at_level(logging.WARNING, "moalab.executor.registry"):
        registry.close()
    waited = time.perf_counter() - start
    assert 0.9 * registry_module.CLOSE_TIMEOUT <= waited < registry_module.CLOSE_TIMEOUT + 2.5
    assert "'probe': its thread 'moalab-object-probe' still runs a call" in caplog.text
    assert registry.objects == {}
    with trio.fail_after(10):  # the call returns, its thread ends
        assert await job.wait() == blocked
        while _threads() - before:
            await trio.sleep(0.05)
