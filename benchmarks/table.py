"""The summary as a table a person reads: the quick one (a row per executor), the full
one (every row and metric), the goals, and a legend for every name shown."""

import math
import re
from typing import Any

from .common import (
    DEPOSIT_ROWS,
    EXECUTORS,
    FULL,
    LAB_ROWS,
    LOOP_ROWS,
    METRICS,
    NWB_ROWS,
    QUICK,
    ROWS,
    STAGE_ENGINE_ROWS,
)

__all__ = ("NAMES", "SPREAD_FLAG", "fmt", "format_table", "spread_is_large")

SPREAD_FLAG = 0.2
"""A figure whose runs spread over more than this fraction of their median is flagged."""

NAMES = {
    "none": "a direct call, no executor",
    "dummy": "DummyRemoteExecutor: the whole remote protocol, in-process",
    "thread": "ThreadExecutor: a worker thread",
    "async_thread": "AsyncThreadExecutor: a trio loop in a worker thread (async methods)",
    "process": "ProcessExecutor: a child process, over a local socket",
    "websocket": "WebSocketExecutor to a moalab-server on 127.0.0.1",
    "rest": "RestExecutor to a moalab-server on 127.0.0.1",
    "thread_nb": "thread, calling a method declared apply_executor(blocking=False) "
                 "(run in the caller's trio thread)",
    "async_thread_nb": "async_thread, calling that method (run in the caller's trio thread)",
    "process_nb": "process, calling that method (run in the child's trio thread)",
    "websocket_nb": "websocket, calling that method (run in the server's trio thread)",
    "rest_nb": "rest, calling that method (run in the server's trio thread)",
    "websocket_proxy": "WebSocketExecutor through a proxy adding jitter (clock alignment)",
    "rest_proxy": "RestExecutor through that proxy (clock alignment)",
    "floor_thread": "floor: a bare hand-off to a worker thread and back (no moalab code)",
    "floor_tcp": "floor: a bare trio TCP echo between two processes",
    "floor_tcp_thread": "floor: that TCP echo with a worker-thread hand-off "
                        "(the least a process call costs)",
    "floor_websocket": "floor: a bare trio-websocket echo between two processes",
    "floor_quart_ws": "floor: a bare Quart WebSocket route on hypercorn (moalab-server's stack), "
                      "WebSocketExecutor's connection",
    "floor_quart_ws_thread": "floor: that route with a worker-thread hand-off "
                             "(the least a moalab-server call costs)",
    "floor_quart_rest": "floor: a bare Quart REST route on hypercorn, RestExecutor's HTTP client",
    "floor_timer": "floor: bare sleeps and task wake-ups, without the stage engine",
    "stage_engine": "moalab's stage engine: Delay trials and a gate's reaction to a device "
                    "(root.run_stage(), no records)",
    "stage_engine_records": "that gate through Run.execute: every stage and the device "
                            "recorded, no sink",
    "stage_engine_csv": "the same with moalab run's sinks: a SimpleCSVLogger (a temp file) "
                        "and a TreeSink",
    "stage_engine_slow": "the same with one sink sleeping 50 ms on every record "
                              "(in its own thread)",
    "records": "Run.execute of a tree of zero Delays to a MemorySink: records/s, drain included",
    "lab_sqlite": "a lab on SQLite: the gate tree as a session recording each trial "
                  "(ProtocolRunner.run_session), a mock session, create_session",
    "lab_postgres": "the same on a lab whose database is PostgreSQL",
    "lab_cli": "moalab session run ... --dry-run as a process (its start and imports, "
               "about 2 s, dominate)",
    "hdf5_write": "HDF5Logger: 400 ADC blocks of 8 channels x 4,096 float64 samples (105 MB) "
                  "consumed as fast as it takes them, to the file closed",
    "stage_engine_hdf5": "the gate tree through Run.execute with a lab session's file sinks: "
                         "a SimpleCSVLogger, an HDF5Logger and a TreeSink",
    "nwb_export": "moalab.export.export_nwb of a synthetic 1-hour session (720 trials, "
                  "a 1 kHz ADC, a lick sensor) from its lab rows and HDF5 log",
    "deposits": "a session's deposits: deposit(async_=True) with a store taking 2 s per "
                "upload; the gate tree (as stage_engine) while a 200 MB recording uploads",
    "closed_loop": (f"examples/closed_loop_bandit.py checkpointed (moalab loop run): "
                    f"{FULL.loop_cycles} cycles of {FULL.loop_subjects} synthetic subjects x "
                    f"{FULL.loop_trials} trials on the stage engine in virtual time, two "
                    f"theorists, model disagreement ({QUICK.loop_cycles} x "
                    f"{QUICK.loop_subjects} x {QUICK.loop_trials} with --quick)"),
    **{row: f"the loop's cycle {row[-1]}: its wall time, the parameters fitted to the data "
            "so far (true: learning rate 0.2, decision noise 3.0)" for row in LOOP_ROWS[1:]},
}
"""What each row name measures (benchmarks/README.md says how)."""

QUICK_COLUMNS = (
    ("exec_rate_hz", "calls/s", "sequential calls of a sync method returning x + 1"),
    ("concurrent_rate_hz", "8 callers/s", "the same, 8 tasks calling at once"),
    ("lag_p50_ms", "lag ms", "a call's round trip, p50"),
    ("stream_rate_hz", "stream items/s", "small ints from a generator method"),
    ("array_stream_mb_s", "arrays MB/s", "128 KiB numpy arrays from a generator method"),
    ("rig_upload_mb_s", "rig upload MB/s", "RigStorage.put of a 16 MiB file to the server"),
    ("rig_check_ms", "rig check ms", "a sync of 1,000 stimulus files the rig holds (goal 1 s)"),
    ("call_during_stream_ms", "call in stream ms", "a call's latency while a stream runs, p50"),
    ("clock_error_max_us", "clock error us", "remote clock alignment error, max (goal 50 us)"),
)
"""The quick table's columns: (metric, heading, what it measures)."""

QUICK_TIMING = (
    ("delay_error_p50_us", "delay p50 us", "a Delay's end-time error, p50"),
    ("delay_error_p99_us", "delay p99 us", "the same, p99"),
    ("gate_latency_p50_us", "gate p50 us", "a gate's reaction to a device update, p50"),
    ("gate_latency_p99_us", "gate p99 us", "the same, p99"),
    ("record_rate_hz", "records/s", "records a run hands to its sink per second"),
)
"""The stage engine's columns in the quick table (a row per STAGE_ENGINE_ROWS name)."""

QUICK_LAB = (
    *QUICK_TIMING[2:4],
    ("session_wall_s", "session s", (f"wall time of a mock --dry-run session "
                                     f"({FULL.lab_trials} trials of 1 s; {QUICK.lab_trials} "
                                     "with --quick)")),
    ("sessions_hz", "sessions/s", "sessions created per second"),
)
"""The lab's columns in the quick table (a row per LAB_ROWS name)."""

QUICK_DEPOSITS = (
    *QUICK_TIMING[2:4],
    ("deposit_return_ms", "deposit ms", "the slowest of 20 deposit(async_=True) calls, with "
                                        "a store taking 2 s per upload"),
)
"""The deposits' columns in the quick table (gate: while a 200 MB recording uploads)."""

QUICK_LOOP = (
    ("loop_wall_s", "loop s", "wall time of the closed loop, all its cycles (goal 60 s)"),
    ("cycle_wall_s", "cycle s", "wall time of one cycle"),
    ("fitted_learning_rate", "lr fitted", "learning rate fitted to the data so far (true 0.2)"),
    ("fitted_decision_noise", "noise fitted", "decision noise fitted (true 3.0)"),
)
"""The closed loop's columns in the quick table (a row for the loop, one per cycle)."""

QUICK_NWB = (("nwb_export_s", "export s", "NWB export of a synthetic 1-hour session"),)
"""The NWB export's column in the quick table."""

QUICK_BLOCKS = (("stage engine", STAGE_ENGINE_ROWS, QUICK_TIMING), ("lab", LAB_ROWS, QUICK_LAB),
                ("deposits", DEPOSIT_ROWS, QUICK_DEPOSITS), ("closed loop", LOOP_ROWS, QUICK_LOOP),
                ("NWB export", NWB_ROWS, QUICK_NWB))
"""The quick table's blocks under the executors: (title, rows, columns)."""


def fmt(value: float | None) -> str:
    """A figure with three or four significant digits, thousands separated."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _ratio(value: float) -> str:
    return f"{value:.2f}x" if value >= 0.01 else f"{value:.1e}x"


def _floor_share(metric: str, value: float) -> str:
    """A figure over its floor's (a floor goal's value or threshold): a percentage of the
    floor for a rate, a multiple of it for a latency."""
    return f"{value:.0%}" if METRICS[metric].higher_is_better else _ratio(value)


def spread_is_large(row: dict[str, Any]) -> bool:
    """Whether a result's runs spread (max - min) over more than :data:`SPREAD_FLAG`
    of its median: a figure to measure again before trusting it."""
    median = row["median"]
    return row["n"] > 1 and median > 0 and (row["max"] - row["min"]) > SPREAD_FLAG * median


class _Results:
    """The summary's results by (library, executor, metric), and how to show one."""

    def __init__(self, summary: dict[str, Any]) -> None:
        self.rows = {(r["library"], r["executor"], r["metric"]): r for r in summary["results"]}
        self.skipped = {(s["library"], s["executor"], s["metric"]) for s in summary["skipped"]}
        self.compared = bool(summary["meta"].get("compare"))
        self.flagged = False  # a "!" was shown
        self.ranges = False  # a "[min-max]" was shown

    def has(self, executor: str, metric: str) -> bool:
        return any((lib, executor, metric) in self.rows for lib in ("moalab", "pymoa"))

    def cell(self, library: str, executor: str, metric: str, spread: bool) -> str:
        """The median (with ``[min-max]`` when ``spread`` and more than one run), ``!``
        when the runs spread widely; ``n/a`` when skipped, ``-`` when not measured."""
        row = self.rows.get((library, executor, metric))
        if row is None:
            skipped = {(library, executor, metric), (library, executor, "*")} & self.skipped
            return "n/a" if skipped else "-"
        text = fmt(row["median"])
        if spread and row["n"] > 1:
            self.ranges = True
            text += f" [{fmt(row['min'])}-{fmt(row['max'])}]"
        if spread_is_large(row):
            self.flagged = True
            text += " !"
        return text

    def ratio(self, executor: str, metric: str) -> str:
        """moalab/PyMoa of the medians, or ''."""
        ours = self.rows.get(("moalab", executor, metric))
        theirs = self.rows.get(("pymoa", executor, metric))
        if ours and theirs and theirs["median"]:
            return _ratio(ours["median"] / theirs["median"])
        return ""


def _quick_lines(results: _Results) -> list[str]:
    """A row per executor, a column per workload; then the stage engine."""
    columns = _quick_columns(results)
    width = 19 if results.compared else 11
    executors = [e for e in EXECUTORS if any(results.has(e, m) for m, _ in columns)]
    lines = []
    if executors:  # no header of an empty table (as with --only stage_engine)
        lines.append(f"{'executor':12s}"
                     + "".join(f"  {h:>{max(width, len(h))}s}" for _, h in columns))
        lines.append("-" * len(lines[0]))
    for executor in executors:
        cells = []
        for metric, heading in columns:
            text = results.cell("moalab", executor, metric, spread=False)
            ratio = results.ratio(executor, metric)
            if ratio:
                text += f" ({ratio})"
            cells.append(f"  {text:>{max(width, len(heading))}s}")
        lines.append(f"{executor:12s}" + "".join(cells))
    for block in QUICK_BLOCKS:
        lines += _quick_block_lines(results, *block)
    return lines[1:] if lines[:1] == [""] else lines  # a block's gap after no table


def _quick_columns(results: _Results) -> list[tuple[str, str]]:
    """The executor table's columns measured: (metric, heading)."""
    return [(m, h) for m, h, _ in QUICK_COLUMNS if any(results.has(e, m) for e in EXECUTORS)]


def _quick_block_lines(results: _Results, title: str, names: tuple[str, ...],
                       quick_columns: tuple[tuple[str, str, str], ...]) -> list[str]:
    """A row per name of ``names`` measured, a column per figure of ``quick_columns``."""
    rows = [r for r in names if any(results.has(r, m) for m, _, _ in quick_columns)]
    columns = [(m, h) for m, h, _ in quick_columns if any(results.has(r, m) for r in rows)]
    if not rows:
        return []
    lines = ["", f"{title:24s}" + "".join(f"  {h:>12s}" for _, h in columns)]
    lines.append("-" * len(lines[-1]))
    for row in rows:
        lines.append(f"{row:24s}" + "".join(
            f"  {results.cell('moalab', row, metric, spread=False):>12s}" for metric, _ in columns))
    return lines


def _full_lines(results: _Results) -> list[str]:
    """A row per name and metric, every figure measured."""
    header = f"{'row':21s} {'metric':38s} {'moalab':>34s}"
    if results.compared:
        header += f" {'PyMoa':>34s} {'moalab/PyMoa':>13s}"
    lines = [header, "-" * len(header)]
    for executor in ROWS:
        first = True
        for metric in METRICS:
            if not results.has(executor, metric):
                continue
            m = METRICS[metric]
            label = f"{m.label} ({m.unit})"
            line = (f"{executor if first else '':21s} {label:38s} "
                    f"{results.cell('moalab', executor, metric, spread=True):>34s}")
            if results.compared:
                line += (f" {results.cell('pymoa', executor, metric, spread=True):>34s}"
                         f" {results.ratio(executor, metric):>13s}")
            lines.append(line)
            first = False
    return lines


def _goal_lines(summary: dict[str, Any], compared: bool) -> list[str]:
    """The goals measured, one line per target with the value of each row it applies to;
    ratio goals only when PyMoa was compared."""
    shown = [g for g in summary["goals"] if compared or g["kind"] != "ratio"]
    targets: dict[str, list[dict[str, Any]]] = {}
    for goal in shown:  # "label, row: target" -> "label: target", rows listed after it
        targets.setdefault(goal["goal"].replace(f", {goal['executor']}: ", ": ", 1), []
                           ).append(goal)
    lines = ["", "Goals (met, MISSED, or - when not measured):"]
    for target, goals in targets.items():
        met = [g["met"] for g in goals]
        status = "MISSED" if False in met else "met   " if True in met else "  -   "
        own_threshold = len({g["threshold"] for g in goals}) > 1
        values = []
        for goal in goals:
            value = goal["value"]
            text = ("-" if value is None else
                    _ratio(value) if goal["kind"] == "ratio" else
                    _floor_share(goal["metric"], value) if goal["kind"] == "floor" else fmt(value))
            if goal["met"] is False and met.count(False) < len(goals):
                text += " MISSED"
            notes = [f"goal {fmt(goal['threshold'])}"] if own_threshold else []
            notes += [goal["note"]] if goal["note"] else []
            if notes:
                text += f" ({'; '.join(notes)})"
            values.append(f"{goal['executor']} {text}")
        lines.append(f"  [{status}] {target}: {', '.join(values)}")
    hidden = len(summary["goals"]) - len(shown)
    if hidden:
        lines.append(f"  --compare pymoa adds {hidden} goals: moalab's rates as multiples of "
                     "PyMoa's, measured on this machine in the same invocation")
    return lines


def _legend(summary: dict[str, Any], results: _Results, quick: bool) -> list[str]:
    """A line for every row name, column and mark the table shows."""
    shown = {executor for _, executor, _ in results.rows}
    if quick:
        shown &= {*EXECUTORS, *(row for _, rows, _ in QUICK_BLOCKS for row in rows)}
    for goal in summary["goals"]:
        if results.compared or goal["kind"] != "ratio":
            shown.add(goal["executor"])
            shown.update(re.findall(r"\w+", goal["note"]))  # the floors a note names
    lines = ["", "Legend:"]
    lines += [f"  {name:21s} {NAMES[name]}" for name in ROWS if name in shown]
    if quick:
        shown_columns = dict(_quick_columns(results))
        lines += [f"  {heading:21s} {meaning}" for metric, heading, meaning in QUICK_COLUMNS
                  if metric in shown_columns]
        columns = {heading: meaning for _, names, quick_columns in QUICK_BLOCKS
                   for metric, heading, meaning in quick_columns
                   if any(results.has(row, metric) for row in names)}
        lines += [f"  {heading:21s} {meaning}" for heading, meaning in columns.items()]
    floors = {goal["executor"]: goal["note"] for goal in summary["goals"]
              if goal["kind"] == "floor"}
    if floors:
        lines.append(f"  {'its floor':21s} a floor goal's floor, named after each figure ("
                     + ", ".join(f"{row} {floor}" for row, floor in floors.items())
                     + "): a rate is shown as its share of the floor's rate, a latency as a "
                     "multiple of the floor's")
    if results.compared:
        lines.append(f"  {'(1.22x)' if quick else 'moalab/PyMoa':21s} moalab/PyMoa of the "
                     "medians: above 1 is better for rates, below 1 for latencies")
    if results.ranges:
        lines.append("  [min-max]             over the runs")
    lines += ["  -                     not measured for this row",
              "  n/a                   skipped: the reason is under Not measured"]
    if results.flagged:
        lines.append(f"  !                     the runs spread over more than "
                     f"{SPREAD_FLAG:.0%} of the median: noisy, measure again")
    return lines


def format_table(summary: dict[str, Any]) -> str:
    """The summary as plain text: the table (quick or full, as the summary's mode),
    what was not measured, the goals, and a legend of the names shown."""
    meta = summary["meta"]
    quick = meta.get("mode") == "quick"
    results = _Results(summary)
    runs = meta.get("runs", 1)
    load = meta.get("load", {}).get("processes", 0)
    title = (f"moalab bench{' --quick' if quick else ''}: medians over {runs} run(s)"
             + (" (moalab and PyMoa alternating)" if results.compared else "")
             + (f", with {load} CPU-bound process(es) beside it (--load {load})" if load else ""))
    lines = [title, ""]
    lines += _quick_lines(results) if quick else _full_lines(results)
    reasons = dict.fromkeys((s["library"], s["executor"], s["reason"]) for s in summary["skipped"])
    if reasons:
        lines += ["", "Not measured:"]
        lines += [f"  {library} {executor}: {reason}" for library, executor, reason in reasons]
    if summary["errors"]:
        lines += ["", "Failed:"]
        lines += [f"  {e['library']} {e['executor']} {e['metric']}: {e['error']}"
                  for e in summary["errors"]]
    lines += _goal_lines(summary, results.compared)
    lines += _legend(summary, results, quick)
    if quick:
        lines += ["", "Without --quick: 3 runs of larger workloads, [min-max] over them, and "
                  "the floors under each executor (benchmarks/README.md)."]
    return "\n".join(lines)
