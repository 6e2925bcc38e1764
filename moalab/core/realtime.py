"""Time limits in real time, for code whose trio clock may be virtual."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import trio

__all__ = ("fail_after_real", "cancel_after_real")


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
