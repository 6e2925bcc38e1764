"""Real time under a virtual clock: time limits, and waiting for threads."""

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import trio

__all__ = ("fail_after_real", "cancel_after_real", "run_in_thread", "THREAD_WAIT_AUTOJUMP")

T = TypeVar("T")

THREAD_WAIT_AUTOJUMP = 0.001
"""Real seconds a dry run's clock waits before it jumps while a task waits for a
thread (see :func:`run_in_thread`)."""


@contextmanager
def fail_after_real(seconds: float) -> Iterator[trio.CancelScope]:
    """Like :func:`trio.fail_after`, counting real seconds instead of trio's clock.

    A dry run's virtual clock jumps to the next deadline whenever every task waits,
    so a ``trio.fail_after`` around network I/O would fire at once. Raises
    :class:`trio.TooSlowError` when the block was cancelled by the limit. Call from
    the trio thread.
    """
    scope = trio.CancelScope()
    timer = cancel_after_real(scope, seconds)
    try:
        with scope:
            yield scope
    finally:
        timer.cancel()
    if scope.cancelled_caught:
        raise trio.TooSlowError


def cancel_after_real(scope: trio.CancelScope, seconds: float) -> threading.Timer:
    """Cancel ``scope`` once ``seconds`` of real time have passed; return the started
    timer (``timer.cancel()`` calls it off). Call from the trio thread."""
    token = trio.lowlevel.current_trio_token()

    def expire() -> None:
        try:
            token.run_sync_soon(scope.cancel)
        except trio.RunFinishedError:
            pass

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    return timer


async def run_in_thread(fn: Callable[..., T], *args: Any,
                        limiter: trio.CapacityLimiter | None = None) -> T:
    """``trio.to_thread.run_sync(fn, *args)``, without making a dry run's clock spin.

    A :class:`trio.testing.MockClock` that jumps at once (``autojump_threshold=0``)
    has trio's loop poll without a pause while every task waits for a thread and no
    deadline is pending; the poll holds the GIL the thread needs, so a thread's
    work of milliseconds took seconds (a session's CSV log after a dry run). While
    such threads run, the clock waits :data:`THREAD_WAIT_AUTOJUMP` of real time
    before it jumps; after, it jumps at once again.
    """
    clock = trio.lowlevel.current_clock()
    # whoever made a MockClock imported trio.testing; importing it here would import
    # pytest (0.2 s) into every process where pytest is installed
    testing = sys.modules.get("trio.testing")
    if testing is None or not isinstance(clock, testing.MockClock) or \
            clock.autojump_threshold >= THREAD_WAIT_AUTOJUMP:
        return await trio.to_thread.run_sync(fn, *args, limiter=limiter)
    waits = clock.__dict__.setdefault("_moalab_thread_waits", [0, clock.autojump_threshold])
    if waits[0] == 0:
        waits[1] = clock.autojump_threshold
        clock.autojump_threshold = THREAD_WAIT_AUTOJUMP
    waits[0] += 1
    try:
        return await trio.to_thread.run_sync(fn, *args, limiter=limiter)
    finally:
        waits[0] -= 1
        if waits[0] == 0:
            clock.autojump_threshold = waits[1]
