"""The HDF5 log's rows (issue 18):

- ``hdf5_write``, ``hdf5_write_mb_s``: an ADC stream's samples written by an
  :class:`~moalab.log.HDF5Logger` per second of wall time: :data:`BLOCKS` device
  updates of :data:`CHANNELS` channels x :data:`SAMPLES` float64 samples (as an
  ``ADCPort``'s ``data``) given to ``consume`` as fast as it takes them, to the file
  closed (its last flush included), in a temporary folder.
- ``stage_engine_hdf5``: the gate tree's reaction (``gate_latency_p50_us`` / ``_p99_us``)
  run through ``Run.execute`` with a lab session's file sinks: the CSV log and the HDF5
  log (and a TreeSink, as ``stage_engine_csv``: the row it is compared with, the two
  taking turns tree by tree).
"""

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import trio

from moalab.core.records import DeviceUpdate
from moalab.log import TreeSink
from moalab.log.loggers import SimpleCSVLogger

from .common import SideResults
from .timing import GateRunner, GateTree, run_gate_tree

__all__ = ("HDF5_GATE_ROW", "HDF5_WRITE_ROW", "COMPARED_WITH", "hdf5_gates", "measure_hdf5_write")

HDF5_WRITE_ROW = "hdf5_write"
HDF5_GATE_ROW = "stage_engine_hdf5"
COMPARED_WITH = "stage_engine_csv"
"""The gate row the HDF5 gate row is compared with (the same sinks, less the HDF5 log)."""
CHANNELS = 8
SAMPLES = 4096
BLOCKS = 400
"""400 blocks of 8 x 4096 float64 samples: 105 MB."""


def _session_sinks(tree: GateTree, folder: Path) -> list[Any]:
    from moalab.log.hdf5 import HDF5Logger  # the data extra: only when the row runs

    files = len(list(folder.iterdir()))
    return [SimpleCSVLogger(folder / f"run-{files}.csv"), HDF5Logger(folder / f"run-{files}.h5"),
            TreeSink()]


def hdf5_gates(subjects: list[str]) -> dict[str, GateRunner]:
    """The HDF5 gate row's runner, when it is among ``subjects``."""
    if HDF5_GATE_ROW not in subjects:
        return {}
    return {HDF5_GATE_ROW: lambda tree, folder: run_gate_tree(tree, _session_sinks(tree, folder))}


def _write_stream(path: Path) -> float:
    """Seconds :data:`BLOCKS` ADC blocks take to reach the file ``path``, closed."""
    from moalab.log.hdf5 import HDF5Logger

    rng = np.random.default_rng(0)
    block = [rng.standard_normal(SAMPLES) for _ in range(CHANNELS)]
    log = HDF5Logger(path)
    start = time.perf_counter()
    for seq in range(1, BLOCKS + 1):
        log.consume(DeviceUpdate(run_id="bench", seq=seq, time=float(seq), device="adc",
                                 values={"data": block, "ts_idx": SAMPLES - 1}))
    log.close()
    return time.perf_counter() - start


async def measure_hdf5_write(subjects: list[str], results: SideResults) -> None:
    """Record the ``hdf5_write`` row when it is among ``subjects`` (an error of the row
    if it cannot be measured, e.g. without h5py)."""
    if HDF5_WRITE_ROW not in subjects:
        return
    try:
        with tempfile.TemporaryDirectory(prefix="moalab-bench-hdf5-") as folder:
            elapsed = await trio.to_thread.run_sync(_write_stream, Path(folder) / "adc.h5")
    except Exception as exc:
        results.error(HDF5_WRITE_ROW, "*", exc)
        return
    megabytes = BLOCKS * CHANNELS * SAMPLES * 8 / 1e6
    results.record(HDF5_WRITE_ROW, "hdf5_write_mb_s", megabytes / elapsed)
