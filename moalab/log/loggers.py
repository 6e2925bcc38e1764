"""Ready-made loggers: CSV file, terminal table, Python logging, and in memory."""

import csv
import logging
import os
import sys
from typing import IO, Any

import numpy as np

from ..core.clock import ClockOrigin
from ..core.errors import InvalidArgument
from .logger import COLUMNS, LogRow, ObjectLogger

__all__ = ("SimpleCSVLogger", "SimpleTerminalLogger", "PythonLogger", "MemoryLogger")


class SimpleCSVLogger(ObjectLogger):
    """Writes rows to a CSV file with columns ``index,timestamp,name,trigger,item,value``.

    Below the column names, before the first row, comment lines give the
    :attr:`origin` of the timestamps::

        index,timestamp,name,trigger,item,value
        # started_at: 2026-12-01T10:14:41.319509+01:00
        # start_time: 1040.282386034
        # clock: real
        0,1040.28240411,Root stage,on_stage_start,count,-1

    (read it with ``pandas.read_csv(path, comment="#")``; see
    :class:`~moalab.core.clock.ClockOrigin`). The file is created when the first row arrives (or on :meth:`open`), and
    every row is flushed to the operating system as it is written, so killing
    the process loses no row already logged. ``fsync=True`` also forces rows to
    disk (survives a power cut; slower). An existing file is never overwritten
    unless ``overwrite=True``; ``append=True`` continues it (a resumed session):
    a row cut short by a crash is dropped, the indices go on from the last row,
    and the new run's origin lines come before its first row. Use as a context
    manager or call :meth:`close`.
    """

    def __init__(self, filename: str | os.PathLike, overwrite: bool = False,
                 fsync: bool = False, append: bool = False) -> None:
        super().__init__()
        if overwrite and append:
            raise InvalidArgument(
                f"log file {os.fspath(filename)!r}: overwrite=True and append=True exclude "
                "each other; choose one"
            )
        self.filename = os.fspath(filename)
        self.overwrite = overwrite
        self.append = append
        self.fsync = fsync
        # continuing a log: its next index is known before its first row is made
        self._continued = append and os.path.exists(self.filename)
        if self._continued:
            self.count = _continue_csv(self.filename)
        self._file: IO[str] | None = None
        self._writer: Any = None
        self._closed = False

    def open(self) -> None:
        """Create the file and write the header (done by the first row otherwise);
        nothing if open. Raises :class:`~moalab.InvalidArgument` if the file exists and
        ``overwrite`` is False (a continued log is appended to instead)."""
        if self._file is not None:
            return
        if self._continued:
            self._file = open(self.filename, "a", newline="", encoding="utf-8")
            self._writer = csv.writer(self._file)
            return
        try:
            # "x" creates the file only if it does not exist, in one step
            self._file = open(self.filename, "w" if self.overwrite else "x", newline="",
                              encoding="utf-8")
        except FileExistsError:
            raise InvalidArgument(
                f"log file {self.filename!r} already exists: choose a new file name, or allow "
                "overwriting it (overwrite=True; --overwrite on the command line)"
            ) from None
        self._writer = csv.writer(self._file)
        self._writer.writerow(COLUMNS)
        self._flush()

    def close(self) -> None:
        """Close the file; later rows reopen nothing (they are dropped)."""
        self._closed = True
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> "SimpleCSVLogger":
        self.open()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _flush(self) -> None:
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())

    def _opened(self) -> bool:
        """Whether the file is open, opening it for the first row (not after close)."""
        if self._file is None and not self._closed:
            self.open()
        return self._file is not None

    def write_origin(self, origin: ClockOrigin) -> None:
        """Write ``origin`` as ``# key: value`` comment lines (after the header) and
        flush; nothing once :meth:`close` was called."""
        if self._opened():
            self._file.writelines(f"# {key}: {value}\n" for key, value in origin.as_dict().items())
            self._flush()

    def write_rows(self, rows: list[LogRow]) -> None:
        """Append ``rows`` to the file (opened, with its header, by the first call) and
        flush (``fsync`` too with ``fsync=True``); an array value is one cell of plain
        lists. Dropped once :meth:`close` was called."""
        if self._opened():
            self._writer.writerows(
                row._replace(value=_cell(row.value)) if isinstance(row.value, _ARRAYS) else row
                for row in rows)
            self._flush()


_ARRAYS = (np.ndarray, list, tuple)


def _cell(value: Any) -> Any:
    """An array, or a list of them (an ADC block), as the plain lists its CSV cell shows:
    every value on one line (numpy's own text breaks lines, abbreviates past 1,000
    values, and takes 30 times as long)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if any(isinstance(item, np.ndarray) for item in value):
        return [item.tolist() if isinstance(item, np.ndarray) else item for item in value]
    return value


def _continue_csv(filename: str) -> int:
    """Drop a last row cut short (no line end) from the CSV log ``filename``; return
    the index its next row gets."""
    with open(filename, "rb+") as file:
        data = file.read()
        if data and not data.endswith(b"\n"):
            file.truncate(data.rfind(b"\n") + 1)
    last = -1
    with open(filename, newline="", encoding="utf-8") as file:
        for row in csv.reader(file):
            if row and row[0].isdigit():
                last = int(row[0])
    return last + 1


class SimpleTerminalLogger(ObjectLogger):
    """Prints rows as a table: ``index | timestamp | name | trigger | item | value``,
    below a ``# started_at: ...`` line giving their :attr:`origin`."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__()
        self.stream = stream
        self._header_done = False

    def write_origin(self, origin: ClockOrigin) -> None:
        """Print ``origin`` as one ``#`` line to :attr:`stream` (default: stdout)."""
        stream = self.stream or sys.stdout
        stream.write(f"# {origin.text()}\n")

    def write_rows(self, rows: list[LogRow]) -> None:
        """Print ``rows`` as aligned columns to :attr:`stream` (default: stdout), the
        column names before the first, and flush it."""
        stream = self.stream or sys.stdout
        if not self._header_done:
            self._header_done = True
            stream.write(self._format(COLUMNS))
        for row in rows:
            stream.write(self._format((row.index, f"{row.timestamp:.7f}", *row[2:])))
        stream.flush()

    @staticmethod
    def _format(values: Any) -> str:
        index, timestamp, name, trigger, item, value = (str(v) for v in values)
        return f"{index:>5} | {timestamp:>13} | {name:<20} | {trigger:<15} | {item:<10} | {value}\n"


class PythonLogger(ObjectLogger):
    """Forwards rows to Python's :mod:`logging` (logger ``moalab.log`` by default).

    The first record gives their :attr:`origin` (``started_at: ...``; the
    :class:`ClockOrigin` in its ``moalab_origin`` attribute).
    """

    def __init__(self, logger: str | logging.Logger = "moalab.log",
                 level: int = logging.INFO) -> None:
        super().__init__()
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        if not isinstance(level, int):
            raise InvalidArgument(f"level={level!r} is not accepted: give a logging level int")
        self.level = level

    def write_origin(self, origin: ClockOrigin) -> None:
        """Log ``origin`` as one message at :attr:`level`, the :class:`ClockOrigin` in
        the record's ``moalab_origin`` attribute."""
        self.logger.log(self.level, "%s", origin.text(), extra={"moalab_origin": origin})

    def write_rows(self, rows: list[LogRow]) -> None:
        """Log each row as one message at :attr:`level`, the :class:`LogRow` in the
        record's ``moalab_row`` attribute."""
        for row in rows:
            self.logger.log(
                self.level, "%d %.7f %s %s %s=%r", row.index, row.timestamp, row.name,
                row.trigger, row.item, row.value,
                extra={"moalab_row": row},
            )


class MemoryLogger(ObjectLogger):
    """Keeps rows in :attr:`rows`, a list of :class:`LogRow` (e.g. for a notebook),
    and their :attr:`origin`. In a run it is fed in the trio thread (it only appends)."""

    runs_in_thread = False

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[LogRow] = []

    def write_rows(self, rows: list[LogRow]) -> None:
        """Append ``rows`` to :attr:`rows`."""
        self.rows.extend(rows)
