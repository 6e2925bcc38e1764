"""Waiting for threads under a dry run's clock: no busy poll, the clock still jumps."""

import threading

import trio
import trio.testing

from moalab.core.realtime import THREAD_WAIT_AUTOJUMP, run_in_thread


def test_a_dry_runs_clock_waits_a_little_while_threads_run_and_jumps_at_once_after():
    clock = trio.testing.MockClock(autojump_threshold=0)
    seen = []
    release = threading.Event()

    def work(name):
        seen.append((name, clock.autojump_threshold))
        release.wait(5)
        return name

    async def main():
        results = []
        async with trio.open_nursery() as nursery:
            async def call(name):
                results.append(await run_in_thread(work, name))

            nursery.start_soon(call, "a")
            nursery.start_soon(call, "b")
            # a deadline while the threads run: the clock still jumps to it
            await trio.sleep(3600)
            assert clock.autojump_threshold == THREAD_WAIT_AUTOJUMP
            release.set()
        return results

    results = trio.run(main, clock=clock)
    assert sorted(results) == ["a", "b"]
    assert [threshold for _, threshold in seen] == [THREAD_WAIT_AUTOJUMP] * 2
    assert clock.autojump_threshold == 0  # restored once the last thread returned
    assert clock.current_time() >= 3600


async def test_on_trios_own_clock_it_is_to_thread():
    assert await run_in_thread(lambda x: x + 1, 41) == 42
