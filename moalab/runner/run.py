"""Run: the one way a stage tree is run: its record stream, sinks, executors and pumps.

``moalab run``, ``moalab demo``, :func:`moalab.start` / :func:`moalab.run`,
:class:`RunGroup` and the lab's sessions all make a :class:`Run` and await
:meth:`Run.execute`: it opens the run's :class:`~moalab.runner.stream.RecordStream`,
records every stage of the tree and every device, runs the tree beside the
devices' pumps and inside the executors (:func:`run_experiment`), and ends with
the run's status. Nothing else binds loggers to stages.
"""

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import trio

from ..core.clock import ClockOrigin, clock_origin, clock_reader
from ..core.errors import InvalidArgument, StageStateError, error_text
from ..core.loggable import Loggable
from ..core.nursery import open_nursery
from ..core.realtime import cancel_after_real
from ..core.records import RunEnd, RunStart, StageInfo
from ..device.device import Device
from ..log.recorder import Recorder, new_run_id
from ..stage.runstate import RunState
from ..stage.stage import MoaStage
from .experiment import run_experiment
from .stream import RecordStream

__all__ = ("Run", "RunGroup", "Status", "DRAIN_LIMIT")

Status = Literal["pending", "running", "paused", "stopped", "done", "failed"]

DRAIN_LIMIT = 2.0
"""Real seconds the sinks get to take the rest of the records of a run cancelled
from outside (a second Ctrl-C); a run that ends by itself waits for them all."""


# runs may be made in several threads at once: checking a tree is free and holding
# it is one step
_hold_lock = threading.Lock()


def _held_devices(root: MoaStage) -> list[Device]:
    """The devices the stages of ``root`` hold, in an attribute
    (``SugarPalletStage(motor_device=...)``) or a property (a gate's ``device``)."""
    held: dict[Device, None] = {}
    for stage in root.iterate_stages():
        for value in (*vars(stage).values(), *(getattr(stage, name) for name in stage.properties())):
            if isinstance(value, Device):
                held[value] = None
    return list(held)


def _tree(root: MoaStage) -> tuple[StageInfo, ...]:
    return tuple(
        StageInfo(stage.path, stage.name, type(stage).__name__, int(stage.repeat)
                  if stage.repeat != float("inf") else -1, bool(stage.disabled))
        for stage in root.iterate_stages()
    )


class Run:
    """One run of ``root``: its id, its records, its status.

    ``devices`` are pumped (those with a ``pump_state``) and recorded, and so are the
    devices the tree's stages hold (a stage's attribute or property: a gate's
    ``device``, a stage's ``motor_device``), pumped or not;
    ``executors`` are entered before the tree starts and left after it ends, in
    this run's namespace on a server (see ``RemoteExecutor.use_namespace``); one
    already running is its caller's to stop, and is left running in its namespace;
    every record goes to each of ``sinks`` (:class:`~moalab.RecordSink` s,
    e.g. loggers, or functions of one record). ``metadata`` (subject, session,
    protocol, ...) goes into the :class:`~moalab.core.records.RunStart` record.

    The tree is held from here until the run ends: raises
    :class:`StageStateError` if it, a stage in it or a stage above it is running
    or held by another run, :class:`InvalidArgument` for a root that is not a
    :class:`MoaStage` or a sink that is not one.
    """

    def __init__(
        self,
        root: MoaStage,
        devices: Iterable[Any] = (),
        executors: Sequence[Any] = (),
        sinks: Iterable[Any] = (),
        metadata: Mapping[str, Any] | None = None,
        run_id: str | None = None,
    ) -> None:
        if not isinstance(root, MoaStage):
            raise InvalidArgument(f"cannot run {root!r}: give the root MoaStage of an experiment")
        if metadata is not None and not (
                isinstance(metadata, Mapping) and all(isinstance(k, str) for k in metadata)):
            raise InvalidArgument(
                f"metadata={metadata!r} is not accepted: give a dict with string keys, e.g. "
                "{'subject': 'mouse-3'}"
            )
        self.root = root
        self.devices = tuple(devices)
        self.executors = tuple(executors)
        self.stream = RecordStream(sinks)
        self.metadata = dict(metadata or {})
        self.run_id = run_id or new_run_id()
        self.error: BaseException | None = None
        """The exception a failed run raised, else None."""
        self.origin: ClockOrigin | None = None
        """When the run started (wall clock and experiment clock); None until it has."""
        self.ended = trio.Event()
        """Set when the run has ended (wait for it in the run's trio thread)."""
        self._status: Status | None = None
        self._pause_pending = False
        self._root_started = False
        self._aborted = False
        self._executed = False
        # a CancelScope needs no run until entered; cancelled before, the run stops at once
        self._scope = trio.CancelScope()
        self._hold()

    def __repr__(self) -> str:
        return f"<Run {self.run_id} of {self.root.name!r} {self.status}>"

    # ------------------------------------------------------------------ state

    @property
    def status(self) -> Status:
        """'pending' (not started), 'running', 'paused', 'stopped', 'done' or 'failed'."""
        if self._status is not None:
            return self._status
        if self._pause_pending or self.root.run_state is RunState.PAUSED:
            return "paused"
        return "running" if self._root_started else "pending"

    @property
    def finished(self) -> bool:
        """Whether the run has ended (its sinks have had every record)."""
        return self._status is not None

    @property
    def sinks(self) -> tuple[Any, ...]:
        """The sinks every record of the run goes to, in the order given (a tuple of
        :class:`~moalab.RecordSink` s and functions of one record)."""
        return self.stream.sinks

    # ---------------------------------------------------------------- control
    # each in the trio thread of the run

    def pause(self, by: str = "user") -> None:
        """Pause the tree (see :meth:`MoaStage.pause`); before the root has started,
        as it starts. Raises :class:`StageStateError` unless it is running."""
        if self.finished:
            raise StageStateError(f"cannot pause the run of {self.root.name!r}: it is {self.status}")
        if not self._root_started:
            self._pause_pending = True
            return
        self.root.pause(by=by)

    def resume(self) -> None:
        """Resume a paused tree. Raises :class:`StageStateError` if it is not paused."""
        if self.finished:
            raise StageStateError(
                f"cannot resume the run of {self.root.name!r}: it is {self.status}")
        if self._pause_pending:
            self._pause_pending = False
            return
        self.root.resume()

    def stop(self) -> None:
        """Stop the run: the root stops (its stages clean up) and the run ends as
        'stopped'; before the root has started, the run ends at once. No-op once ended."""
        if self.finished:
            return
        if self.root.active:
            self.root.stop_stage()
        else:
            self._scope.cancel()

    def _on_root_started(self) -> None:
        self._root_started = True
        if self._pause_pending:
            self._pause_pending = False
            if self.root.run_state is RunState.RUNNING:
                self.root.pause(by="user")

    # ---------------------------------------------------------------- running

    def _hold(self) -> None:
        with _hold_lock:
            for stage in (*self.root.iterate_stages(), *self.root.iterate_parents()):
                if stage.held_by is not None or stage.active:
                    whose = "it" if stage is self.root else f"{stage.name!r} in its tree"
                    raise StageStateError(
                        f"cannot start {self.root.name!r}: {whose} is already running; wait for "
                        "that run to end or stop it first (RunHandle.stop())"
                    )
            for stage in self.root.iterate_stages():
                stage.held_by = self

    def end(self, status: Status, error: BaseException | None = None) -> None:
        """Mark the run ended (once) and let go of its tree. The runner calls it;
        a launcher calls it too for a run that could not start."""
        if self._status is not None:
            return
        self.error = error
        self._pause_pending = False
        self._status = status
        for stage in self.root.iterate_stages():
            if stage.held_by is self:
                stage.held_by = None
        self.ended.set()

    async def execute(self, task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
        """Run the tree to its end, recording it; in the trio thread, once.

        A failure of the tree or a pump ends the run as 'failed' (see
        :attr:`error`) and is not raised. A cancellation from outside ends it as
        'stopped' and is re-raised, after the sinks have had up to
        :data:`DRAIN_LIMIT` seconds to take the rest. ``task_status.started()`` is
        called once the root stage has started.
        """
        if self._executed:
            raise StageStateError(
                f"run {self.run_id} of {self.root.name!r} has been executed already: make a new "
                "Run to run the tree again"
            )
        self._executed = True
        if self.finished:  # ended before it started (its launcher failed)
            return
        status: Status = "stopped"
        try:
            async with open_nursery() as nursery:
                feeding = trio.CancelScope(shield=True)
                nursery.start_soon(self._feed_sinks, feeding)
                recorder = Recorder(self.stream.emit, self.run_id, clock_reader())
                try:
                    status = await self._record_tree(recorder, task_status)
                finally:
                    recorder.make(RunEnd, status=status,
                                  error=None if self.error is None else error_text(self.error))
                    self.stream.close()
                    if self._aborted:
                        cancel_after_real(feeding, DRAIN_LIMIT)
        finally:
            self.end(status, self.error)

    async def _feed_sinks(self, scope: trio.CancelScope) -> None:
        with scope:
            await self.stream.serve()

    async def _record_tree(self, recorder: Recorder, task_status: trio.TaskStatus) -> Status:
        origin = clock_origin()
        recorder.make(RunStart, time=origin.start_time, root=self.root.name, clock=origin.clock,
                      started_at=origin.started_at, stages=_tree(self.root),
                      metadata=self.metadata)
        self.origin = origin
        recorded = dict.fromkeys((*self.root.iterate_stages(), *self.devices,
                                  *_held_devices(self.root)))
        for instance in recorded:
            if isinstance(instance, Loggable):
                recorder.add(instance)
        try:
            with self._scope:
                await run_experiment(self.root, self.devices, self.executors,
                                     namespace=self.run_id,
                                     task_status=_RootStarted(self, task_status))
        except Exception as exc:
            self.error = exc
            return "failed"
        except BaseException:  # cancelled from outside the run, or KeyboardInterrupt
            self._aborted = True
            raise
        finally:
            recorder.remove_all()
        if self._scope.cancelled_caught or self.root.run_state is RunState.STOPPED:
            return "stopped"
        return "done"


class _RootStarted:
    """The ``task_status`` given to :func:`run_experiment`: tells the run, then whoever
    started :meth:`Run.execute` with ``nursery.start``, that its root started."""

    def __init__(self, run: Run, outer: trio.TaskStatus) -> None:
        self.run = run
        self.outer = outer

    def started(self, value: Any = None) -> None:
        self.run._on_root_started()
        self.outer.started()


class RunGroup:
    """Several runs at once in one trio run (a controller PC driving eight rigs), owned
    by whoever opens it::

        async with RunGroup() as group:
            for box in boxes:
                group.start(box.tree, devices=box.devices, sinks=[SimpleCSVLogger(box.csv)])
        # here every run has ended; group.runs holds them, each with its status

    Each run has its own id, records and sinks; a failure in one ends that run as
    'failed' and the others go on. Leaving the block waits for every run; a
    cancellation of the block stops them all.
    """

    def __init__(self) -> None:
        self.runs: list[Run] = []
        self._nursery: trio.Nursery | None = None
        self._manager: Any = None

    async def __aenter__(self) -> "RunGroup":
        self._manager = trio.open_nursery()
        self._nursery = await self._manager.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        try:
            return await self._manager.__aexit__(*exc_info)
        finally:
            self._nursery = None

    def start(self, root: MoaStage | Run, devices: Iterable[Any] = (),
              executors: Sequence[Any] = (), sinks: Iterable[Any] = (),
              metadata: Mapping[str, Any] | None = None) -> Run:
        """Start running ``root`` (a tree, with the other arguments as for :class:`Run`,
        or a :class:`Run` made already) in this group; return its :class:`Run` at once.

        Raises :class:`StageStateError` outside ``async with``, or if the tree is
        running.
        """
        if self._nursery is None:
            raise StageStateError(
                "RunGroup.start() needs the group open: call it inside `async with RunGroup() "
                "as group:`"
            )
        run = root if isinstance(root, Run) else Run(root, devices, executors, sinks, metadata)
        self.runs.append(run)
        self._nursery.start_soon(run.execute, name=f"run {run.run_id} {run.root.name}")
        return run

    def stop(self) -> None:
        """Stop every run of the group that has not ended."""
        for run in self.runs:
            run.stop()

    async def wait(self) -> None:
        """Wait until every run started so far has ended."""
        for run in list(self.runs):
            await run.ended.wait()
