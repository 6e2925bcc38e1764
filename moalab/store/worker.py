"""Calling the lab database from trio: a worker thread per call, and a writer thread
that records a running session's trials in order without blocking anyone."""

import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

import trio

from ..core.realtime import run_in_thread
from .database import Database
from .errors import StoreError

__all__ = ("DatabaseWorker", "TrialWriter")

log = logging.getLogger(__name__)
T = TypeVar("T")


class DatabaseWorker:
    """Runs database calls in worker threads, so the trio loop never blocks on them.

    At most one call at a time for SQLite (it has one writer anyway; more threads
    would only wait on its lock), a few for PostgreSQL.
    """

    def __init__(self, database: Database, max_threads: int | None = None) -> None:
        self.database = database
        self._limiter = trio.CapacityLimiter(
            max_threads or (1 if database.is_sqlite else 4))

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker thread; returns its result or raises its error.

        A cancelled caller waits for the call to finish (a unit of work is short, and
        abandoning it would leave its outcome unknown).
        """
        return await run_in_thread(fn, *args, limiter=self._limiter)


_STOP = object()

GATHER = 0.05
"""Seconds a trial writer gathers trials after the first before it commits them."""


class _State(NamedTuple):
    init: Any
    data: Any


class _End(NamedTuple):
    index: int
    end: float


class TrialWriter:
    """Writes one session's trials from a thread of its own, in the order put.

    ``put`` never blocks; each trial is committed within about 100 ms of its put
    (those queued while a commit runs go in the next one). With ``heartbeat_every``
    the same thread keeps the session's lock fresh (``Database.heartbeat`` as
    process ``pid`` of ``host``, by default this one). A failed write stops the
    writer: the error is logged, raised by the next ``put``, ``flush`` and ``close``.
    ``flush`` and ``close`` block (from trio: ``await trio.to_thread.run_sync``).
    """

    def __init__(self, database: Database, session_id: str, *,
                 heartbeat_every: float | None = None, host: str | None = None,
                 pid: int | None = None) -> None:
        self.database = database
        self.session_id = session_id
        self.heartbeat_every = heartbeat_every
        self.host = host or socket.gethostname()
        self.pid = pid or os.getpid()
        self.error: BaseException | None = None
        """The error that stopped the writer, if one did."""
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"trials-{session_id}",
                                        daemon=True)
        self._thread.start()

    def put(self, index: int, values: dict[str, Any], start: float | None = None,
            end: float | None = None) -> None:
        """Queue trial ``index`` (any thread; never blocks)."""
        self._raise_error()
        if self._closed:
            raise StoreError(f"the trial writer of session {self.session_id} is closed: "
                             f"trial {index} came after the session ended")
        self._queue.put((index, values, start, end))

    def put_end(self, index: int, end: float) -> None:
        """Queue trial ``index``'s end (experiment clock), for a trial put without one
        (any thread; never blocks): written after the trials put before it."""
        self._raise_error()
        if self._closed:
            raise StoreError(f"the trial writer of session {self.session_id} is closed: "
                             f"trial {index}'s end came after the session ended")
        self._queue.put(_End(index, end))

    def put_state(self, init: Any, data: Any) -> None:
        """Queue a save of the session's state (after the trials put before it; any
        thread; never blocks). Of several queued at once only the last is written."""
        self._raise_error()
        if self._closed:
            raise StoreError(f"the trial writer of session {self.session_id} is closed: "
                             "its state came after the session ended")
        self._queue.put(_State(init, data))

    def flush(self) -> None:
        """Block until every trial put so far is written; raise a write error."""
        if self._thread.is_alive():
            done = threading.Event()
            self._queue.put(done)
            while not done.wait(0.1) and self._thread.is_alive():
                pass
        self._raise_error()

    def close(self) -> None:
        """Write the rest, stop the thread; raise a write error. Idempotent."""
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._thread.join()
        self._raise_error()

    async def aclose(self) -> None:
        """``close`` from trio, in a worker thread."""
        await run_in_thread(self.close)

    def _raise_error(self) -> None:
        if self.error is not None:
            raise StoreError(f"recording the trials of session {self.session_id} failed: "
                             f"{self.error}") from self.error

    def _run(self) -> None:
        every = self.heartbeat_every
        next_beat = time.monotonic() + every if every is not None else None
        stop = False
        while not stop:
            try:
                item = self._queue.get(timeout=None if next_beat is None else
                                       max(0.0, next_beat - time.monotonic()))
            except queue.Empty:
                item = None  # time for a heartbeat
            batch, ends, done, state = [], [], [], None
            # what comes within GATHER of the first item goes in one commit: a commit
            # costs milliseconds of Python (holding the GIL a stage needs), trials
            # come in bursts, and GATHER keeps them well inside the 100 ms promise
            gather_until = time.monotonic() + GATHER
            while True:
                if item is _STOP:
                    stop = True
                elif isinstance(item, threading.Event):
                    done.append(item)
                elif isinstance(item, _State):
                    state = item
                elif isinstance(item, _End):
                    _add_end(batch, ends, item)
                elif item is not None:
                    batch.append(item)
                wait = 0.0 if stop or done else gather_until - time.monotonic()
                try:
                    item = (self._queue.get(timeout=wait) if wait > 0
                            else self._queue.get_nowait())
                except queue.Empty:
                    break
            beat = next_beat is not None and time.monotonic() >= next_beat
            if self.error is None:
                self._write(batch, ends, state, beat)
            if beat:
                next_beat = time.monotonic() + every
            for event in done:
                event.set()

    def _write(self, batch: list, ends: list["_End"], state: "_State | None",
               beat: bool) -> None:
        try:
            if batch:
                self.database.add_trials(self.session_id, batch)
            if ends:
                self.database.set_trial_ends(self.session_id, ends)
            if state is not None:
                self.database.save_state(self.session_id, state.init, state.data)
            if beat:
                self.database.heartbeat(self.session_id, self.host, self.pid)
        except Exception as error:  # kept for put / flush / close: never lost
            log.error("recording trials %s of session %s failed: %s",
                      [index for index, *_ in batch], self.session_id, error)
            self.error = error


def _add_end(batch: list, ends: list[_End], item: _End) -> None:
    """Trial ``item.index``'s end into its row of ``batch`` when it is there (one
    INSERT), else into ``ends`` (an UPDATE of a row written before)."""
    for at, (index, values, start, _) in enumerate(batch):
        if index == item.index:
            batch[at] = (index, values, start, item.end)
            return
    ends.append(item)
