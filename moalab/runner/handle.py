"""RunHandle: a run started in the background, steered from any thread.

:func:`~moalab.runner.launch.start` makes one; the tree runs either as a trio
guest on the caller's asyncio loop (:mod:`moalab.runner.guest`) or in a thread
of its own. The handle carries its controls into the thread the tree runs in.
"""

import asyncio
import concurrent.futures
import threading
import time
import warnings
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import trio

from ..core.clock import ClockOrigin
from ..core.errors import InvalidArgument, StageStateError
from ..core.records import Record
from ..log.logger import COLUMNS, record_rows
from ..log.sink import MemorySink, TreeSink
from ..stage.snapshot import StageSnapshot, snapshot_tree
from .display import run_handle_html
from .run import Run, Status

if TYPE_CHECKING:
    import pandas

    from .guest import GuestHost

__all__ = ("RunHandle",)

_WAIT_SLICE = 0.1  # seconds


class RunHandle:
    """A running (or finished) experiment: its status, controls, and records.

    Made by :func:`~moalab.start` and :func:`~moalab.run`, not directly. Reading
    attributes is safe from any thread; :meth:`pause`, :meth:`resume` and
    :meth:`stop` run their action in the thread the tree runs in (at once on
    that thread, else carried there and waited for).
    """

    def __init__(self, run: Run, memory: MemorySink | None, tree: TreeSink,
                 clock: trio.abc.Clock | None) -> None:
        self.run = run
        """The :class:`~moalab.runner.run.Run` behind this handle."""
        self.memory = memory
        """The sink behind :attr:`records` and :attr:`log`, or None (``log=False``)."""
        self._tree = tree
        self.clock = clock
        self._token: trio.lowlevel.TrioToken | None = None
        self._trio_thread: int | None = None
        self._ready = threading.Event()  # set once the run has its token (or ended)
        self._host: "GuestHost | None" = None  # the guest run it runs in, if any
        self._finished: concurrent.futures.Future[RunHandle] = concurrent.futures.Future()
        self._started_at = time.monotonic()
        self._ended_at: float | None = None

    def __repr__(self) -> str:
        where = ", ".join(self.current_path)
        at = f" at {where}" if where else ""
        return f"<RunHandle {self.root.name!r} {self.status} {self.elapsed:.1f} s{at}>"

    def _repr_html_(self) -> str:
        error = None if self.error is None else repr(self.error)
        return run_handle_html(self.tree, status=self.status, elapsed=self.elapsed, error=error)

    # ------------------------------------------------------------------ state

    @property
    def root(self) -> Any:
        """The root :class:`~moalab.MoaStage` of the tree this run runs (the run's
        :attr:`Run.root`). Read it from any thread; steer the tree with :meth:`pause`,
        :meth:`resume` and :meth:`stop`, not by calling its stages from another thread."""
        return self.run.root

    @property
    def devices(self) -> tuple[Any, ...]:
        """The devices the run pumps and records, as given to :func:`~moalab.start`
        (a tuple; empty if none)."""
        return self.run.devices

    @property
    def executors(self) -> tuple[Any, ...]:
        """The executors the run enters before the tree starts and leaves after it
        ends, as given to :func:`~moalab.start` (a tuple; empty if none)."""
        return self.run.executors

    @property
    def run_id(self) -> str:
        """The run's id (12 hexadecimal digits unless one was given): the ``run_id``
        of each of its records."""
        return self.run.run_id

    @property
    def error(self) -> BaseException | None:
        """The exception a failed run raised, else None."""
        return self.run.error

    @property
    def origin(self) -> ClockOrigin | None:
        """When the run started (wall clock and experiment clock, real or virtual);
        None until it has."""
        return self.run.origin

    @property
    def status(self) -> Status:
        """'running' (also before the root has started), 'paused', 'stopped', 'done'
        or 'failed' (see :attr:`error`)."""
        status = self.run.status
        return "running" if status == "pending" else status

    @property
    def finished(self) -> bool:
        """Whether the run has ended (its pumps, executors and sinks done)."""
        return self.run.finished

    @property
    def elapsed(self) -> float:
        """Seconds (wall clock) from the start until the end, or until now if running."""
        end = self._ended_at if self._ended_at is not None else time.monotonic()
        return end - self._started_at

    @property
    def current_path(self) -> tuple[str, ...]:
        """The paths of the deepest active stages (several where children run in
        parallel); empty before the root starts and after it ends."""
        return self.tree.active_paths

    @property
    def tree(self) -> StageSnapshot:
        """The stage tree as the run's records tell it so far (before the run's start,
        as the stages are)."""
        return self._tree.snapshot() or snapshot_tree(self.root)

    @property
    def records(self) -> list[Record]:
        """The run's records so far, in order (:class:`~moalab.Record` s: a
        :class:`~moalab.RunStart` first, a :class:`~moalab.RunEnd` last once ended).

        Raises :class:`InvalidArgument` if the run was started with ``log=False``.
        """
        if self.memory is None:
            raise InvalidArgument(
                f"the run of {self.root.name!r} was started with log=False, so it kept no "
                "records: start it with log=True, or pass loggers=[...] of your own"
            )
        return self.memory.records

    @property
    def log(self) -> "pandas.DataFrame":
        """The rows of the records so far as a pandas DataFrame with columns
        ``index, timestamp, name, trigger, item, value`` (as a CSV log has them);
        its ``attrs`` hold the run's :attr:`origin` (``started_at`` in ISO 8601,
        ``start_time``, ``clock``) once it has started.

        Raises :class:`InvalidArgument` if the run was started with ``log=False``.
        """
        records = list(self.records)
        import pandas  # imported here: pandas is slow to import and only needed for this

        rows, index = [], 0
        for record in records:
            produced = record_rows(record, index)
            if produced:
                rows.extend(produced)
                index += 1
        frame = pandas.DataFrame(rows, columns=list(COLUMNS))
        if self.origin is not None:
            frame.attrs.update(self.origin.as_dict())
        return frame

    # ---------------------------------------------------------------- control

    def pause(self) -> None:
        """Pause the tree (see :meth:`MoaStage.pause`); device pumps keep running.

        Before the root has started, the pause is applied as it starts. Raises
        :class:`StageStateError` if the run is not running (paused or ended).
        """
        self._call_in_trio(self._pause_in_trio, "pause")

    def resume(self) -> None:
        """Resume a paused tree. Raises :class:`StageStateError` if it is not paused."""
        self._call_in_trio(self.run.resume, "resume")

    def stop(self) -> None:
        """Stop the run: the tree stops, cleans up and ends as 'stopped'.

        Returns without waiting for the end (use :meth:`wait`); does nothing
        if the run has ended.
        """
        if not self.finished:
            self._call_in_trio(self.run.stop, "stop", finished_ok=True)

    def wait(self, timeout: float | None = None) -> Any:
        """Wait for the run to end and return this handle.

        In a thread running an asyncio loop (a notebook cell, a coroutine) it
        returns an awaitable: ``await handle.wait()``. Elsewhere it blocks.
        Blocking in the thread the tree runs in would freeze it, so there it
        raises :class:`StageStateError`. Raises :class:`TimeoutError` if
        ``timeout`` seconds pass first. A :exc:`KeyboardInterrupt` while
        blocked stops the run, waits for its cleanup and is re-raised.
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            return _RunWait(self, timeout)
        if not self.finished and threading.get_ident() == self._trio_thread:
            raise StageStateError(
                f"RunHandle.wait() cannot block here: this thread runs the experiment "
                f"{self.root.name!r}, so blocking would freeze it; use `await handle.wait()` "
                "from a coroutine or notebook cell on its event loop"
            )
        return self.block(timeout)

    def block(self, timeout: float | None) -> "RunHandle":
        """Block until the run ends (see :meth:`wait`)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while not self._finished.done():
                left = _WAIT_SLICE if deadline is None else deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"the run of {self.root.name!r} is still {self.status} after {timeout} s"
                    )
                # in short slices: a Ctrl-C that the OS hands to another thread
                # still gets its handler run here, in the main thread, soon
                concurrent.futures.wait([self._finished], min(left, _WAIT_SLICE))
        except KeyboardInterrupt:
            self._ready.wait()
            self.stop()
            self._finished.result()
            raise
        return self

    async def _wait_async(self, timeout: float | None) -> "RunHandle":
        # shield: cancelling this wait must not cancel the handle's own future
        waiter = asyncio.shield(asyncio.wrap_future(self._finished))
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            raise TimeoutError(
                f"the run of {self.root.name!r} is still {self.status} after {timeout} s"
            ) from None
        return self

    # ---------------------------------------------------------- in the trio thread

    def _call_in_trio(self, fn: Callable[[], None], what: str, finished_ok: bool = False) -> None:
        if self._trio_thread is None or threading.get_ident() == self._trio_thread:
            fn()
            return
        if self._token is None:
            raise StageStateError(
                f"cannot {what} the run of {self.root.name!r} from this thread yet: it waits for "
                "the previous run on its event loop to end; try again in a moment"
            )
        try:
            trio.from_thread.run_sync(fn, trio_token=self._token)
        except trio.RunFinishedError:
            if not finished_ok:
                raise StageStateError(
                    f"cannot {what} the run of {self.root.name!r}: it is {self.status}"
                ) from None

    def _pause_in_trio(self) -> None:
        self.run.pause(by="user")

    async def main(self) -> None:
        """The whole run, in the trio thread (see :meth:`Run.execute`)."""
        self._token = trio.lowlevel.current_trio_token()
        self._trio_thread = threading.get_ident()
        self._ready.set()
        try:
            await self.run.execute()
        finally:
            self.finish("stopped")

    def finish(self, status: Status, error: BaseException | None = None) -> None:
        """Mark the run ended (if its runner has not) and wake whoever waits."""
        if self._ended_at is not None:
            return
        self.run.end(status, error)
        self._ended_at = time.monotonic()
        self._ready.set()
        if self._host is None or not self._host.defer_notify(self):
            self.notify()

    def notify(self) -> None:
        """Wake whoever waits for the end."""
        if not self._finished.done():
            self._finished.set_result(self)

    def run_in_thread(self) -> None:
        """Run with :func:`trio.run` in the calling (new) thread."""
        try:
            trio.run(self.main, clock=self.clock)
        except BaseException as exc:  # noqa: BLE001 - a thread has no one to raise to
            self.finish("failed", exc)


class _RunWait:
    """What :meth:`RunHandle.wait` returns on an event loop's thread: await it."""

    def __init__(self, handle: RunHandle, timeout: float | None) -> None:
        self.handle = handle
        self.timeout = timeout
        self.awaited = False

    def __await__(self) -> Generator[Any, None, RunHandle]:
        self.awaited = True
        return self.handle._wait_async(self.timeout).__await__()

    def __repr__(self) -> str:
        return (
            f"<wait for the run of {self.handle.root.name!r}, not waited: on the event loop's "
            "thread RunHandle.wait() cannot block (the loop runs the experiment); use "
            "`await handle.wait()`>"
        )

    def __del__(self) -> None:
        if not self.awaited and not self.handle.finished:
            warnings.warn(
                f"RunHandle.wait() for {self.handle.root.name!r} was not awaited, so it did not "
                "wait: on an event loop's thread use `await handle.wait()`",
                RuntimeWarning,
                stacklevel=2,
            )
