"""What both sides share: executor names, metrics, workload sizes, statistics.

Standard library only: imported by ``moalab_side`` in moalab's environment and
by ``pymoa_side`` in PyMoa's virtual environment.
"""

import json
import math
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = (
    "EXECUTORS", "NONBLOCKING_ROWS", "EXTRA_SUBJECTS", "STAGE_ENGINE_ROWS", "LAB_ROWS", "DEPOSIT_ROWS", "LOOP_ROWS", "HDF5_ROWS", "NWB_ROWS", "ROWS", "METRICS", "Metric", "Sizes", "FULL", "QUICK",
    "percentile", "median", "SideResults",
)

EXECUTORS = ("none", "dummy", "thread", "async_thread", "process", "websocket", "rest")
"""Executors measured on both sides, in table order (``none`` is a direct call)."""

NONBLOCKING_ROWS = ("thread_nb", "async_thread_nb", "process_nb", "websocket_nb", "rest_nb")
"""Measured on the moalab side only: the sequential and concurrent calls of the
executors (the name before ``_nb``) to a method declared ``apply_executor(blocking=False)``,
which the thread executors run in the caller's trio thread and the remote ones' far side
in its trio thread."""

STAGE_ENGINE_ROWS = ("stage_engine", "stage_engine_records", "stage_engine_csv",
                     "stage_engine_slow", "records")
"""The stage engine's timing without records, its gate reaction through a run's
record stream (no sink, ``moalab run``'s sinks, a sink sleeping 50 ms a record), and
the record rate (``timing.py``)."""

LAB_ROWS = ("lab_sqlite", "lab_postgres", "lab_cli")
"""The lab (``lab.py``): the gate tree run as a lab session recording each trial, a
``--dry-run`` session's wall time and sessions created per second, on an SQLite lab
and a PostgreSQL one, and through ``moalab session run`` (a process each)."""

DEPOSIT_ROWS = ("deposits",)
"""A session's deposits (``deposits.py``): ``deposit()``'s return time with a slow
store, the gate's reaction while a recording uploads."""

LOOP_ROWS = ("closed_loop", "closed_loop_c1", "closed_loop_c2", "closed_loop_c3",
             "closed_loop_c4")
"""The closed loop (``closed_loop.py``): the seed workflow's wall time with synthetic
subjects on the stage engine, and each cycle's wall time and fitted parameters (its
subject is ``closed_loop``; a cycle's row is there if the loop ran that many)."""

HDF5_ROWS = ("hdf5_write", "stage_engine_hdf5")
"""The HDF5 log (``hdf5.py``): an ADC stream's write rate, and the gate tree's reaction
with a lab session's file sinks (the CSV and HDF5 logs)."""

NWB_ROWS = ("nwb_export",)
"""The NWB export (``nwb_export.py``): the export time of a synthetic 1-hour session."""

EXTRA_SUBJECTS = (*NONBLOCKING_ROWS, "floor_thread", "floor_tcp", "floor_websocket",
                  "floor_quart_ws", "floor_quart_ws_thread", "floor_quart_rest", "floor_timer",
                  *STAGE_ENGINE_ROWS, *LAB_ROWS, *DEPOSIT_ROWS, LOOP_ROWS[0], "clock",
                  *HDF5_ROWS, *NWB_ROWS)
"""Measured on the moalab side only: the non-blocking calls, the machine's floors, the
stage engine's timing and records, and remote clock alignment (``clock``: ``clock_quality.py``, its rows
go to the executors it goes through and to ``websocket_proxy`` / ``rest_proxy``;
``floor_tcp`` also gives the ``floor_tcp_thread`` row)."""

ROWS = (*EXECUTORS, *NONBLOCKING_ROWS, "websocket_proxy", "rest_proxy", "floor_thread", "floor_tcp",
        "floor_tcp_thread", "floor_websocket", "floor_quart_ws", "floor_quart_ws_thread",
        "floor_quart_rest", "floor_timer", *STAGE_ENGINE_ROWS, *LAB_ROWS, *DEPOSIT_ROWS,
        *LOOP_ROWS, *HDF5_ROWS, *NWB_ROWS)
"""Every row name a result can carry, in table order."""


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    higher_is_better: bool
    label: str


METRICS = {m.name: m for m in (
    Metric("lag_p50_ms", "ms", False, "round-trip lag p50"),
    Metric("lag_p99_ms", "ms", False, "round-trip lag p99"),
    Metric("exec_rate_hz", "Hz", True, "execution rate (sequential calls)"),
    Metric("concurrent_rate_hz", "Hz", True, "concurrent rate (8 callers)"),
    Metric("stream_rate_hz", "Hz", True, "continuous rate (generator items)"),
    Metric("array_stream_mb_s", "MB/s", True, "numpy-array stream"),
    Metric("rig_upload_mb_s", "MB/s", True, "RigStorage upload of a file"),
    Metric("rig_check_ms", "ms", False,
           "check of 1,000 current stimulus files on the rig (100 with --quick)"),
    Metric("call_during_stream_ms", "ms", False, "call during a running stream, p50"),
    Metric("call_during_stream_max_ms", "ms", False, "call during a running stream, max"),
    Metric("delay_error_p50_us", "us", False, "Delay end-time error p50"),
    Metric("delay_error_p99_us", "us", False, "Delay end-time error p99"),
    Metric("gate_latency_p50_us", "us", False, "gate reaction latency p50"),
    Metric("gate_latency_p99_us", "us", False, "gate reaction latency p99"),
    Metric("hdf5_write_mb_s", "MB/s", True, "HDF5 log: an ADC stream's sustained write"),
    Metric("record_rate_hz", "Hz", True, "record rate (to a MemorySink)"),
    Metric("session_wall_s", "s", False, "wall time of a mock --dry-run session"),
    Metric("sessions_hz", "Hz", True, "sessions created per second"),
    Metric("nwb_export_s", "s", False, "NWB export of a synthetic 1-hour session"),
    Metric("deposit_return_ms", "ms", False, "deposit(async_=True) return, 2 s-per-upload store"),
    Metric("loop_wall_s", "s", False, "wall time of the closed loop, all its cycles"),
    Metric("cycle_wall_s", "s", False, "wall time of one cycle of the loop"),
    Metric("fitted_learning_rate", "-", False, "learning rate fitted (true 0.2)"),
    Metric("fitted_decision_noise", "-", False, "decision noise fitted (true 3.0)"),
    Metric("clock_error_p50_us", "us", False, "clock alignment error p50"),
    Metric("clock_error_max_us", "us", False, "clock alignment error max"),
    Metric("clock_goal_us", "us", False, "clock alignment goal (max error)"),
)}


@dataclass(frozen=True)
class Sizes:
    """How much work one run does. Rates and lags run for ``time_cap`` seconds (or
    their count, whichever ends first); streams stop at ``stream_cap`` seconds."""

    time_cap: float
    warmup: int
    lag_samples: int
    min_lag_samples: int
    stream_items: int
    stream_cap: float
    array_items: int
    array_floats: int
    paced_duration: float
    paced_interval: float
    call_gap: float
    paced_streams: int
    delay_trials: int
    delay_range: tuple[float, float]
    gate_trials: int
    gate_rounds: int
    """Each gate row's trials run as this many trees, the rows taking turns."""
    record_trials: int
    """Trials of the record rate's tree (six records each)."""
    lab_trials: int
    """Trials of the mock ``--dry-run`` session whose wall time is measured."""
    lab_cli_sessions: int
    """``moalab session run`` processes (one trial each) for the CLI's sessions/s."""
    rig_upload_bytes: int
    """The file RigStorage uploads to the server (websocket and rest rows)."""
    rig_checked_files: int
    """The stimulus set (files of 4 KiB) whose check on the rig is measured: sent first,
    one file after another (4-5 s for 1,000 here), then checked."""
    deposit_bytes: int
    """The recording deposited again and again while the deposit row's gate runs."""
    loop_cycles: int
    """Cycles of the closed loop (its row), each of ``loop_subjects`` synthetic subjects
    x ``loop_trials`` trials."""
    loop_subjects: int
    loop_trials: int


FULL = Sizes(
    time_cap=1.5, warmup=50, lag_samples=2000, min_lag_samples=100,
    stream_items=5000, stream_cap=4.0, array_items=512, array_floats=16384,
    paced_duration=1.0, paced_interval=0.001, call_gap=0.05, paced_streams=3,
    delay_trials=300, delay_range=(0.001, 0.02), gate_trials=600, gate_rounds=10,
    record_trials=6000, lab_trials=500, lab_cli_sessions=3, rig_upload_bytes=64 << 20,
    rig_checked_files=1000,
    deposit_bytes=200 * 10**6, loop_cycles=4, loop_subjects=40, loop_trials=100,
)
"""One full run: 5,000-item streams, 64 MiB of 128 KiB arrays, three 1 s paced streams,
a 64 MiB upload to a rig, a 200 MB recording deposited, a closed loop of 4 cycles of 40
subjects x 100 trials."""

QUICK = Sizes(
    time_cap=0.25, warmup=10, lag_samples=300, min_lag_samples=50,
    stream_items=1000, stream_cap=1.0, array_items=64, array_floats=16384,
    paced_duration=0.5, paced_interval=0.001, call_gap=0.05, paced_streams=1,
    delay_trials=60, delay_range=(0.001, 0.01), gate_trials=60, gate_rounds=2,
    record_trials=3000, lab_trials=100, lab_cli_sessions=1, rig_upload_bytes=16 << 20,
    rig_checked_files=100,
    deposit_bytes=200 * 10**6, loop_cycles=2, loop_subjects=20, loop_trials=50,
)


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, linearly interpolated."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: list[float]) -> float:
    return percentile(values, 50)


@dataclass
class SideResults:
    """One run of one library: a value per executor and metric, and what was skipped."""

    library: str
    version: str
    values: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=lambda: {
        "python": sys.version.split()[0], "platform": platform.platform(),
        "loadavg_start": os.getloadavg(),
    })

    def record(self, executor: str, metric: str, value: float) -> None:
        if metric not in METRICS:
            raise KeyError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
        self.values.append({"executor": executor, "metric": metric, "value": float(value)})
        unit = METRICS[metric].unit
        print(f"  {self.library:7s} {executor:16s} {metric:26s} {value:12.4g} {unit}",
              file=sys.stderr, flush=True)

    def skip(self, executor: str, reason: str, metric: str = "*") -> None:
        self.skipped.append({"executor": executor, "metric": metric, "reason": reason})
        print(f"  {self.library:7s} {executor:16s} skipped {metric}: {reason}",
              file=sys.stderr, flush=True)

    def error(self, executor: str, metric: str, exc: BaseException) -> None:
        self.errors.append({"executor": executor, "metric": metric,
                            "error": f"{type(exc).__name__}: {exc}"})
        print(f"  {self.library:7s} {executor:16s} FAILED {metric}: {type(exc).__name__}: {exc}",
              file=sys.stderr, flush=True)

    def write(self, path: str | Path) -> None:
        self.info["loadavg_end"] = os.getloadavg()
        Path(path).write_text(json.dumps(asdict(self), indent=1))
