"""A session at a glance (``moalab session plot``): its trials over time, their
outcomes and response times, its devices' traces, and the subject's training steps.

It reads the lab (the session's row and trials, the subject's sessions) and the
session's log in its data folder. matplotlib is imported only here, when a plot is
made, so the CLI starts without it.
"""

import csv
import math
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import InvalidArgument
from ..store.infos import SessionInfo, TrialInfo
from ..store.lab import Lab

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
LOG_NAME = "log.csv"
"""The session's CSV log in its data folder (moalab.protocol.runner.LOG_NAME: the
protocol layer is beside this one, so the name is not imported from it)."""

Trace = tuple[list[float], list[float]]


def read_traces(folder: Path) -> dict[str, dict[str, Trace]]:
    """The numeric device values in the session log of ``folder``: ``{device: {item:
    (times, values)}}`` from its ``on_data_update`` rows, times on the experiment clock.
    Values that are not numbers (and the ``timestamp`` item) are left out; no log, no
    traces."""
    traces: dict[str, dict[str, Trace]] = defaultdict(lambda: defaultdict(lambda: ([], [])))
    path = folder / LOG_NAME
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as file:
        for row in csv.DictReader(line for line in file if not line.startswith("#")):
            if row["trigger"] != "on_data_update" or row["item"] in ("", "timestamp"):
                continue
            value = _number(row["value"])
            if value is not None:
                times, values = traces[row["name"]][row["item"]]
                times.append(float(row["timestamp"]))
                values.append(value)
    return {device: dict(items) for device, items in traces.items()}


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
    traces = read_traces(lab.session_folder(session_id))
    rts = [(_trial_time(trial), _first(trial.values, RT_KEYS)) for trial in trials]
    rts = [(t, rt) for t, rt in rts if isinstance(rt, (int, float)) and not isinstance(rt, bool)]
    devices = sorted(traces)[:MAX_TRACE_PANELS]
    panels = 1 + bool(rts) + len(devices) + (info.kind == "training")
    figure = figure_class(figsize=(10, 2.2 * panels + 0.6), layout="constrained")
    axes = list(figure.subplots(panels, 1, squeeze=False)[:, 0])
    figure.suptitle(f"session {info.id}: {info.subject}, {info.protocol} v{info.version}, "
                    f"{info.kind}, {info.status}, {len(trials)} trials")
    # trials, response times and traces share one time axis: the experiment clock
    t0 = min([_trial_time(t) for t in trials] + [times[0] for items in traces.values()
                                                   for times, _ in items.values()], default=0.0)
    _draw_outcomes(axes.pop(0), trials, t0)
    if rts:
        ax = axes.pop(0)
        ax.plot([t - t0 for t, _ in rts], [rt for _, rt in rts], "o", color="tab:purple")
        ax.set(title="Response time", ylabel="s", xlabel="time (s)")
    for device in devices:
        ax = axes.pop(0)
        for item, (times, values) in sorted(traces[device].items()):
            ax.plot([t - t0 for t in times], values, label=item)
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
