import time

import trio

from moalab.executor.worker import WorkerThread


async def test_outcomes_arrive_in_order_and_each_as_soon_as_ready():
    with WorkerThread() as worker:
        delivered: list[tuple[int, float]] = []
        start = time.perf_counter()
        jobs = [worker.submit(time.sleep, (0.01,), deliver=lambda _, i=i: delivered.append(
            (i, time.perf_counter() - start))) for i in range(20)]
        # a slow job behind them: the others' outcomes do not wait for it
        slow = worker.submit(time.sleep, (2.0,))
        with trio.fail_after(1.5):
            while len(delivered) < len(jobs):
                await trio.sleep(0.005)
        assert [i for i, _ in delivered] == list(range(20))
        assert await slow.wait() is None


async def test_many_outcomes_while_the_trio_thread_is_busy():
    with WorkerThread() as worker:
        results: list[int] = []
        for i in range(200):
            worker.submit(lambda x: x * 2, (i,), deliver=lambda r: results.append(r.unwrap()))
        time.sleep(0.2)  # the trio thread busy: all outcomes wait for one wake-up
        with trio.fail_after(5):
            while len(results) < 200:
                await trio.sleep(0.001)
        assert results == [2 * i for i in range(200)]
