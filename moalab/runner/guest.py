"""The trio guest run on an asyncio loop that runs the experiments started there.

In a thread with a running asyncio loop (a Jupyter kernel, ``asyncio.run``),
:func:`moalab.start` runs the tree as a trio *guest* on that loop
(:func:`trio.lowlevel.start_guest_run`): stage and device events run on the
loop's own thread, between its other callbacks, so cells can touch the tree,
its devices and the handle safely. Experiments started on one loop share one
guest run, which ends when the last of them ends.
"""

import asyncio
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import outcome
import trio

from ..core.errors import InvalidArgument

if TYPE_CHECKING:
    from .handle import RunHandle

__all__ = ("GuestHost", "current_guest_host")

_guest_host: trio.lowlevel.RunVar["GuestHost"] = trio.lowlevel.RunVar("moalab_guest_host")


def current_guest_host() -> "GuestHost | None":
    """The guest host of the trio run in this thread, if it is one of ours."""
    return _guest_host.get(None)


@contextmanager
def _trio_leaves_sigint_alone() -> Iterator[None]:
    """Keep a guest run from taking over SIGINT.

    trio installs its KeyboardInterrupt handler when it finds Python's default
    one, as in a Jupyter cell; interrupting the kernel would then cancel the
    background experiment instead of the cell. Use :meth:`RunHandle.stop` for that.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    signal.signal(signal.SIGINT, lambda *args: signal.default_int_handler(*args))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


class GuestHost:
    """One trio guest run on an asyncio loop, running the experiments started there.

    Lives in the loop's thread; its run ends when its last experiment ends.
    Experiments started while it is ending are queued and start a new run.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, clock: trio.abc.Clock | None) -> None:
        self.loop = loop
        self.clock = clock
        self.nursery: trio.Nursery | None = None
        self.closed = False
        self.done = False
        self.waiting: list["RunHandle"] = []  # to start once the run's main task runs
        self.queued: list["RunHandle"] = []  # to start in a new run after this one
        self.handles: list["RunHandle"] = []
        self.live = 0  # handles of this run that have not finished
        self.deferred: list["RunHandle"] = []  # finished, waiters woken when the run ends

    def defer_notify(self, handle: "RunHandle") -> bool:
        """Whether ``handle``'s waiters should wait for the end of the whole run.

        The last experiment of a run wakes its waiters only when the run has
        ended, so that an asyncio loop closed right after ``await handle.wait()``
        does not abandon a run that still has a few ticks to go.
        """
        self.live -= 1
        if self.done or self.live > 0:
            return False
        self.deferred.append(handle)
        return True

    def _flush_deferred(self) -> None:
        deferred, self.deferred = self.deferred, []
        for handle in deferred:
            handle.notify()

    def launch(self, handles: list["RunHandle"]) -> None:
        self.waiting = list(handles)
        self.handles = list(handles)
        self.live = len(handles)
        for handle in handles:
            handle._host = self
        with _trio_leaves_sigint_alone():
            trio.lowlevel.start_guest_run(
                self._serve,
                run_sync_soon_threadsafe=self.loop.call_soon_threadsafe,
                run_sync_soon_not_threadsafe=self.loop.call_soon,
                done_callback=self._done,
                # trio needs no signal handling of its own here (see above)
                host_uses_signal_set_wakeup_fd=True,
                clock=self.clock,
            )
        # the guest run's context stays installed in this thread between its ticks
        _guest_host.set(self)
        token = trio.lowlevel.current_trio_token()
        for handle in handles:
            handle._token = token
            handle._trio_thread = threading.get_ident()

    def add(self, handle: "RunHandle") -> None:
        """Run ``handle`` in this guest run (or the next one if this one is ending)."""
        if handle.clock is not self.clock:
            raise InvalidArgument(
                f"cannot start {handle.root.name!r} with clock={handle.clock!r}: another "
                f"experiment runs on this event loop with clock={self.clock!r}; wait for it to "
                "end, or start this one with the same clock"
            )
        handle._trio_thread = threading.get_ident()
        if not self.closed and self.nursery is None:
            self.waiting.append(handle)
        elif self.closed or not self._spawn(handle):
            self.queued.append(handle)  # this run is ending
            return
        handle._host = self
        handle._token = trio.lowlevel.current_trio_token()
        self.handles.append(handle)
        self.live += 1
        # the run goes on for the new experiment: the last one's waiters need not wait
        self._flush_deferred()

    def _spawn(self, handle: "RunHandle") -> bool:
        try:
            self.nursery.start_soon(handle.main)
        except RuntimeError:  # the nursery closed
            return False
        return True

    async def _serve(self) -> None:
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            for handle in self.waiting:
                nursery.start_soon(handle.main)
            self.waiting = []
        self.nursery = None
        self.closed = True

    def _done(self, result: outcome.Outcome[None]) -> None:
        # each handle's _main records its own end; this catches runs that never got there
        self.done = True
        error = result.error if isinstance(result, outcome.Error) else None
        for handle in self.handles:
            handle.finish("failed" if error else "stopped", error)
        self._flush_deferred()
        if self.queued:
            GuestHost(self.loop, self.clock).launch(self.queued)
