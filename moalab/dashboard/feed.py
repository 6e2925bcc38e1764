"""RunFeed: what the dashboard keeps of one run, from its records, in bounded memory."""

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import trio

from ..core.records import DeviceUpdate, Record, RunEnd, RunStart, TrialEnd
from ..log.channels import analog_channels
from ..log.logger import record_rows
from ..log.sink import RecordSink
from ..runner.run import Run
from ..stage.snapshot import StageSnapshot, TreeTracker

__all__ = ("RunFeed", "AnalogTrace", "OutcomeCounts", "TAIL_ROWS", "WINDOW", "BINS",
           "MAX_TRACES", "OUTCOME_MINUTES", "PARTS")

TAIL_ROWS = 200
"""Rows of the records' tail a feed keeps."""
WINDOW = 60.0
"""Seconds of analog values a feed keeps (a sliding window)."""
BINS = 1000
"""Time bins per trace over :data:`WINDOW`: each a min and a max, so 2000 points."""
MAX_TRACES = 16
"""Analog traces a feed keeps at most (channels beyond are not plotted)."""
OUTCOME_MINUTES = 120
"""Minutes of trial outcomes a feed keeps."""
_VALUE_TEXT = 80  # characters of a value shown in the tables
PARTS = ("tree", "devices", "records", "plot")
"""The parts of a feed that :meth:`RunFeed.versions` counts changes of."""
REWARD_NAMES = ("reward", "correct")
"""Logged values of a trial end counted as its reward (a number, or True for 1)."""


def value_text(value: Any) -> str:
    """A value as the tables show it: short (an array by its shape), never huge."""
    if isinstance(value, np.ndarray):
        return f"array{value.shape} {value.dtype}"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple) and any(isinstance(v, np.ndarray) for v in value[:8]):
        return f"{len(value)} arrays"  # an ADC block: its text would be its every sample
    text = str(value)
    return text if len(text) <= _VALUE_TEXT else text[:_VALUE_TEXT - 1] + "…"


class AnalogTrace:
    """One analog channel decimated for display: the min and max of its samples per
    time bin of ``window / bins`` seconds, the last ``bins`` bins kept.

    :meth:`add` takes a block of samples spread evenly up to its time; memory and
    points stay bounded whatever the rate.
    """

    def __init__(self, window: float = WINDOW, bins: int = BINS) -> None:
        self.width = window / bins
        self._bins: deque[list[float]] = deque(maxlen=bins)  # [bin start, min, max]
        self._last_time: float | None = None

    def add(self, samples: np.ndarray, time: float) -> None:
        """Add ``samples`` (1-D) ending at ``time``, spread from the previous block's time."""
        n = len(samples)
        if n == 0:
            return
        start = self._last_time if self._last_time is not None and self._last_time < time \
            else time - self.width
        self._last_time = time
        times = np.linspace(start, time, n + 1)[1:]
        index = np.floor(times / self.width).astype(np.int64)
        cuts = np.flatnonzero(np.diff(index)) + 1
        starts = np.concatenate(([0], cuts))
        lows = np.minimum.reduceat(samples, starts)
        highs = np.maximum.reduceat(samples, starts)
        bins = self._bins
        for i, low, high in zip(index[starts].tolist(), lows.tolist(), highs.tolist(),
                                strict=True):
            t = i * self.width
            if bins and bins[-1][0] == t:
                last = bins[-1]
                last[1], last[2] = min(last[1], low), max(last[2], high)
            else:
                bins.append([t, low, high])

    def __len__(self) -> int:
        return len(self._bins)

    def points(self) -> dict[str, list[float]]:
        """``{"t": [...], "min": [...], "max": [...]}``, oldest first."""
        bins = list(self._bins)
        return {"t": [b[0] for b in bins], "min": [b[1] for b in bins],
                "max": [b[2] for b in bins]}


class OutcomeCounts:
    """Trials and rewards per minute of the run, the last :data:`OUTCOME_MINUTES` kept."""

    def __init__(self) -> None:
        self._minutes: deque[list[float]] = deque(maxlen=OUTCOME_MINUTES)  # [start, n, reward]

    def add(self, time: float, reward: float) -> None:
        start = math.floor(time / 60.0) * 60.0
        if not self._minutes or self._minutes[-1][0] != start:
            self._minutes.append([start, 0, 0.0])
        minute = self._minutes[-1]
        minute[1] += 1
        minute[2] += reward

    def points(self) -> dict[str, list[float]]:
        minutes = list(self._minutes)
        return {"t": [m[0] for m in minutes], "trials": [m[1] for m in minutes],
                "rewards": [m[2] for m in minutes]}


def _reward(values: Mapping[str, Any]) -> float:
    for name in REWARD_NAMES:
        value = values.get(name)
        if isinstance(value, bool | int | float | np.number):
            return float(value)
    return 0.0


@dataclass(frozen=True)
class Stamp:
    """The last device change a feed saw, for measuring latency: ``server_ms`` is the
    wall clock (ms) when the feed took it."""

    device: str
    prop: str
    value: str
    server_ms: float


class RunFeed(RecordSink):
    """What the dashboard shows of one run, kept from its records (a sink).

    Runs in the run's trio thread (:attr:`runs_in_thread` False: it only updates
    memory, all of it bounded: :data:`TAIL_ROWS` rows, :data:`MAX_TRACES` traces of
    :data:`BINS` bins, :data:`OUTCOME_MINUTES` minutes). Readers in other threads
    take copies through its methods. ``on_change`` is called after each record, in
    the run's thread; it must not block. :meth:`attach` gives the feed its
    :class:`Run`, for the controls. :meth:`versions` counts each part's changes, so
    a page renders only what changed.
    """

    runs_in_thread = False

    def __init__(self, label: str, on_change: Callable[[], None] = lambda: None) -> None:
        self.label = label
        self.run_id = ""
        self.run: Run | None = None
        self.trio_token: trio.lowlevel.TrioToken | None = None
        """The run's trio token (captured with its first record), to reach its loop."""
        self.tracker: TreeTracker | None = None
        self.metadata: dict[str, Any] = {}
        """The run's metadata (subject, session, ...), from its start record."""
        self.ended: str | None = None
        """The run's end status ('done', 'stopped', 'failed'), None while it runs."""
        self._on_change = on_change
        self._lock = threading.Lock()
        self._start_time = 0.0
        self._last_time = 0.0
        self._devices: dict[str, dict[str, str]] = {}
        self._tail: deque[tuple[str, ...]] = deque(maxlen=TAIL_ROWS)
        self._traces: dict[str, AnalogTrace] = {}
        self._outcomes = OutcomeCounts()
        self._stamp: Stamp | None = None
        self._index = 0
        self._trial_depth = 1
        self._versions = dict.fromkeys(PARTS, 0)

    def attach(self, run: Run) -> None:
        """Let the dashboard's controls pause, resume and stop ``run``."""
        self.run = run
        self.run_id = self.run_id or run.run_id

    def consume(self, record: Record) -> None:
        if self.trio_token is None and trio.lowlevel.in_trio_run():
            self.trio_token = trio.lowlevel.current_trio_token()
        with self._lock:
            self._take(record)
        self._on_change()

    def _take(self, record: Record) -> None:
        self._last_time = max(self._last_time, record.time)
        if isinstance(record, RunStart):
            self.run_id = record.run_id
            self.metadata = dict(record.metadata)
            self.tracker = TreeTracker.from_run_start(record)
            self._start_time = record.time
            # a trial is one of the root's children's, or the root's when it has none
            self._trial_depth = 1 if len(record.stages) > 1 else 0
            self._versions["tree"] += 1
            return
        if isinstance(record, RunEnd):
            self.ended = record.status
        elif isinstance(record, DeviceUpdate):
            self._device_update(record)
        elif self.tracker is not None:  # the tree's records (a device update is none)
            self.tracker.apply(record)
            self._versions["tree"] += 1
        if isinstance(record, TrialEnd) and record.path.count("/") == self._trial_depth:
            self._outcomes.add(record.time - self._start_time, _reward(record.values))
            self._versions["plot"] += 1
        self._index += 1
        for row in record_rows(record, self._index):
            self._tail.append((str(row.index), f"{row.timestamp - self._start_time:.3f}",
                               row.name, row.trigger, row.item, value_text(row.value)))
            self._versions["records"] += 1

    def _device_update(self, record: DeviceUpdate) -> None:
        props = self._devices.setdefault(record.device, {})
        t = record.time - self._start_time
        for name, value in record.values.items():
            text = value_text(value)
            if props.get(name) != text:
                self._versions["devices"] += 1
                if name != "timestamp":
                    self._stamp = Stamp(record.device, name, text, time.time() * 1000.0)
            props[name] = text
            channels = analog_channels(value)
            if channels is None:
                continue
            for ch, samples in enumerate(channels):
                key = f"{record.device}.{name}[{ch}]"
                trace = self._traces.get(key)
                if trace is None:
                    if len(self._traces) >= MAX_TRACES:
                        continue
                    trace = self._traces[key] = AnalogTrace()
                trace.add(samples, t)
                self._versions["plot"] += 1

    # ---------------------------------------------------------------- readers (any thread)

    @property
    def status(self) -> str:
        """'running', 'paused', 'stopped', 'done', 'failed' or 'pending'."""
        if self.run is not None:
            return self.run.status
        if self.ended is not None:
            return self.ended
        return "running" if self.tracker is not None else "pending"

    @property
    def elapsed(self) -> float:
        """Experiment-clock seconds from the run's start to its latest record."""
        return self._last_time - self._start_time

    def snapshot(self) -> StageSnapshot | None:
        """The tree as its records tell it; None before the run's start record."""
        tracker = self.tracker
        return tracker.snapshot() if tracker is not None else None

    def current_paths(self) -> tuple[str, ...]:
        tree = self.snapshot()
        return tree.active_paths if tree is not None else ()

    def devices(self) -> dict[str, dict[str, str]]:
        """Each device's properties as text, by device name."""
        with self._lock:
            return {name: dict(props) for name, props in self._devices.items()}

    def tail(self) -> list[tuple[str, ...]]:
        """The latest records as rows (index, time, name, trigger, item, value), newest last."""
        with self._lock:
            return list(self._tail)

    def plot(self) -> dict[str, Any]:
        """The plot event's data: ``{"analog": {"<device>.<prop>[<channel>]": {"t",
        "min", "max"}}, "outcomes": {"t", "trials", "rewards"}}``, each a list (times
        in seconds from the run's start; outcomes per minute)."""
        with self._lock:
            return {"analog": {key: trace.points() for key, trace in self._traces.items()},
                    "outcomes": self._outcomes.points()}

    def versions(self) -> dict[str, int]:
        """How many times each of :data:`PARTS` changed so far: a part whose count is
        the same as before shows the same (the status changes with each record)."""
        with self._lock:
            return dict(self._versions)

    def stamp(self) -> Stamp | None:
        """The latest device change."""
        return self._stamp

    def summary(self) -> dict[str, Any]:
        """The run as ``/api/runs`` lists it."""
        return {"id": self.run_id, "label": self.label, "status": self.status,
                "elapsed": round(self.elapsed, 3), "current": list(self.current_paths())}
