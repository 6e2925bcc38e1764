"""ArrivalOrder: tasks start in the order their turns were taken, whatever order trio
runs them in, and a turn given up (cancelled) does not hold up or reorder the rest."""

import random

import pytest
import trio

from moalab.executor.ordering import ArrivalOrder

TASKS = 200


async def _start_all(order: ArrivalOrder, n: int, started: list[int],
                     nursery: trio.Nursery, pause: bool = False) -> None:
    async def task(i: int, turn) -> None:
        if pause:  # some tasks reach their turn late, in trio's random order
            await trio.sleep(random.random() * 0.01)
        await turn.wait()
        started.append(i)

    for i in range(n):
        nursery.start_soon(task, i, order.take())


@pytest.mark.parametrize("pause", [False, True])
async def test_tasks_start_in_arrival_order(pause, autojump_clock):
    order = ArrivalOrder()
    started: list[int] = []
    async with trio.open_nursery() as nursery:
        await _start_all(order, TASKS, started, nursery, pause)
    assert started == list(range(TASKS))


async def test_trio_alone_does_not_keep_the_order(autojump_clock):
    # what the helper is for: without it, the same tasks start out of order
    started: list[int] = []

    async def task(i: int) -> None:
        started.append(i)

    async with trio.open_nursery() as nursery:
        for batch in range(20):
            for i in range(10):
                nursery.start_soon(task, batch * 10 + i)
            await trio.lowlevel.checkpoint()
    assert started != list(range(200))


async def test_a_turn_given_up_lets_the_others_go_in_order(autojump_clock):
    order = ArrivalOrder()
    started: list[str] = []
    first = order.take()
    scopes = {}

    async def task(name: str, turn) -> None:
        with trio.CancelScope() as scopes[name]:
            await turn.wait()
            started.append(name)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(task, "b", order.take())
        nursery.start_soon(task, "c", order.take())
        nursery.start_soon(task, "d", order.take())
        await trio.sleep(1)  # all three wait for the first turn
        assert started == []
        scopes["c"].cancel()
        await trio.sleep(1)
        assert started == []  # d waits for the first turn still, not for c
        await first.wait()
        started.append("a")
    assert started == ["a", "b", "d"]


async def test_the_last_turn_given_up_does_not_hold_up_the_next(autojump_clock):
    order = ArrivalOrder()
    started: list[str] = []
    first = order.take()
    with trio.move_on_after(1):
        await order.take().wait()  # waits for the first turn, gives up
    after = order.take()

    async def task() -> None:
        await after.wait()
        started.append("after")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(task)
        await trio.sleep(1)
        assert started == []  # it waits for the first turn
        await first.wait()
    assert started == ["after"]


async def test_a_turn_that_has_come_takes_no_scheduler_round(autojump_clock):
    # the call path is hot: with the earlier turns started, waiting is free
    order = ArrivalOrder()
    ran: list[str] = []

    async def other() -> None:
        ran.append("other")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(other)
        for _ in range(50):
            await order.take().wait()
        assert ran == []  # no other task ran meanwhile: this one never yielded
    late = order.take()
    with trio.CancelScope() as scope:
        scope.cancel()
        await late.wait()
    assert scope.cancelled_caught
    await order.take().wait()  # the cancelled one counts as started: this one is free


def test_all_started_says_whether_a_call_may_start_without_a_turn():
    order = ArrivalOrder()
    assert order.all_started()
    turn = order.take()
    assert not order.all_started()
    turn._start()
    assert order.all_started()


async def test_an_async_thread_executors_sync_and_async_calls_start_in_call_order():
    # a sync call whose turn has come runs at once in the loop, without a task: it must
    # not overtake async calls waiting for theirs
    from moalab.executor import AsyncThreadExecutor

    from .conftest import unique_name
    from .devices import Probe

    async with AsyncThreadExecutor() as executor:
        device = Probe(name=unique_name("probe"), executor=executor)
        issued = []

        async def call(i: int) -> None:
            issued.append(i)  # no checkpoint between this and the call going out
            await (device.record if i % 3 else device.async_record)(i)

        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                for i in range(60):
                    nursery.start_soon(call, i)
        assert await device.get_calls() == issued
