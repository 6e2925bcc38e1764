"""A session at a glance (``moalab session plot``): its trials over time, their
outcomes and response times, its devices' traces, and the subject's training steps.

It reads the lab (the session's row and trials, the subject's sessions) and the
session's logs in its data folder (:mod:`.session_log`: its HDF5 logs when it has them,
else its CSV log).
matplotlib is imported only here, when a plot is made, so the CLI starts without it.
"""

import math
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.errors import InvalidArgument
from ..store.infos import SessionInfo, TrialInfo
from ..store.lab import Lab
from .session_log import SessionLog, read_session_log

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ("OUTCOME_KEYS", "RT_KEYS", "plot_session", "read_traces", "session_figure")

OUTCOME_KEYS = ("correct", "outcome")
"""A trial value read as its outcome, the first present: ``correct`` (true/false) or
``outcome`` (any label)."""
RT_KEYS = ("rt", "response_time", "reaction_time")
"""A trial value read as its response time in seconds, the first present."""
MAX_TRACE_PANELS = 6
"""Devices drawn at most, one panel each (the first by name): the picture stays readable."""
SKIPPED_ITEMS = ("", "timestamp", "remote_timestamp")
"""Device values not drawn: the update's own times."""
MAX_POINTS = 20_000
"""Points drawn at most per trace (an ADC stream is thinned to them: evenly spaced)."""

Trace = tuple[np.ndarray, np.ndarray]


def read_traces(folder: Path) -> dict[str, dict[str, Trace]]:
    """The numeric device values a session logged in ``folder``: ``{device: {item:
    (times, values)}}``, times in seconds from the session's start, sorted. Read by
    :func:`~moalab.export.session_log.read_session_log`: from its HDF5 logs when it has
    them (an array property's channel ``c`` as the item ``<property>[c]``), else from its
    CSV log's ``on_data_update`` rows. Values that are not numbers, and
    :data:`SKIPPED_ITEMS`, are left out; no log, no traces."""
    return _traces(read_session_log(folder))


def _traces(log: SessionLog) -> dict[str, dict[str, Trace]]:
    parts: dict[str, dict[str, tuple[list, list]]] = defaultdict(
        lambda: defaultdict(lambda: ([], [])))

    def add(device: str, item: str, times: Any, values: Any) -> None:
        if item not in SKIPPED_ITEMS:
            trace = parts[device][item]
            trace[0].append(np.asarray(times, float))
            trace[1].append(np.asarray(values, float))

    for series in log.series:
        add(series.device, series.name, series.times, series.values)
    for stream in log.streams:
        step = max(1, len(stream.samples) // MAX_POINTS)
        index = np.arange(0, len(stream.samples), step)
        add(stream.device, f"{stream.name}[{stream.channel}]",
            _sample_times(index, stream.block_times, stream.block_counts),
            stream.samples[::step])
    if not (log.series or log.streams):  # a CSV log: its rows are all there is
        for row in log.rows:
            value = _number(row.value) if row.trigger == "on_data_update" else None
            if value is not None:
                add(row.name, row.item, [row.time], [value])
    traces = {}
    for device, items in parts.items():
        traces[device] = {}
        for item, (times, values) in items.items():
            t, v = np.concatenate(times), np.concatenate(values)
            order = np.argsort(t, kind="stable")
            traces[device][item] = (t[order], v[order])
    return traces


def _sample_times(index: np.ndarray, block_times: np.ndarray,
                  block_counts: np.ndarray) -> np.ndarray:
    """The times of a stream's samples ``index``: interpolated between its blocks' first
    samples (each block's time is its update's), past the last one at the stream's mean
    rate."""
    starts = np.concatenate([[0], np.cumsum(block_counts)[:-1]]).astype(float)
    times = np.asarray(block_times, float)
    if len(times) > 1 and times[-1] > times[0]:
        rate = starts[-1] / (times[-1] - times[0])
        starts = np.append(starts, starts[-1] + block_counts[-1])
        times = np.append(times, times[-1] + block_counts[-1] / rate)
    return np.interp(index, starts, times)


def session_figure(lab: Lab, session_id: str) -> "Figure":
    """The figure of session ``session_id`` of ``lab``: a panel of outcomes over time,
    one of response times (when trials record one of :data:`RT_KEYS`), one per device
    with traces (up to :data:`MAX_TRACE_PANELS`), and one of the subject's training
    steps (a training session). Each panel's title names it ("Trials", "Response
    time", "Device <name>", "Training step"). Raises UnknownName for an unknown
    session, InvalidArgument when matplotlib is not installed."""
    figure_class = _figure_class()
    db = lab.database
    info = db.get_session(session_id)
    trials = db.list_trials(session_id)
    log = read_session_log(lab.session_folder(session_id))
    traces = _traces(log)
    rts = [(_trial_time(trial), _first(trial.values, RT_KEYS)) for trial in trials]
    rts = [(t, rt) for t, rt in rts if isinstance(rt, (int, float)) and not isinstance(rt, bool)]
    devices = sorted(traces)[:MAX_TRACE_PANELS]
    panels = 1 + bool(rts) + len(devices) + (info.kind == "training")
    figure = figure_class(figsize=(10, 2.2 * panels + 0.6), layout="constrained")
    axes = list(figure.subplots(panels, 1, squeeze=False)[:, 0])
    figure.suptitle(f"session {info.id}: {info.subject}, {info.protocol} v{info.version}, "
                    f"{info.kind}, {info.status}, {len(trials)} trials")
    # one time axis, seconds from the session's start: the log's times are, the trials'
    # are on the experiment clock (without a log, the first trial starts the axis)
    t0 = (log.start_time if log.started_at is not None
          else min((_trial_time(t) for t in trials), default=0.0))
    _draw_outcomes(axes.pop(0), trials, t0)
    if rts:
        ax = axes.pop(0)
        ax.plot([t - t0 for t, _ in rts], [rt for _, rt in rts], "o", color="tab:purple")
        ax.set(title="Response time", ylabel="s", xlabel="time (s)")
    for device in devices:
        ax = axes.pop(0)
        for item, (times, values) in sorted(traces[device].items()):
            ax.plot(times, values, label=item)
        ax.set(title=f"Device {device}", xlabel="time (s)")
        ax.legend(loc="upper right", fontsize="small")
    if info.kind == "training":
        _draw_steps(axes.pop(0), info, db.list_sessions(subject=info.subject,
                                                        protocol=info.protocol))
    return figure


def plot_session(lab: Lab, session_id: str, out: Path) -> "Figure":
    """Draw session ``session_id`` (see :func:`session_figure`) into the PNG file ``out``
    and return the figure. Raises InvalidArgument for a name not ending in ``.png``
    or a folder that does not exist, UnknownName for an unknown session."""
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise InvalidArgument(f"session plot {str(out)!r}: not a .png file name; give "
                              "OUT.png")
    if not out.parent.is_dir():
        raise InvalidArgument(f"session plot {str(out)!r}: folder {str(out.parent)!r} does "
                              "not exist; make it first or give another")
    figure = session_figure(lab, session_id)
    figure.savefig(out, dpi=100)
    return figure


def _figure_class() -> type["Figure"]:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise InvalidArgument("session plot: matplotlib is not installed; install it with "
                              "pip install 'moalab[data]'") from None
    return Figure


def _draw_outcomes(ax: "Axes", trials: list[TrialInfo], t0: float) -> None:
    """Each trial as a dot at its time, at the height of its outcome (labels in order
    of first appearance; correct ones green, others red); no outcome: at 0, grey."""
    outcomes = [_first(trial.values, OUTCOME_KEYS) for trial in trials]
    labels = list(dict.fromkeys(str(o) for o in outcomes if o is not None))
    if all(isinstance(o, bool) or o is None for o in outcomes):
        labels = ["False", "True"]
    for trial, outcome in zip(trials, outcomes):
        y = labels.index(str(outcome)) if outcome is not None else 0
        color = ("grey" if outcome is None else "tab:green" if outcome is True
                 else "tab:red" if outcome is False else "tab:blue")
        ax.plot(_trial_time(trial) - t0, y, "o", color=color)
    ax.set_yticks(range(len(labels)), labels)
    ax.set(title="Trials", xlabel="time (s)", ylabel="outcome")
    ax.margins(y=0.3)


def _draw_steps(ax: "Axes", info: SessionInfo, sessions: list[SessionInfo]) -> None:
    """The subject's training sessions of this protocol, in order, by step; this one
    ringed."""
    training = [s for s in sessions if s.kind == "training" and s.step is not None]
    ax.step(range(len(training)), [s.step for s in training], "o-", where="post")
    for number, session in enumerate(training):
        if session.id == info.id:
            ax.plot(number, session.step, "o", markersize=14, fillstyle="none", color="black")
    ax.set(title="Training step", xlabel="training session", ylabel="step")
    ax.locator_params(integer=True)


def _trial_time(trial: TrialInfo) -> float:
    """When a trial was recorded: its end, else its start, else its index."""
    for time in (trial.end, trial.start):
        if time is not None:
            return time
    return float(trial.index)


def _first(values: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((values[key] for key in keys if key in values), None)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
