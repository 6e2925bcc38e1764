"""The experiment clock follows trio's clock: real time, or virtual time under MockClock."""

from datetime import datetime
from time import perf_counter

import pytest
import trio
import trio.testing

from moalab import now
from moalab.core.clock import clock_kind, clock_origin, clock_reader, sleep_until, to_trio_time


def test_now_outside_a_run_is_perf_counter():
    before = perf_counter()
    t = now()
    assert before <= t <= perf_counter()


async def test_now_on_the_real_clock_is_perf_counter():
    before = perf_counter()
    t = now()
    assert before <= t <= perf_counter()
    # trio's own clock has a random offset; the experiment clock does not
    assert to_trio_time(t) == pytest.approx(trio.current_time(), abs=0.01)


async def test_now_on_a_mock_clock_is_virtual_time(autojump_clock):
    assert now() == trio.current_time()
    await trio.sleep(1234.5)
    assert now() == trio.current_time()
    assert to_trio_time(now() + 5) == trio.current_time() + 5


def test_virtual_time_passes_at_once():
    async def main():
        start = now()
        await sleep_until(start + 3600)
        return now() - start

    wall = perf_counter()
    elapsed = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert elapsed == 3600
    assert perf_counter() - wall < 5


async def test_sleep_until_on_the_real_clock_is_not_early():
    for delay in (0.0005, 0.01, 0.03):
        target = now() + delay
        await sleep_until(target)
        late = now() - target
        assert 0 <= late < 0.5  # never early; late only by scheduling (generous bound)


async def test_sleep_until_a_past_time_returns_and_is_a_checkpoint():
    with trio.CancelScope() as scope:
        scope.cancel()
        await sleep_until(now() - 1)
        pytest.fail("sleep_until did not check for cancellation")
    assert scope.cancelled_caught


async def test_sleep_until_is_cancellable_on_the_real_clock():
    with trio.move_on_after(0.02) as scope:
        await sleep_until(now() + 60)
    assert scope.cancelled_caught


async def test_clock_reader_reads_the_run_clock_in_another_thread(autojump_clock):
    await trio.sleep(250)
    read = clock_reader()
    # in a worker thread moalab.now() is real time; the reader is the run's virtual clock
    in_thread = await trio.to_thread.run_sync(lambda: (read(), now()))
    assert in_thread[0] == 250
    assert in_thread[1] != 250 and clock_kind() == "virtual"


async def test_clock_reader_on_the_real_clock_is_real_time():
    read = clock_reader()
    before = perf_counter()
    t = await trio.to_thread.run_sync(read)
    assert before <= t <= perf_counter() and clock_kind() == "real"


async def test_clock_origin_pairs_wall_and_experiment_time(autojump_clock):
    await trio.sleep(3)
    before = datetime.now().astimezone()
    origin = clock_origin()
    assert origin.start_time == 3 and origin.clock == "virtual"
    assert origin.started_at.utcoffset() is not None
    assert 0 <= (origin.started_at - before).total_seconds() < 1
    assert origin.as_dict() == {"started_at": origin.started_at.isoformat(),
                                "start_time": 3, "clock": "virtual"}
    iso = origin.started_at.isoformat()
    assert origin.text() == f"started_at: {iso}  start_time: 3.0  clock: virtual"
