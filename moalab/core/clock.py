"""The experiment clock: one time base for stage events, device changes and logs.

Inside a trio run on trio's default clock the experiment clock is
:func:`time.perf_counter` (the source trio's own clock reads, without its random
offset), so it agrees with timestamps taken in other threads and processes on
the same machine. Inside a run on any other clock (e.g.
:class:`trio.testing.MockClock` for a dry run) it is that clock's virtual time.
Outside a trio run it is :func:`time.perf_counter`.
"""

from time import perf_counter

import trio
from trio._core._run import SystemClock  # trio does not export the class of its default clock

__all__ = ("now", "sleep_until", "to_trio_time")

# A sleep ends this long before its deadline and spins on checkpoints for the
# rest: epoll rounds its timeout up to whole milliseconds, which alone would
# make every Delay end up to 1 ms late.
_SPIN_WINDOW = 0.0015


def now() -> float:
    """Return the current experiment time in seconds."""
    try:
        clock = trio.lowlevel.current_clock()
    except RuntimeError:
        return perf_counter()
    if type(clock) is SystemClock:
        return perf_counter()
    return clock.current_time()


def to_trio_time(t: float) -> float:
    """Convert experiment time ``t`` to trio's clock (for deadlines); needs a run."""
    return trio.current_time() + (t - now())


async def sleep_until(t: float) -> None:
    """Sleep until experiment time ``t``, to well under a millisecond on a real clock.

    On a virtual clock it is a plain :func:`trio.sleep_until`.
    """
    clock = trio.lowlevel.current_clock()
    if type(clock) is not SystemClock:
        await trio.sleep_until(to_trio_time(t))
        return
    if t - perf_counter() > _SPIN_WINDOW:
        await trio.sleep_until(to_trio_time(t - _SPIN_WINDOW))
    while True:
        await trio.lowlevel.checkpoint()
        if perf_counter() >= t:
            return
