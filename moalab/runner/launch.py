"""Start an experiment in the background, or run it to its end: :func:`start`, :func:`run`.

Where the tree runs:

* In a thread with a running asyncio loop (a Jupyter kernel, ``asyncio.run``),
  :func:`start` runs it as a trio guest on that loop (:mod:`moalab.runner.guest`).
* Anywhere else, :func:`start` runs it with :func:`trio.run` in a new worker
  thread, and the handle's controls are carried into that thread.

:func:`run` is the blocking counterpart for plain scripts. Both make a
:class:`~moalab.runner.run.Run`, the one run path.
"""

import asyncio
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import trio

from ..log.sink import MemorySink, TreeSink
from ..stage.stage import MoaStage
from .guest import GuestHost, current_guest_host
from .handle import RunHandle
from .run import Run

__all__ = ("start", "run")


def _make_handle(
    root: MoaStage,
    devices: Iterable[Any],
    executors: Sequence[Any],
    loggers: Iterable[Any],
    log: bool,
    clock: trio.abc.Clock | None,
    metadata: Mapping[str, Any] | None,
) -> RunHandle:
    memory, tree = MemorySink() if log else None, TreeSink()
    sinks = [*loggers, tree, *([memory] if memory else [])]
    return RunHandle(Run(root, devices, executors, sinks, metadata), memory, tree, clock)


def start(
    root: MoaStage,
    devices: Iterable[Any] = (),
    executors: Sequence[Any] = (),
    loggers: Iterable[Any] = (),
    log: bool = True,
    clock: trio.abc.Clock | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> RunHandle:
    """Start running ``root`` in the background and return its :class:`RunHandle` at once.

    ``devices`` are pumped (those with a ``pump_state``) and recorded;
    ``executors`` (async context managers) are entered before the tree starts
    and exited after it ends (see :func:`run_experiment`). Every record of the
    run goes to each of ``loggers`` (record sinks: loggers, or functions of one
    record) and, if ``log``, is kept behind :attr:`RunHandle.records` and
    :attr:`RunHandle.log`. ``clock`` (e.g. :class:`trio.testing.MockClock`)
    replaces trio's clock for the run; ``metadata`` goes into its start record.

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
    host = current_guest_host() if in_trio else None
    handle = _make_handle(root, devices, executors, loggers, log, clock, metadata)
    if loop is not None and (not in_trio or host is not None and host.loop is loop):
        try:
            if host is not None:
                host.add(handle)
            else:
                GuestHost(loop, clock).launch([handle])
        except BaseException as exc:
            handle.finish("failed", exc)
            raise
        return handle
    # no loop here, or a trio run that is not ours owns this thread: a thread of its own
    _start_thread(handle)
    return handle


def _start_thread(handle: RunHandle) -> None:
    """Run ``handle`` with trio.run in a new thread; return once the run has its token.

    Not a daemon thread: a script that ends while the experiment runs waits for
    it rather than cutting its devices off mid-trial.
    """
    name = f"moalab run {handle.root.name}"
    threading.Thread(target=handle.run_in_thread, name=name, daemon=False).start()
    handle._ready.wait()


def run(
    root: MoaStage,
    devices: Iterable[Any] = (),
    executors: Sequence[Any] = (),
    loggers: Iterable[Any] = (),
    log: bool = True,
    clock: trio.abc.Clock | None = None,
    metadata: Mapping[str, Any] | None = None,
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
    handle = _make_handle(root, devices, executors, loggers, log, clock, metadata)
    if busy:
        _start_thread(handle)
        return handle.block(None)
    try:
        trio.run(handle.main, clock=clock)
    except BaseException as exc:
        handle.finish("stopped" if isinstance(exc, KeyboardInterrupt) else "failed", exc)
        raise
    return handle
