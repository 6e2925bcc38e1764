"""Future and Outbox: an outcome set from another thread wakes its trio task once,
with the value or the error; a task that gave up is not woken; many outcomes share
wake-ups of the trio thread."""

import threading
import weakref

import outcome
import pytest
import trio
import trio.testing

from moalab.executor.future import Future, Outbox, Outboxes


def _in_thread(fn, *args) -> threading.Thread:
    thread = threading.Thread(target=fn, args=args)
    thread.start()
    return thread


async def test_a_value_from_a_thread_wakes_the_task_once():
    outbox, future = Outbox(), Future()

    def set_twice() -> None:
        outbox.send(future.set, outcome.Value(42))
        outbox.send(future.set, outcome.Value(43))  # the first wins

    thread = _in_thread(set_twice)
    with trio.fail_after(10):
        assert await future.wait() == 42
    thread.join()
    await trio.sleep(0.01)  # the second outcome is delivered too, and dropped
    assert future.done


async def test_a_future_keeps_no_value_once_its_task_has_it():
    class Value:
        pass

    future, value = Future(), Value()
    kept = weakref.ref(value)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(future.wait)
        await trio.testing.wait_all_tasks_blocked()
        future.set(outcome.Value(value))
    del value
    assert future.done and kept() is None  # a job kept as an object's last holds none


async def test_an_error_from_a_thread_is_raised_in_the_task():
    outbox, future = Outbox(), Future()
    thread = _in_thread(outbox.send, future.set, outcome.Error(KeyError("lever")))
    with trio.fail_after(10), pytest.raises(KeyError, match="lever"):
        await future.wait()
    thread.join()


async def test_a_cancelled_wait_calls_on_abort_and_is_not_woken_later():
    outbox, future = Outbox(), Future()
    aborted = []
    with trio.move_on_after(0.05):
        await future.wait(lambda: aborted.append(True))
    assert aborted == [True]
    thread = _in_thread(outbox.send, future.set, outcome.Value(1))
    thread.join()
    await trio.sleep(0.05)  # delivered to nobody: no task is rescheduled twice
    assert future.done


async def test_outcomes_from_many_threads_arrive_each_once_with_few_wake_ups():
    outbox = Outbox()
    futures = [Future() for _ in range(400)]
    token = trio.lowlevel.current_trio_token()
    wake_ups = []
    original = token.run_sync_soon

    class CountingToken:  # the real token, its wake-ups counted
        def run_sync_soon(self, fn, *args):
            wake_ups.append(fn)
            original(fn, *args)

    outbox._token = CountingToken()
    threads = [_in_thread(lambda k=k: [outbox.send(f.set, outcome.Value(i))
                                       for i, f in enumerate(futures) if i % 4 == k])
               for k in range(4)]
    for thread in threads:
        thread.join()  # the trio thread does not run meanwhile: all are pending
    with trio.fail_after(10):
        values = [await f.wait() for f in futures]
    assert values == list(range(400))
    assert len(wake_ups) <= 4  # one per thread at most, not one per outcome


def test_sends_after_the_run_ended_are_dropped():
    outboxes: list[Outbox] = []

    async def main() -> None:
        outboxes.append(Outbox())

    trio.run(main)  # ended: nobody is left to receive
    outbox = outboxes[0]
    future = Future()
    for _ in range(3):
        outbox.send(future.set, outcome.Value(1))
    assert not future.done and not outbox._calls


async def test_outboxes_make_one_outbox_per_run():
    outboxes = Outboxes()
    token = trio.lowlevel.current_trio_token()
    assert outboxes[token] is outboxes[token]
    assert list(outboxes) == [token]
