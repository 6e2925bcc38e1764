"""RecordSink: what consumes a run's records (the loggers are sinks)."""

from ..core.records import Record, RunStart
from ..stage.snapshot import StageSnapshot, TreeTracker

__all__ = ("RecordSink", "MemorySink", "TreeSink")


class RecordSink:
    """Consumes the records of a run, in order, one :meth:`consume` call each.

    In a run (:func:`moalab.run`, ``moalab run``, a lab session) each sink is fed
    by a task of its own, so a slow sink never delays a stage: a plain
    :meth:`consume` runs in a worker thread of the sink's own (unless
    :attr:`runs_in_thread` is False: then in the experiment's trio thread, for sinks
    that only append to memory), an ``async def consume`` runs in the sink's task.
    Records wait for a sink in its queue; a sink that may lose records under load
    sets :attr:`may_drop`, and then records that find :attr:`buffer_size` records
    waiting are dropped, counted, and reported at the run's end. A sink that raises
    is detached with a warning naming it; the run goes on. A plain callable taking
    a record is a sink too.
    """

    may_drop: bool = False
    buffer_size: int = 1024
    runs_in_thread: bool = True

    def consume(self, record: Record) -> None:
        """Take one record of the run, in order; the return value is ignored. In the
        run's trio thread if :attr:`runs_in_thread` is False, else in a worker thread
        of the sink's own; an ``async def consume`` is awaited in the sink's task.
        Raising detaches the sink (the run goes on). Here it raises
        :class:`NotImplementedError`: a sink defines it."""
        raise NotImplementedError


class MemorySink(RecordSink):
    """Keeps every record in :attr:`records`, in order (in the trio thread: appends only)."""

    runs_in_thread = False

    def __init__(self) -> None:
        self.records: list[Record] = []

    def consume(self, record: Record) -> None:
        """Append ``record`` to :attr:`records` (in the run's trio thread)."""
        self.records.append(record)


class TreeSink(RecordSink):
    """Keeps the run's stage tree from its records, for a live view: :meth:`snapshot`
    (from any thread)."""

    runs_in_thread = False

    def __init__(self) -> None:
        self.tracker: TreeTracker | None = None

    def consume(self, record: Record) -> None:
        """Update the tree :meth:`snapshot` gives with ``record``: a
        :class:`~moalab.RunStart` starts a new tree (in the run's trio thread)."""
        if isinstance(record, RunStart):
            self.tracker = TreeTracker.from_run_start(record)
        elif self.tracker is not None:
            self.tracker.apply(record)

    def snapshot(self) -> StageSnapshot | None:
        """The tree as the records so far tell it; None before the run's start record."""
        tracker = self.tracker
        return tracker.snapshot() if tracker is not None else None
