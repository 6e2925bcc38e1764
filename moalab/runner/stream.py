"""RecordStream: a run's records, handed to each of its sinks in order, off the stage's path.

The stage's task only appends a record to each sink's queue (:meth:`RecordStream.emit`
never waits); each sink has a task of its own that takes the waiting records, up to
its ``buffer_size`` at a time, and hands them to the sink: in a worker thread of the
sink's own for a plain ``consume`` (so a sink that blocks blocks only itself), in
the trio thread for a sink with ``runs_in_thread = False``, awaited for an ``async
def consume``. A sink that raises is detached with a warning; a sink with
``may_drop`` loses the records that find its queue full, counted in
:attr:`RecordStream.drops`.
"""

import collections
import inspect
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import trio

from ..core.errors import InvalidArgument
from ..core.realtime import run_in_thread
from ..core.records import Record, RunEnd, RunStart
from ..log.sink import RecordSink

__all__ = ("RecordStream", "SinkDetached", "sink_name")


class SinkDetached(RuntimeWarning):
    """A record sink raised, so it gets no more records of the run; the run goes on."""


def sink_name(sink: Any) -> str:
    """How warnings name ``sink``: its class, and its file for a file logger."""
    name = type(sink).__name__ if not inspect.isfunction(sink) else sink.__qualname__
    filename = getattr(sink, "filename", None)
    return f"{name}({filename!r})" if filename else name


class _Feed:
    """One sink's queue and the task that empties it."""

    def __init__(self, sink: Any) -> None:
        consume = sink.consume if isinstance(sink, RecordSink) else sink
        if not callable(consume):
            raise InvalidArgument(
                f"{sink!r} is not a record sink: give a RecordSink (e.g. a SimpleCSVLogger) or "
                "a function taking one record"
            )
        self.sink = sink
        self.name = sink_name(sink)
        self.consume = consume
        self.is_async = inspect.iscoroutinefunction(consume)
        self.in_thread = getattr(sink, "runs_in_thread", True) and not self.is_async
        self.may_drop = bool(getattr(sink, "may_drop", False))
        self.buffer_size = int(getattr(sink, "buffer_size", RecordSink.buffer_size))
        if self.buffer_size < 1:
            raise InvalidArgument(
                f"record sink {self.name}: buffer_size={self.buffer_size} is not accepted; give "
                "a whole number >= 1"
            )
        self.queue: collections.deque[Record] = collections.deque()
        self.wake: trio.Event | None = None
        self.detached = False
        self.drops = 0

    def put(self, record: Record) -> None:
        if self.detached:
            return
        if (self.may_drop and len(self.queue) >= self.buffer_size
                and not isinstance(record, (RunStart, RunEnd))):
            self.drops += 1
            return
        self.queue.append(record)
        if self.wake is not None:
            self.wake.set()

    async def serve(self, closed: Callable[[], bool]) -> None:
        while not self.detached:
            if not self.queue:
                if closed():
                    return
                self.wake = trio.Event()
                await self.wake.wait()
                self.wake = None
                # yield once more: the stage tasks woken with this record run first
                await trio.lowlevel.cancel_shielded_checkpoint()
                continue
            batch = [self.queue.popleft() for _ in range(min(len(self.queue), self.buffer_size))]
            if self.in_thread:
                error = await run_in_thread(self._deliver, batch)
            elif self.is_async:
                error = await self._deliver_async(batch)
            else:
                error = self._deliver(batch)
            if error is not None:
                self._detach(error)

    def _deliver(self, batch: list[Record]) -> BaseException | None:
        try:
            for record in batch:
                self.consume(record)
        except Exception as exc:  # noqa: BLE001 - a sink's failure must not end the run
            return exc
        return None

    async def _deliver_async(self, batch: list[Record]) -> BaseException | None:
        try:
            for record in batch:
                await self.consume(record)
        except Exception as exc:  # noqa: BLE001 - as in _deliver
            return exc
        return None

    def _detach(self, error: BaseException) -> None:
        self.detached = True
        self.queue.clear()
        warnings.warn(
            f"record sink {self.name} raised {type(error).__name__}: {error}; it is detached "
            "and gets no more records of this run (the run goes on)",
            SinkDetached, stacklevel=1,
        )


class RecordStream:
    """The records of one run, fanned out to ``sinks`` (each a :class:`RecordSink` or a
    function of one record).

    :meth:`emit` may be called before :meth:`serve` runs (records wait); ``serve``
    returns once :meth:`close` was called and every attached sink has had every record.
    Raises :class:`InvalidArgument` for something that is not a sink.
    """

    def __init__(self, sinks: Iterable[Any] = ()) -> None:
        self._feeds = [_Feed(sink) for sink in sinks]
        self._closed = False

    @property
    def sinks(self) -> tuple[Any, ...]:
        return tuple(feed.sink for feed in self._feeds)

    @property
    def drops(self) -> dict[str, int]:
        """Records dropped so far by each sink that may drop and did, by sink name."""
        return {feed.name: feed.drops for feed in self._feeds if feed.drops}

    @property
    def detached(self) -> tuple[Any, ...]:
        """The sinks detached because they raised."""
        return tuple(feed.sink for feed in self._feeds if feed.detached)

    def emit(self, record: Record) -> None:
        """Queue ``record`` for every sink; never waits. Call in the trio thread."""
        for feed in self._feeds:
            feed.put(record)

    def close(self) -> None:
        """No more records: :meth:`serve` returns once the sinks have the rest."""
        self._closed = True
        for feed in self._feeds:
            if feed.wake is not None:
                feed.wake.set()

    async def serve(self) -> None:
        """Feed the sinks until closed and drained; then warn of any drops."""
        async with trio.open_nursery() as nursery:
            for feed in self._feeds:
                nursery.start_soon(feed.serve, lambda: self._closed, name=f"sink {feed.name}")
        for name, dropped in self.drops.items():
            warnings.warn(f"record sink {name} dropped {dropped} records: its buffer was full",
                          RuntimeWarning, stacklevel=1)
