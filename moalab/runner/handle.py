"""Start an experiment in the background, steer it: :func:`start`, :func:`run`, :class:`RunHandle`.

Where the tree runs:

* In a thread with a running asyncio loop (a Jupyter kernel, ``asyncio.run``),
  :func:`start` runs it as a trio *guest* on that loop
  (:func:`trio.lowlevel.start_guest_run`): stage and device events run on the
  loop's own thread, between its other callbacks, so cells can touch the tree,
  its devices and the handle safely. Experiments started on one loop share one
  guest run, which ends when the last of them ends.
* Anywhere else, :func:`start` runs it with :func:`trio.run` in a new worker
  thread, and the handle's controls are carried into that thread.

:func:`run` is the blocking counterpart for plain scripts.
"""

import asyncio
import concurrent.futures
import signal
import threading
import time
import warnings
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

import outcome
import trio

from ..core.clock import ClockOrigin, clock_origin
from ..core.errors import InvalidArgument, StageStateError
from ..core.loggable import Loggable
from ..log.logger import COLUMNS, ObjectLogger
from ..log.loggers import MemoryLogger
from ..stage.runstate import RunState, deepest_active
from ..stage.stage import MoaStage
from .display import run_handle_html
from .experiment import run_experiment

if TYPE_CHECKING:
    import pandas

__all__ = ("RunHandle", "start", "run")

Status = Literal["running", "paused", "stopped", "done", "failed"]

# The handles whose runs have not finished, by id of their root, so a second
# start on a running tree (or a subtree of one) is refused even before the
# root has started. Entries live only as long as their run.
_live: dict[int, "RunHandle"] = {}
_live_lock = threading.Lock()


class RunHandle:
    """A running (or finished) experiment: its status, controls, and log.

    Made by :func:`start` and :func:`run`, not directly. Reading attributes is
    safe from any thread; :meth:`pause`, :meth:`resume` and :meth:`stop` run
    their action in the thread the tree runs in (at once on that thread, else
    carried there and waited for).
    """

    def __init__(
        self,
        root: MoaStage,
        devices: Sequence[Any],
        executors: Sequence[Any],
        loggers: Sequence[ObjectLogger],
        log: bool,
        clock: trio.abc.Clock | None,
    ) -> None:
        self.root = root
        self.devices = tuple(devices)
        self.executors = tuple(executors)
        self.loggers = tuple(loggers)
        self.clock = clock
        self.memory_logger: MemoryLogger | None = MemoryLogger() if log else None
        """The logger behind :attr:`log`, or None if started with ``log=False``."""
        self.error: BaseException | None = None
        """The exception a failed run raised, else None."""
        self.origin: ClockOrigin | None = None
        """When the run started (wall clock and experiment clock, real or virtual);
        None until it has. Its loggers and :attr:`log` share it."""
        self._outcome: Status | None = None
        self._pause_pending = False
        self._root_started = False
        # trio.CancelScope does not need a run until entered; cancelling it
        # before the run starts makes the run stop at once
        self._scope = trio.CancelScope()
        self._token: trio.lowlevel.TrioToken | None = None
        self._trio_thread: int | None = None
        self._ready = threading.Event()  # set once the run has its token (or ended)
        self._host: _GuestHost | None = None  # the guest run it runs in, if any
        self._finished: concurrent.futures.Future[RunHandle] = concurrent.futures.Future()
        self._started_at = time.monotonic()
        self._ended_at: float | None = None

    def __repr__(self) -> str:
        where = ", ".join(self.current_path)
        at = f" at {where}" if where else ""
        return f"<RunHandle {self.root.name!r} {self.status} {self.elapsed:.1f} s{at}>"

    def _repr_html_(self) -> str:
        return run_handle_html(self)

    # ------------------------------------------------------------------ state

    @property
    def status(self) -> Status:
        """'running', 'paused', 'stopped', 'done' or 'failed' (see :attr:`error`)."""
        if self._outcome is not None:
            return self._outcome
        if self._pause_pending or self.root.run_state is RunState.PAUSED:
            return "paused"
        return "running"

    @property
    def finished(self) -> bool:
        """Whether the run has ended (its devices' pumps and executors stopped too)."""
        return self._outcome is not None

    @property
    def elapsed(self) -> float:
        """Seconds (wall clock) from the start until the end, or until now if running."""
        end = self._ended_at if self._ended_at is not None else time.monotonic()
        return end - self._started_at

    @property
    def current_path(self) -> tuple[str, ...]:
        """The paths of the deepest active stages (several where children run in
        parallel); empty before the root starts and after it ends."""
        return tuple(stage.path for stage in deepest_active(self.root))

    @property
    def log(self) -> "pandas.DataFrame":
        """The rows logged so far as a pandas DataFrame with columns
        ``index, timestamp, name, trigger, item, value`` (one row per :class:`LogRow`);
        its ``attrs`` hold the run's :attr:`origin` (``started_at`` in ISO 8601,
        ``start_time``, ``clock``) once it has started.

        Raises :class:`InvalidArgument` if the run was started with ``log=False``.
        """
        if self.memory_logger is None:
            raise InvalidArgument(
                f"the run of {self.root.name!r} was started with log=False, so it kept no rows: "
                "start it with log=True, or pass loggers=[...] of your own"
            )
        import pandas  # imported here: pandas is slow to import and only needed for this

        frame = pandas.DataFrame(list(self.memory_logger.rows), columns=list(COLUMNS))
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
        self._call_in_trio(self._resume_in_trio, "resume")

    def stop(self) -> None:
        """Stop the run: the tree is cancelled, cleans up and ends as 'stopped'.

        Returns without waiting for the end (use :meth:`wait`); does nothing
        if the run has ended.
        """
        if self._outcome is None:
            self._call_in_trio(self._scope.cancel, "stop", finished_ok=True)

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
        if self._outcome is None and threading.get_ident() == self._trio_thread:
            raise StageStateError(
                f"RunHandle.wait() cannot block here: this thread runs the experiment "
                f"{self.root.name!r}, so blocking would freeze it; use `await handle.wait()` "
                "from a coroutine or notebook cell on its event loop"
            )
        return self._block(timeout)

    def _block(self, timeout: float | None) -> "RunHandle":
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
        if self._outcome is not None:
            raise StageStateError(
                f"cannot pause the run of {self.root.name!r}: it is {self.status}"
            )
        if not self._root_started:
            self._pause_pending = True
            return
        self.root.pause(by="user")

    def _resume_in_trio(self) -> None:
        if self._outcome is not None:
            raise StageStateError(
                f"cannot resume the run of {self.root.name!r}: it is {self.status}"
            )
        if self._pause_pending:
            self._pause_pending = False
            return
        self.root.resume()

    def _on_root_started(self) -> None:
        self._root_started = True
        if self._pause_pending:
            self._pause_pending = False
            if self.root.run_state is RunState.RUNNING:
                self.root.pause(by="user")

    async def _main(self) -> None:
        """The whole run, in the trio thread: loggers on, tree and pumps, loggers off."""
        self._token = trio.lowlevel.current_trio_token()
        self._trio_thread = threading.get_ident()
        self._ready.set()
        status: Status = "done"
        error: BaseException | None = None
        attached: list[tuple[ObjectLogger, Loggable]] = []
        try:
            self._attach_loggers(attached)
            with self._scope:
                await run_experiment(
                    self.root, self.devices, self.executors, task_status=_RootStarted(self)
                )
            if self._scope.cancelled_caught or self.root.run_state is RunState.STOPPED:
                status = "stopped"
        except Exception as exc:
            status, error = "failed", exc
        except BaseException:  # cancelled from outside the handle, or KeyboardInterrupt
            status = "stopped"
            raise
        finally:
            for logger, instance in attached:
                logger.remove_logged_instance(instance)
            self._finish(status, error)

    def _attach_loggers(self, attached: list[tuple[ObjectLogger, Loggable]]) -> None:
        """Log every stage and device to every logger; note each pair in ``attached``."""
        loggers = [*self.loggers, *([self.memory_logger] if self.memory_logger else [])]
        instances = [*self.root.iterate_stages(), *self.devices]
        self.origin = clock_origin()
        for logger in loggers:
            logger.set_origin(self.origin)
            for instance in instances:
                if isinstance(instance, Loggable) and instance not in logger.logged_instances:
                    logger.add_logged_instance(instance)
                    attached.append((logger, instance))

    def _finish(self, status: Status, error: BaseException | None) -> None:
        if self._outcome is not None:
            return
        self._ended_at = time.monotonic()
        self.error = error
        self._pause_pending = False
        self._outcome = status
        with _live_lock:
            if _live.get(id(self.root)) is self:
                del _live[id(self.root)]
        self._ready.set()
        if self._host is None or not self._host.defer_notify(self):
            self._notify()

    def _notify(self) -> None:
        """Wake whoever waits for the end."""
        if not self._finished.done():
            self._finished.set_result(self)

    # ------------------------------------------------------------ launching

    def _run_in_thread(self) -> None:
        try:
            trio.run(self._main, clock=self.clock)
        except BaseException as exc:  # noqa: BLE001 - a thread has no one to raise to
            self._finish("failed", exc)


_WAIT_SLICE = 0.1  # seconds


class _RootStarted:
    """The ``task_status`` given to :func:`run_experiment`: tells the handle the root started."""

    def __init__(self, handle: RunHandle) -> None:
        self.handle = handle

    def started(self, value: Any = None) -> None:
        self.handle._on_root_started()


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


# ---------------------------------------------------------------- guest mode

_guest_host: trio.lowlevel.RunVar["_GuestHost"] = trio.lowlevel.RunVar("moalab_guest_host")


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


class _GuestHost:
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
        self.waiting: list[RunHandle] = []  # to start once the run's main task runs
        self.queued: list[RunHandle] = []  # to start in a new run after this one
        self.handles: list[RunHandle] = []
        self.live = 0  # handles of this run that have not finished
        self.deferred: list[RunHandle] = []  # finished, waiters woken when the run ends

    def defer_notify(self, handle: RunHandle) -> bool:
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
            handle._notify()

    def launch(self, handles: list[RunHandle]) -> None:
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

    def add(self, handle: RunHandle) -> None:
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

    def _spawn(self, handle: RunHandle) -> bool:
        try:
            self.nursery.start_soon(handle._main)
        except RuntimeError:  # the nursery closed
            return False
        return True

    async def _serve(self) -> None:
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            for handle in self.waiting:
                nursery.start_soon(handle._main)
            self.waiting = []
        self.nursery = None
        self.closed = True

    def _done(self, result: outcome.Outcome[None]) -> None:
        # each handle's _main records its own end; this catches runs that never got there
        self.done = True
        error = result.error if isinstance(result, outcome.Error) else None
        for handle in self.handles:
            handle._finish("failed" if error else "stopped", error)
        self._flush_deferred()
        if self.queued:
            _GuestHost(self.loop, self.clock).launch(self.queued)


# ------------------------------------------------------------------ public API


def _claim(handle: RunHandle) -> None:
    """Register ``handle`` as the run of its root, refusing a tree that is running."""
    root = handle.root
    if not isinstance(root, MoaStage):
        raise InvalidArgument(f"cannot run {root!r}: give the root MoaStage of an experiment")
    with _live_lock:
        for stage in (*root.iterate_stages(), *root.iterate_parents()):
            other = _live.get(id(stage))
            if other is not None or stage.active:
                whose = stage.name if stage is root else f"{stage.name!r} in its tree"
                raise StageStateError(
                    f"cannot start {root.name!r}: {whose} is already running; wait for that "
                    "run to end or stop it first (RunHandle.stop())"
                )
        _live[id(root)] = handle


def _make_handle(
    root: MoaStage,
    devices: Iterable[Any],
    executors: Sequence[Any],
    loggers: Iterable[ObjectLogger],
    log: bool,
    clock: trio.abc.Clock | None,
) -> RunHandle:
    handle = RunHandle(root, tuple(devices), tuple(executors), tuple(loggers), log, clock)
    _claim(handle)
    return handle


def start(
    root: MoaStage,
    devices: Iterable[Any] = (),
    executors: Sequence[Any] = (),
    loggers: Iterable[ObjectLogger] = (),
    log: bool = True,
    clock: trio.abc.Clock | None = None,
) -> RunHandle:
    """Start running ``root`` in the background and return its :class:`RunHandle` at once.

    ``devices`` are pumped (those with a ``pump_state``) and logged;
    ``executors`` (async context managers) are entered before the tree starts
    and exited after it ends (see :func:`run_experiment`). Every stage of the
    tree and every device is logged to each of ``loggers`` for the length of
    the run, and, if ``log``, to a :class:`MemoryLogger` behind
    :attr:`RunHandle.log`. ``clock`` (e.g. :class:`trio.testing.MockClock`)
    replaces trio's clock for the run.

    Called in a thread running an asyncio loop (a notebook cell), the tree runs
    as a trio guest on that loop, in that thread; otherwise in a new worker
    thread (see the module docstring). Raises :class:`StageStateError` if the
    tree, a stage in it or a stage above it is already running, and
    :class:`InvalidArgument` if ``clock`` is not the clock of the experiments
    already running on this event loop.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    in_trio = trio.lowlevel.in_trio_run()
    host = _guest_host.get(None) if in_trio else None
    if loop is not None and (not in_trio or host is not None and host.loop is loop):
        handle = _make_handle(root, devices, executors, loggers, log, clock)
        try:
            if host is not None:
                host.add(handle)
            else:
                _GuestHost(loop, clock).launch([handle])
        except BaseException as exc:
            handle._finish("failed", exc)
            raise
        return handle

    # no loop here, or a trio run that is not ours owns this thread: a thread of its own
    handle = _make_handle(root, devices, executors, loggers, log, clock)
    _start_thread(handle)
    return handle


def _start_thread(handle: RunHandle) -> None:
    """Run ``handle`` with trio.run in a new thread; return once the run has its token.

    Not a daemon thread: a script that ends while the experiment runs waits for
    it rather than cutting its devices off mid-trial.
    """
    name = f"moalab run {handle.root.name}"
    threading.Thread(target=handle._run_in_thread, name=name, daemon=False).start()
    handle._ready.wait()


def run(
    root: MoaStage,
    devices: Iterable[Any] = (),
    executors: Sequence[Any] = (),
    loggers: Iterable[ObjectLogger] = (),
    log: bool = True,
    clock: trio.abc.Clock | None = None,
) -> RunHandle:
    """Run ``root`` to its end, blocking, and return its finished :class:`RunHandle`.

    Arguments as for :func:`start`. In a plain script the tree runs in the
    calling thread; where that thread runs an event loop or a trio run, it runs
    in a worker thread while this call blocks. A failed run does not raise:
    check ``handle.status`` and ``handle.error``. :exc:`KeyboardInterrupt`
    stops the tree, lets it clean up, and is re-raised.
    """
    try:
        asyncio.get_running_loop()
        busy = True
    except RuntimeError:
        busy = trio.lowlevel.in_trio_run()
    handle = _make_handle(root, devices, executors, loggers, log, clock)
    if busy:
        _start_thread(handle)
        return handle._block(None)
    try:
        trio.run(handle._main, clock=clock)
    except BaseException as exc:
        handle._finish("stopped" if isinstance(exc, KeyboardInterrupt) else "failed", exc)
        raise
    return handle
