"""ObjectLogger: a record sink that writes each record as rows of six columns."""

from collections.abc import Iterable
from typing import Any, NamedTuple

from ..core.clock import ClockOrigin, clock_origin
from ..core.loggable import Loggable
from ..core.records import (
    Change,
    DeviceUpdate,
    Record,
    RunEnd,
    RunStart,
    StageEnd,
    StageStart,
    TrialEnd,
    TrialStart,
    UserEvent,
)
from .recorder import Recorder
from .sink import RecordSink

__all__ = ("LogRow", "ObjectLogger", "COLUMNS", "record_rows")

COLUMNS = ("index", "timestamp", "name", "trigger", "item", "value")


class LogRow(NamedTuple):
    """One logged value. Rows written for one trigger share ``index``."""

    index: int
    """The record's number in this log, from 0 (the rows of one record share it)."""
    timestamp: float
    """When, on the experiment clock (seconds; see :attr:`ObjectLogger.origin`)."""
    name: str
    """The stage's or device's name."""
    trigger: str
    """What made the record: a stage event (``on_trial_start``...), ``on_data_update``,
    the changed property, or a user event's name."""
    item: str
    """The name of the value this row holds (a logged property, or a keyword of
    :meth:`~moalab.MoaStage.record_event`); '' for a record without values."""
    value: Any
    """Its value; '' if none."""


_TRIGGERS: dict[type[Record], str] = {
    StageStart: "on_stage_start", TrialStart: "on_trial_start", TrialEnd: "on_trial_end",
    StageEnd: "on_stage_end", DeviceUpdate: "on_data_update",
}


def record_rows(record: Record, index: int) -> list[LogRow]:
    """The rows of ``record``: one per value (one with an empty item if it has none),
    named by the stage or device and the trigger (a stage event, ``on_data_update``,
    the changed property, or a user event's name). Run start and end have none."""
    if isinstance(record, Change):
        name, trigger = record.source, record.trigger
    elif isinstance(record, UserEvent):
        name, trigger = record.name, record.event
    elif isinstance(record, DeviceUpdate):
        name, trigger = record.device, "on_data_update"
    elif isinstance(record, (RunStart, RunEnd)):
        return []
    else:
        name, trigger = record.name, _TRIGGERS[type(record)]
    t = record.time
    if not record.values:
        return [LogRow(index, t, name, trigger, "", "")]
    return [LogRow(index, t, name, trigger, item, value) for item, value in record.values.items()]


class ObjectLogger(RecordSink):
    """A record sink writing each record as :class:`LogRow` s (see :func:`record_rows`).

    Rows of one record share its ``index``, counted per logger; timestamps are on
    the experiment clock and :attr:`origin` places them in time. Give it to a run
    (``moalab.run(root, loggers=[logger])``), or, as in PyMoa's guide, bind it to
    objects yourself with :meth:`add_logged_instance` and run the tree with
    ``await root.run_stage()``: then it records them itself, as they change.

    Subclasses implement :meth:`write_rows` (and :meth:`write_origin` if they
    write somewhere). In a run it is called in the logger's own worker thread;
    bound by hand, in the thread that changed the object.
    """

    def __init__(self) -> None:
        self.count = 0
        """Records written as rows so far."""
        self.origin: ClockOrigin | None = None
        """The wall-clock time and experiment time of the run's start: set by
        :meth:`set_origin` (from a run's start record), else read as the first
        row is logged."""
        self._recorder: Recorder | None = None

    def set_origin(self, origin: ClockOrigin) -> None:
        """Record where this log's time axis starts; a logger keeps its first origin
        (log each run to loggers of its own: a dry run's virtual clock starts anew)."""
        if self.origin is None:
            self.origin = origin
            self.write_origin(origin)

    def write_origin(self, origin: ClockOrigin) -> None:
        """Record ``origin`` in the output; runs once, before the first row. Subclasses
        that write somewhere implement it."""

    def consume(self, record: Record) -> None:
        """Write ``record``: a run start sets :attr:`origin`, the others write rows."""
        if isinstance(record, RunStart):
            self.set_origin(record.origin)
            return
        rows = record_rows(record, self.count)
        if not rows:
            return
        if self.origin is None:
            self.set_origin(clock_origin(at=record.time))
        self.count += 1
        self.write_rows(rows)

    @property
    def logged_instances(self) -> dict[Any, list[tuple[str, int]]]:
        """The objects bound with :meth:`add_logged_instance` (and their bindings)."""
        return self._recorder.bound if self._recorder is not None else {}

    def add_logged_instance(
        self,
        loggable: Loggable,
        triggered_names: Iterable[str] = (),
        logged_names: Iterable[str] = (),
        use_default_logged_names: bool = True,
        use_default_logged_trigger_names: bool = True,
    ) -> None:
        """Start logging ``loggable`` outside a run: its declared names plus the ones
        given here (see :class:`~moalab.log.recorder.Recorder`)."""
        if self._recorder is None:
            self._recorder = Recorder(self.consume)
        self._recorder.add(loggable, triggered_names, logged_names, use_default_logged_names,
                           use_default_logged_trigger_names)

    def remove_logged_instance(self, loggable: Loggable) -> None:
        """Stop logging ``loggable``."""
        if self._recorder is not None:
            self._recorder.remove(loggable)

    def remove_all(self) -> None:
        """Stop logging every instance."""
        if self._recorder is not None:
            self._recorder.remove_all()

    def write_rows(self, rows: list[LogRow]) -> None:
        """Record ``rows``. Subclasses implement it."""
        raise NotImplementedError
