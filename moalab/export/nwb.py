"""A lab session as an NWB file (pynwb 4): ``moalab export --nwb SESSION_ID OUT.nwb``.

What goes where: the lab's subject as the NWB ``Subject`` (its age at the session from
its date of birth), the session's start as ``session_start_time``, its trials as the
trials table (their recorded values as columns), its stages' runs and trials as the
``stages`` ``TimeIntervals``, each device's logged values as an ``EventsTable`` named
after it, its devices' numeric properties (with their timestamps; ``timestamp``, their
time axis, is no series of its own) and array
properties' channels (ADC samples, with their rate) as ``TimeSeries`` in
``acquisition`` when the session has an HDF5 log, and its deposited recordings as the
``assets`` table of the ``assets`` processing module (their storage keys: large media
stay beside the file, not in it). Times are seconds from the session's start.
"""

import datetime
import json
import math
import uuid
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..core.errors import InvalidArgument
from ..store.infos import SessionInfo, SubjectInfo, TrialInfo
from ..store.lab import Lab
from .session_log import LoggedRow, SessionLog, read_session_log
from .tables import _exported_names

__all__ = ("NWBSummary", "export_nwb")

_STAGE_TRIGGERS = {"on_stage_start", "on_stage_end", "on_trial_start", "on_trial_end"}
_SPECIES = {"rat": "Rattus norvegicus", "mouse": "Mus musculus", "human": "Homo sapiens",
            "zebrafish": "Danio rerio", "macaque": "Macaca mulatta"}
"""NWB asks for the Latin binomial; common names the lab uses are mapped to it."""
_RESERVED = {"id", "start_time", "stop_time", "tags", "timeseries"}


@dataclass(frozen=True)
class NWBSummary:
    """What :func:`export_nwb` wrote: the file and how many of each it holds."""

    path: Path
    trials: int
    stage_intervals: int
    device_events: int
    signals: int
    """TimeSeries: the devices' numeric properties and array channels (HDF5 log only)."""
    assets: int


def export_nwb(lab: Lab, session_id: str, out: Path, overwrite: bool = False,
               anonymous: bool = False) -> NWBSummary:
    """Write session ``session_id`` of ``lab`` to the NWB file ``out``; ``anonymous``
    leaves out the subject's fields marked personal (a personal name becomes the
    numbered one ``moalab export --anonymous`` gives it) and the recordings marked
    personal.

    Raises UnknownName for an unknown session, InvalidArgument if ``out`` exists (unless
    ``overwrite``), the session never started or pynwb is missing. Runs in the calling
    thread."""
    try:
        from pynwb import NWBHDF5IO
    except ImportError:
        raise InvalidArgument("the NWB export needs pynwb: pip install 'moalab[data]'") \
            from None

    out = Path(out)
    if out.exists() and not overwrite:
        raise InvalidArgument(f"NWB file {str(out)!r} already exists: choose a new file "
                              "name, or allow overwriting it (--overwrite)")
    db = lab.database
    session = db.get_session(session_id)
    if session.started is None:
        raise InvalidArgument(f"session {session_id!r} has not started (status "
                              f"{session.status!r}): only a session that ran can be exported")
    log = read_session_log(lab.data_folder / session.data_dir)
    subject = db.get_subject(session.subject)
    if anonymous:
        subject = replace(
            subject, name=_exported_names(db.list_subjects(), True)[subject.name],
            **{"species": None} if "species" in subject.personal else {},
            **{"sex": ""} if "sex" in subject.personal else {})
    nwb = _nwb_file(session, subject, log, anonymous and "dob" in subject.personal)
    trials = db.list_trials(session_id)
    _add_trials(nwb, trials, log)
    intervals = _add_stages(nwb, log.rows)
    events = _add_device_events(nwb, log.rows)
    signals = _add_signals(nwb, log)
    assets = _add_assets(nwb, [asset for asset in db.list_assets(session_id, "deposited")
                               if not (anonymous and asset.personal)])
    with NWBHDF5IO(str(out), "w") as io:
        io.write(nwb)
    return NWBSummary(out, len(trials), intervals, events, signals, assets)


def _nwb_file(session: SessionInfo, subject: SubjectInfo, log: SessionLog,
              hide_dob: bool) -> Any:
    """The file with its subject: its age in days at the session and its date of birth,
    its age in whole weeks only if ``hide_dob``, or an age of at least 0 days (NWB's
    range with no upper bound) when its date of birth is unknown."""
    from pynwb import NWBFile
    from pynwb.file import Subject

    start = log.started_at or session.started
    age, dob = "P0D/", None
    if subject.dob is not None:
        born = datetime.datetime.combine(subject.dob, datetime.time(), datetime.UTC)
        days = max((start - born).days, 0)
        age, dob = (f"P{days // 7}W", None) if hide_dob else (f"P{days}D", born)
    species = _SPECIES.get((subject.species or "").lower(), subject.species)
    sex = subject.sex[:1].upper() if subject.sex[:1].upper() in "FMO" else "U"
    return NWBFile(
        session_description=f"moalab session {session.id}: protocol {session.protocol!r} "
        f"version {session.version} ({session.kind}), args {json.dumps(session.args)}",
        identifier=str(uuid.uuid5(uuid.NAMESPACE_URL, f"moalab:session:{session.id}")),
        session_start_time=start, session_id=session.id,
        subject=Subject(subject_id=subject.name, species=species, sex=sex, age=age,
                        date_of_birth=dob,
                        description=f"lab subject {subject.name!r}"))


def _add_trials(nwb: Any, trials: list[TrialInfo], log: SessionLog) -> None:
    """The trials table, their recorded values as columns, each from its start to its
    end as recorded (see ``Session.record_trial``). A trial with no start recorded
    starts at the one before's end (the first: the session's start); one with no end
    (its run was killed) lasts until the next one's start (the last: the log's end)."""
    if not trials:
        return
    keys = list(dict.fromkeys(key for trial in trials for key in trial.values))
    # a value named like a column NWB defines gets a prefix
    columns = {f"value_{key}" if key in _RESERVED else key:
               _column(key, [trial.values.get(key) for trial in trials]) for key in keys}
    for name, (description, _) in columns.items():
        nwb.add_trial_column(name=name, description=description)
    last = log.rows[-1].time if log.rows else 0.0
    stop = 0.0
    for row, trial in enumerate(trials):
        start = log.seconds(trial.start) if trial.start is not None else stop
        if trial.end is not None:
            stop = log.seconds(trial.end)
        else:
            after = [log.seconds(later.start) for later in trials[row + 1:]
                     if later.start is not None]
            stop = after[0] if after else last
        stop = max(stop, start)
        nwb.add_trial(start_time=start, stop_time=stop,
                      **{name: values[row] for name, (_, values) in columns.items()})


def _column(key: str, values: list[Any]) -> tuple[str, list[Any]]:
    """A trial value's column description and typed cells (NWB wants one type a
    column): booleans, numbers (NaN when missing), else text (JSON for lists and
    objects, empty when missing)."""
    present = [value for value in values if value is not None]
    if present and all(isinstance(value, bool) for value in present) and \
            len(present) == len(values):
        cells: list[Any] = values
    elif present and all(isinstance(value, (int, float)) and not isinstance(value, bool)
                         for value in present):
        cells = [math.nan if value is None else float(value) for value in values]
    else:
        cells = ["" if value is None else value if isinstance(value, str)
                 else json.dumps(value) for value in values]
    return f"the trials' recorded value {key!r}", cells


def _add_stages(nwb: Any, rows: list[LoggedRow]) -> int:
    """The ``stages`` TimeIntervals: each run of a stage and each of its trials, from
    its start to its end (to the log's last row if it never ended)."""
    from pynwb.epoch import TimeIntervals

    ends = {"on_stage_end": "on_stage_start", "on_trial_end": "on_trial_start"}
    open_runs: dict[tuple[str, str], list[float]] = defaultdict(list)
    runs: list[tuple[float, float, str, str]] = []
    for row in rows:
        if row.trigger in ends.values():
            open_runs[row.name, row.trigger].append(row.time)
        elif row.trigger in ends and open_runs[row.name, ends[row.trigger]]:
            start = open_runs[row.name, ends[row.trigger]].pop()
            runs.append((start, row.time, row.name, row.trigger[3:-4]))
    last = rows[-1].time if rows else 0.0
    runs += [(start, last, name, trigger[3:-6]) for (name, trigger), starts
             in open_runs.items() for start in starts]
    if not runs:
        return 0
    stages = TimeIntervals(name="stages", description="each run of a stage of the "
                           "session's protocol and each of its trials")
    stages.add_column(name="stage", description="the stage's name")
    stages.add_column(name="kind", description="'stage': a run of the stage; 'trial': "
                      "one of its trials")
    for start, stop, name, kind in sorted(runs):
        stages.add_interval(start_time=start, stop_time=stop, stage=name, kind=kind)
    nwb.add_time_intervals(stages)
    return len(runs)


def _add_device_events(nwb: Any, rows: list[LoggedRow]) -> int:
    """An EventsTable per device (or other source) of logged values that are not stage
    events: its time, trigger, item and value as logged (text)."""
    from pynwb.event import EventsTable

    by_source: dict[str, list[LoggedRow]] = defaultdict(list)
    for row in rows:
        if row.trigger not in _STAGE_TRIGGERS:
            by_source[row.name].append(row)
    for name, logged in by_source.items():
        table = EventsTable(name=_nwb_name(f"events_{name}"),
                            description=f"the values {name!r} logged, as in the session's log")
        for column, description in (("trigger", ("what logged it: on_data_update, the "
                                     "changed property, or the user event's name")),
                                    ("item", "the logged item (property or key)"),
                                    ("value", "the value as logged (text)")):
            table.add_column(name=column, description=description)
        for row in logged:
            table.add_row(timestamp=row.time, trigger=row.trigger, item=row.item,
                          value=row.value)
        nwb.add_events_table(table)
    return sum(map(len, by_source.values()))


def _add_signals(nwb: Any, log: SessionLog) -> int:
    """A TimeSeries per numeric property but ``timestamp`` (its values' timestamps) and
    per channel of an
    array property: at a rate of its samples over its blocks' times (a block's time
    taken as its first sample's), or, with one block, each sample at its block's time."""
    import numpy as np
    from pynwb import TimeSeries

    # a device's ``timestamp`` is its other properties' time axis: not a series of its own
    series_kept = [series for series in log.series if series.name != "timestamp"]
    for series in series_kept:
        nwb.add_acquisition(TimeSeries(
            name=_nwb_name(f"{series.device}.{series.name}"), data=series.values,
            timestamps=series.times, unit="n/a",
            description=f"property {series.name!r} of device {series.device!r}"))
    for stream in log.streams:
        times, counts = stream.block_times, stream.block_counts
        timing: dict[str, Any] = {"timestamps": np.repeat(times, counts)}
        if len(times) > 1 and times[-1] > times[0]:
            timing = {"starting_time": float(times[0]),
                      "rate": float(counts[:-1].sum() / (times[-1] - times[0]))}
        nwb.add_acquisition(TimeSeries(
            name=_nwb_name(f"{stream.device}.{stream.name}.{stream.channel}"),
            data=stream.samples, unit="n/a", **timing,
            description=f"channel {stream.channel} of array property {stream.name!r} of "
            f"device {stream.device!r}"))
    return len(series_kept) + len(log.streams)


def _nwb_name(name: str) -> str:
    """``name`` as an NWB object's name (no '/')."""
    return name.replace("/", "_")


def _add_assets(nwb: Any, assets: list[Any]) -> int:
    """The ``assets`` table of the ``assets`` processing module: each deposited
    recording's storage key, name, extension, size and checksum."""
    if not assets:
        return 0
    from hdmf.common import DynamicTable

    table = DynamicTable(name="assets", description="the session's recordings, stored "
                         "beside this file under their keys in the lab's asset storage")
    for column, description in (("local_key", "the recording's name in its session"),
                                ("key", "its key (path) in the lab's asset storage"),
                                ("extension", "its file extension"),
                                ("size", "its size in bytes"),
                                ("sha256", "its SHA-256 checksum (hex)")):
        table.add_column(name=column, description=description)
    for asset in assets:
        table.add_row(local_key=asset.local_key or "", key=asset.key or "",
                      extension=asset.extension, size=asset.size or 0,
                      sha256=asset.sha256 or "")
    module = nwb.create_processing_module(name="assets", description="the session's "
                                          "recordings as external files")
    module.add(table)
    return len(assets)
