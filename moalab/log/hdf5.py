"""HDF5Logger: a record sink writing a run to an HDF5 file that can be read as it grows.

The file's layout (all times on the run's experiment clock)::

    /events                      the CSV log's rows, typed: a compound dataset of
                                 (index, timestamp, name, trigger, item, value, number)
    /devices/<device>/<prop>     a device's scalar property: (time, value) rows, one per
                                 update (value float64 for numbers and booleans, else
                                 text): the device's logged properties
                                 (``_logged_names_``: ``timestamp``, and e.g. ``state``
                                 of a digital channel). ``timestamp`` is on this clock:
                                 a remote executor aligns the far side's by its clock
                                 regression. A mirror's ``remote_timestamp`` (the far
                                 side's raw time) is not logged: it is not a logged
                                 property
    /streams/<device>/<prop>/<channel>          an array property's samples (ADC data),
                                 one chunked 1-D dataset per channel, appended block by block
    /streams/<device>/<prop>/<channel>_blocks   (time, start, count) per block: its
                                 update's time and where its samples start

The run's origin (``started_at``, ``start_time``, ``clock``) is in the root's attributes.
The file is written in SWMR mode (``libver='latest'``), so a reader opening it with
``h5py.File(path, 'r', swmr=True)`` sees datasets grow (``dataset.refresh()``). SWMR
mode begins after the first write (``flush_interval`` after the first record), with the
datasets of the records so far; a device or property first seen later is added by
closing and reopening the file, so a reader reopens it to see new datasets. Records
are written, and the file flushed, by a thread of the logger's own every
``flush_interval`` seconds (0.05 by default): killed at any moment (``kill -9``), the
file opens (with ``swmr=True``: it is still marked as being written; or after
``h5clear -s``) and holds every record it was given up to ``flush_interval`` plus one
write before (100 ms at most at the default, as tested). Records are never dropped.
"""

import json
import math
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np

from ..core.errors import InvalidArgument
from ..core.records import DeviceUpdate, Record, RunEnd, RunStart
from .channels import analog_channels
from .logger import record_rows
from .sink import RecordSink

__all__ = ("HDF5Logger",)

_STR = h5py.string_dtype()
_EVENT = np.dtype([("index", "i8"), ("timestamp", "f8"), ("name", _STR), ("trigger", _STR),
                   ("item", _STR), ("value", _STR), ("number", "f8")])
_BLOCK = np.dtype([("time", "f8"), ("start", "i8"), ("count", "i8")])
# rows per chunk of a table, samples per chunk of a stream: big enough that a flush
# writes few chunks, small enough that a short run's file stays small
_TABLE_CHUNK = 1024
_STREAM_CHUNK = 65536


def _scalar_dtype(value: Any) -> Any:
    """The HDF5 type a scalar property's values are stored as, from its first value:
    float64 for numbers and booleans (a property that starts at 0 may be 0.5 next),
    else text."""
    return np.dtype("f8") if not math.isnan(_number(value)) else _STR


def _fitted(values: list[tuple[float, Any]], dtype: np.dtype) -> np.ndarray:
    """(time, value) rows as ``dtype``'s; a value of another kind than the first
    becomes NaN in a number dataset, its text in a text one (never an error)."""
    convert = _number if dtype["value"] == np.dtype("f8") else _text
    return np.array([(at, convert(value)) for at, value in values], dtype)


def _text(value: Any) -> str:
    """A value as the events table's text (arrays are in /streams, named here by shape)."""
    if isinstance(value, str):
        return value
    channels = analog_channels(value)
    if channels is not None:
        return f"<array: {sum(len(c) for c in channels)} samples in /streams>"
    if isinstance(value, np.ndarray):
        value = value.tolist()
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _number(value: Any) -> float:
    if isinstance(value, bool | int | float | np.number) and not isinstance(value, complex):
        return float(value)
    return math.nan


def _append(dataset: h5py.Dataset, rows: np.ndarray) -> None:
    n = dataset.shape[0]
    dataset.resize((n + len(rows),))
    dataset[n:] = rows
    # h5py holds the GIL, and a thread waiting for it waits up to the 5 ms switch
    # interval: give it to the experiment's trio thread between writes
    time.sleep(0)


class HDF5Logger(RecordSink):
    """Writes a run's records to the HDF5 file ``path`` (layout: see :mod:`moalab.log.hdf5`).

    The file is created on the first record (or :meth:`open`); an existing file is
    refused unless ``overwrite=True``. :meth:`consume` only queues a record; the
    logger's writer thread writes and flushes queued records every ``flush_interval``
    seconds (> 0). Call :meth:`close` (or use it as a context manager) to write the
    rest and close the file; a run's end record writes it out too.
    """

    def __init__(self, path: str | os.PathLike, overwrite: bool = False,
                 flush_interval: float = 0.05) -> None:
        if not (isinstance(flush_interval, int | float) and 0 < flush_interval < math.inf):
            raise InvalidArgument(
                f"HDF5 log {os.fspath(path)!r}: flush_interval={flush_interval!r} is not "
                "accepted; give seconds between flushes, a number > 0"
            )
        self.path = os.fspath(path)
        self.overwrite = overwrite
        self.flush_interval = float(flush_interval)
        self.count = 0
        """Records written as rows of the events table so far."""
        self._file: h5py.File | None = None
        self._queue: list[Record] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._error: Exception | None = None
        self._stream_sizes: dict[str, int] = {}

    def open(self) -> None:
        """Create the file and start the writer thread (done by the first record otherwise);
        nothing if open or closed. Raises :class:`~moalab.InvalidArgument` if the file
        exists and ``overwrite`` is False."""
        if self._file is not None or self._closed:
            return
        if os.path.exists(self.path) and not self.overwrite:
            raise InvalidArgument(
                f"HDF5 log {self.path!r} already exists: choose a new file name, or allow "
                "overwriting it (overwrite=True)"
            )
        self._file = h5py.File(self.path, "w", libver="latest")
        self._file.create_dataset("events", (0,), _EVENT, maxshape=(None,),
                                  chunks=(_TABLE_CHUNK,))
        self._file.create_group("devices")
        self._file.create_group("streams")
        self._thread = threading.Thread(target=self._write_loop, name=f"HDF5Logger {self.path}",
                                        daemon=True)
        self._thread.start()

    def consume(self, record: Record) -> None:
        """Queue ``record`` for the writer thread (in the sink's worker thread); raises
        the error the writer thread failed with, if it did (then the file holds the
        records written before it)."""
        if self._error is not None:
            self._raise_error()
        if self._closed:
            return
        self.open()
        with self._lock:
            self._queue.append(record)
        if isinstance(record, RunEnd):
            self.close()

    def close(self) -> None:
        """Write the queued records, flush and close the file, and join the writer thread."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._error is not None:
            self._raise_error()

    def _raise_error(self) -> None:
        """Raise the writer thread's error, once (the run detaches a sink that raises)."""
        error, self._error = self._error, None
        if error is not None:
            raise error

    def __enter__(self) -> "HDF5Logger":
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write_loop(self) -> None:
        """The writer thread: every ``flush_interval``, write the queue and flush."""
        try:
            while not self._closed:
                self._wake.wait(self.flush_interval)
                self._write_queued()
            self._write_queued()
        except Exception as exc:  # raised to the run by the next consume or close
            self._error = exc

    def _write_queued(self) -> None:
        with self._lock:
            records, self._queue = self._queue, []
        if not records:
            return
        events: list[tuple] = []
        scalars: dict[str, list[tuple[float, Any]]] = {}
        arrays: dict[str, list[tuple[float, np.ndarray]]] = {}
        for record in records:
            if isinstance(record, RunStart):
                self._file.attrs.update(
                    {key: str(value) for key, value in record.origin.as_dict().items()})
                continue
            rows = record_rows(record, self.count)
            if rows:
                self.count += 1
            events.extend((r.index, r.timestamp, r.name, r.trigger, r.item, _text(r.value),
                           _number(r.value)) for r in rows)
            if isinstance(record, DeviceUpdate):
                self._split(record, scalars, arrays)
        self._create(scalars, arrays)
        if events:
            _append(self._file["events"], np.array(events, _EVENT))
        for key, values in scalars.items():
            dataset = self._file[key]
            _append(dataset, _fitted(values, dataset.dtype))
        for key, blocks in arrays.items():
            self._write_blocks(key, blocks)
        if not self._file.swmr_mode:  # after the first write's datasets (it flushes)
            self._file.swmr_mode = True
        else:
            self._file.flush()

    @staticmethod
    def _split(record: DeviceUpdate, scalars: dict[str, list], arrays: dict[str, list]) -> None:
        """Sort a device update's values into scalar rows and array blocks, by dataset."""
        for name, value in record.values.items():
            channels = analog_channels(value)
            if channels is None:
                key = f"devices/{record.device}/{name}"
                scalars.setdefault(key, []).append((record.time, value))
                continue
            for i, samples in enumerate(channels):
                if len(samples):  # an inactive channel's block is empty
                    key = f"streams/{record.device}/{name}/{i}"
                    arrays.setdefault(key, []).append((record.time, samples))

    def _create(self, scalars: Mapping[str, list], arrays: Mapping[str, list]) -> None:
        """Create the datasets first seen in this write (SWMR mode is left to add them)."""
        new_scalars = [key for key in scalars if key not in self._file]
        new_arrays = [key for key in arrays if key not in self._file]
        if not new_scalars and not new_arrays:
            return
        if self._file.swmr_mode:  # SWMR mode allows no new objects: reopen to add them
            self._file.close()
            self._file = h5py.File(self.path, "a", libver="latest")
        for key in new_scalars:
            value = scalars[key][0][1]
            dtype = np.dtype([("time", "f8"), ("value", _scalar_dtype(value))])
            self._file.create_dataset(key, (0,), dtype, maxshape=(None,), chunks=(_TABLE_CHUNK,))
        for key in new_arrays:
            samples = arrays[key][0][1]
            self._file.create_dataset(key, (0,), samples.dtype, maxshape=(None,),
                                      chunks=(_STREAM_CHUNK,))
            self._file.create_dataset(f"{key}_blocks", (0,), _BLOCK, maxshape=(None,),
                                      chunks=(_TABLE_CHUNK,))

    def _write_blocks(self, key: str, blocks: list[tuple[float, np.ndarray]]) -> None:
        """Append a channel's blocks of samples, and their (time, start, count) rows."""
        dataset = self._file[key]
        start = self._stream_sizes.get(key, dataset.shape[0])
        table = []
        for at, samples in blocks:
            table.append((at, start, len(samples)))
            start += len(samples)
        dataset.resize((start,))
        dataset[start - sum(len(s) for _, s in blocks):] = np.concatenate(
            [s for _, s in blocks]).astype(dataset.dtype, copy=False)
        self._stream_sizes[key] = start
        _append(self._file[f"{key}_blocks"], np.array(table, _BLOCK))
