"""Generator methods through every executor: items in order, callbacks, errors,
stopping early, back-pressure, and calls that do not wait behind a stream."""

import numpy as np
import pytest
import trio

from moalab.executor.batching import BURST_BYTES
from moalab.executor.stream import DEFAULT_BUFFER

from .conftest import ALL, ALL_BUT_PROCESS, LOCAL, STREAM_WINDOW, kinds_and_methods, wait_until


async def stats_of(kind, device) -> dict:
    """The far-side object's ``stats``, read without waiting behind its sync calls."""
    if kind in LOCAL:
        return dict(device.stats)  # the object itself
    return await device.peek_stats()


@pytest.mark.parametrize("kind", ALL, indirect=True)
async def test_array_items_arrive_whole(kind, new_device):
    device = await new_device()
    # 200 kB arrays: several frames of about a MiB, sent from the arrays themselves
    with trio.fail_after(30):
        async with device.ramps(20, 100_000) as items:
            received = [item async for item in items]
    assert [(item.dtype, item.shape) for item in received] == [(np.int16, (100_000,))] * 20
    assert [int(item.min()) for item in received] == [int(item.max()) for item in received] \
        == list(range(20))


@kinds_and_methods(ALL, ("count", "async_count"))
async def test_items_in_order_with_callback(kind, new_device, method):
    device = await new_device()
    n = 1000  # more than the stream window: the reader grants credit as it goes
    with trio.fail_after(30):
        async with getattr(device, method)(0) as items:
            assert [item async for item in items] == []
        async with getattr(device, method)(n) as items:
            received = [item async for item in items]
    assert received == list(range(n))
    assert device.items_seen == received  # the callback ran here, once per item


@pytest.mark.parametrize("kind", ALL_BUT_PROCESS, indirect=True)
async def test_generator_error_reaches_the_reader(kind, new_device):
    device = await new_device()
    received = []
    with pytest.raises(ValueError, match="stopped after 5"):
        async with device.count_then_fail(5) as items:
            async for item in items:
                received.append(item)
    assert received == [0, 1, 2, 3, 4]
    assert await device.echo(1) == [[1], {}]


@kinds_and_methods(ALL, ("endless", "async_endless"))
async def test_leaving_early_stops_the_generator(kind, new_device, method):
    device = await new_device()
    received = []
    with trio.fail_after(30):
        async with getattr(device, method)() as items:
            async for index, _ in items:
                received.append(index)
                if index == 9:
                    break
        assert received == list(range(10))
        await wait_until(lambda: _closed(kind, device))
        produced = (await stats_of(kind, device))["produced"]
        await trio.sleep(0.2)
        assert (await stats_of(kind, device))["produced"] == produced


async def test_leaving_without_reading_stops_the_generator(kind, new_device):
    device = await new_device()
    with trio.fail_after(30):
        async with device.endless():
            pass
        # closed, or (cancelled before it ran) never started
        await wait_until(lambda: _closed_or_not_started(kind, device))
        await trio.sleep(0.2)
        assert await _closed_or_not_started(kind, device)


async def _closed(kind, device) -> bool:
    return (await stats_of(kind, device))["gen_closed"] == 1


async def _closed_or_not_started(kind, device) -> bool:
    stats = await stats_of(kind, device)
    return stats["gen_closed"] == 1 or stats["produced"] == 0


@kinds_and_methods(ALL, ("endless", "async_endless"))
async def test_back_pressure(kind, new_device, method):
    """A reader that stops reading holds the generator back: what it produces stays
    within the buffers on the way."""
    device = await new_device()
    # the producer's buffer, plus the batch the reader took from it (locally), or the
    # items the stream window lets travel (twice: read from the wire and granted again)
    if kind in LOCAL:
        bound = 2 * DEFAULT_BUFFER + 2
    elif kind == "rest":
        # plus what the sockets hold of 10 kB items, and the frame of about 1 MiB
        # (BURST_BYTES) the client decoded at once
        bound = DEFAULT_BUFFER + 2000 + BURST_BYTES // 10_000 + 1
    else:
        bound = DEFAULT_BUFFER + 2 * STREAM_WINDOW + 2
    with trio.fail_after(30):
        size = 10_000 if kind == "rest" else 100
        async with getattr(device, method)(size=size) as items:
            first, _ = await items.__anext__()
            assert first == 0
            # wait until production stops, then check it stays stopped
            last = -1
            while True:
                await trio.sleep(0.15)
                produced = (await stats_of(kind, device))["produced"]
                if produced == last:
                    break
                last = produced
            assert produced <= bound, f"{produced} items produced with one read"
            await trio.sleep(0.2)
            assert (await stats_of(kind, device))["produced"] == produced
            # reading on lets it go on, in order
            for expected in range(1, produced + 1):
                index, payload = await items.__anext__()
                assert index == expected and len(payload) == size
            assert (await stats_of(kind, device))["produced"] > produced


async def test_call_while_a_stream_runs(kind, new_device):
    device = await new_device()
    with trio.fail_after(30):
        async with device.endless(interval=0.005) as items:
            async for index, _ in items:
                if index == 2:
                    break
            # the generator keeps running (nobody reads): calls do not wait for it
            for i in range(5):
                start = trio.current_time()
                assert await device.echo(i) == [[i], {}]
                assert trio.current_time() - start < 2
            index, _ = await items.__anext__()
            assert index == 3


@pytest.mark.parametrize("kind", ALL_BUT_PROCESS, indirect=True)
async def test_streams_on_one_object_run_side_by_side(kind, new_device):
    device = await new_device()
    with trio.fail_after(30):
        async with device.endless() as first, device.count(50) as second:
            assert [item async for item in second] == list(range(50))
            assert (await first.__anext__())[0] == 0
