"""moalab's nursery re-raises a lone failure with its own type."""

import pytest
import trio

from moalab.core.nursery import open_nursery, unwrap_group


async def fail_after(delay, exc):
    await trio.sleep(delay)
    raise exc


async def fail_now(exc):
    raise exc


async def test_a_lone_failure_comes_out_unwrapped(autojump_clock):
    error = ValueError("x")
    with pytest.raises(ValueError) as info:
        async with open_nursery() as nursery:
            nursery.start_soon(trio.sleep, 10)  # cancelled by the failure
            nursery.start_soon(fail_after, 1, error)
    assert info.value is error
    assert trio.current_time() == 1


async def test_nested_nurseries_unwrap_too(autojump_clock):
    async def inner():
        async with open_nursery() as nursery:
            nursery.start_soon(fail_after, 1, KeyError("deep"))
            nursery.start_soon(trio.sleep_forever)

    with pytest.raises(KeyError, match="deep"):
        async with open_nursery() as nursery:
            nursery.start_soon(inner)
            nursery.start_soon(trio.sleep_forever)


async def test_two_failures_stay_a_group(autojump_clock):
    with pytest.raises(ExceptionGroup) as info:
        async with open_nursery() as nursery:
            # no checkpoint before the raise: the first failure cannot cancel the second
            nursery.start_soon(fail_now, ValueError("a"))
            nursery.start_soon(fail_now, TypeError("b"))
    assert info.group_contains(ValueError) and info.group_contains(TypeError)


async def test_cancellation_from_outside_passes_through(autojump_clock):
    with trio.move_on_after(1) as scope:
        async with open_nursery() as nursery:
            nursery.start_soon(trio.sleep_forever)
            nursery.start_soon(trio.sleep_forever)
    assert scope.cancelled_caught


def test_unwrap_group():
    a, b = ValueError("a"), TypeError("b")
    assert unwrap_group(ExceptionGroup("g", [a])) is a
    assert unwrap_group(ExceptionGroup("g", [ExceptionGroup("h", [a])])) is a
    group = ExceptionGroup("g", [a, b])
    assert unwrap_group(group) is group
