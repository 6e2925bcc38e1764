"""A session's log read back from its data folder: its HDF5 log when it has one (the
events, the devices' numeric properties and their sample streams), else its CSV log (the
events), with times as seconds from the session's start."""

import csv
import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import InvalidArgument

__all__ = (
    "HDF5_NAME",
    "LOG_NAME",
    "LoggedRow",
    "Series",
    "SessionLog",
    "Stream",
    "read_session_log",
)

LOG_NAME = "log.csv"
"""The session's CSV log in its data folder (``moalab.protocol.runner.LOG_NAME``)."""
HDF5_NAME = "data.h5"
"""The session's HDF5 log (``moalab.protocol.runner.HDF5_NAME``; a resumed session's
later runs: ``data-1.h5``, ``data-2.h5``, ...)."""


@dataclass(frozen=True)
class LoggedRow:
    """One logged value; ``time`` in seconds from :attr:`SessionLog.started_at`."""

    time: float
    name: str
    trigger: str
    item: str
    value: str


@dataclass(frozen=True)
class Series:
    """A device's numeric property (HDF5 log only): its values at ``times`` (seconds
    from :attr:`SessionLog.started_at`, as every time here)."""

    device: str
    name: str
    times: Any
    values: Any


@dataclass(frozen=True)
class Stream:
    """One channel of a device's array property (ADC samples; HDF5 log only): its
    ``samples``, and per block of them its update's time and its number of samples."""

    device: str
    name: str
    channel: str
    samples: Any
    block_times: Any
    block_counts: Any


@dataclass
class SessionLog:
    """A session's log: ``started_at`` (UTC) is the wall time of its first run's start,
    ``start_time`` the experiment clock's reading then; ``rows`` in the logged order;
    ``series`` and ``streams`` only from an HDF5 log."""

    started_at: datetime.datetime | None = None
    start_time: float = 0.0
    rows: list[LoggedRow] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    streams: list[Stream] = field(default_factory=list)

    def seconds(self, timestamp: float) -> float:
        """An experiment-clock ``timestamp`` of the first run as seconds from its start."""
        return timestamp - self.start_time


def read_session_log(folder: Path) -> SessionLog:
    """The log of the session whose data folder is ``folder``: its HDF5 log if it has
    one (h5py installed), else its CSV log; no log is an empty one. A resumed session's
    later runs are placed by their wall start time. Raises InvalidArgument naming the
    file and line of a CSV row that is not one, or an HDF5 log that cannot be read."""
    if (folder / HDF5_NAME).exists():
        try:
            import h5py  # noqa: F401 - the data extra
        except ImportError:  # a lab without the data extra reads its CSV log
            pass
        else:
            return _read_hdf5(folder)
    return _read_csv(folder / LOG_NAME)


def _read_hdf5(folder: Path) -> SessionLog:
    import h5py
    import numpy as np

    log = SessionLog()
    path, n = folder / HDF5_NAME, 0
    while path.exists():
        try:
            file = h5py.File(path, "r")
        except OSError as exc:
            raise InvalidArgument(f"HDF5 log {str(path)!r} cannot be read ({exc}): it is "
                                  "not an HDF5 file, or was cut short before its first "
                                  "flush; move it aside to export from the CSV log") from None
        with file:
            started = _utc(file.attrs["started_at"])
            if log.started_at is None:
                log.started_at, log.start_time = started, float(file.attrs["start_time"])
            # this run's timestamps to seconds from the first run's start
            shift = (started - log.started_at).total_seconds() - float(file.attrs["start_time"])
            events = file["events"][()]
            log.rows += [LoggedRow(float(e["timestamp"]) + shift,
                                   *(_str(e[key]) for key in ("name", "trigger", "item",
                                                              "value")))
                         for e in events]
            for device, group in file["devices"].items():
                for name, dataset in group.items():
                    rows = dataset[()]
                    if rows.dtype["value"].kind in "biuf":
                        log.series.append(Series(device, name, rows["time"] + shift,
                                                 rows["value"]))
            for device, group in file["streams"].items():
                for name, channels in group.items():
                    for channel, dataset in channels.items():
                        if channel.endswith("_blocks"):
                            continue
                        blocks = channels[f"{channel}_blocks"][()]
                        log.streams.append(Stream(
                            device, name, channel, np.asarray(dataset[()]),
                            blocks["time"] + shift, blocks["count"]))
        n += 1
        path = folder / f"data-{n}.h5"
    return log


def _utc(text: Any) -> datetime.datetime:
    return datetime.datetime.fromisoformat(_str(text)).astimezone(datetime.UTC)


def _str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _read_csv(path: Path) -> SessionLog:
    log = SessionLog()
    if not path.exists():
        return log
    offset = 0.0  # the current run's start from the first run's, in seconds
    run_start = 0.0
    with open(path, newline="", encoding="utf-8") as file:
        for number, row in enumerate(csv.reader(file), 1):
            if number == 1 or not row:
                continue
            if row[0].startswith("#"):
                key, _, value = row[0][1:].partition(":")
                key, value = key.strip(), value.strip()
                if key == "started_at":
                    started = _utc(value)
                    if log.started_at is None:
                        log.started_at = started
                    offset = (started - log.started_at).total_seconds()
                elif key == "start_time":
                    run_start = float(value)
                    if offset == 0.0:
                        log.start_time = run_start
                continue
            if len(row) != 6:
                # a row cut short by a crash: the log ends there
                break
            try:
                time = float(row[1]) - run_start + offset
            except ValueError:
                raise InvalidArgument(
                    f"log {str(path)!r} line {number}: timestamp {row[1]!r} is not a number "
                    "(expected index,timestamp,name,trigger,item,value)") from None
            log.rows.append(LoggedRow(time, row[2], row[3], row[4], row[5]))
    return log
